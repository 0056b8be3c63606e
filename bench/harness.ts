import pg from "pg";
import * as ops from "../admin/ops.ts";
import { commonEnv, parseConfig } from "../core/config.ts";
import { createPrisma, type PrismaClient } from "../core/db.ts";
import { withDatabase } from "../prisma/engine.ts";
import { migrate } from "../prisma/migrate.ts";
import { spawnService, type Service } from "../scripts/service.ts";

// What every benchmark needs: a database of its own, a user with a write token, the
// service's real processes, and clean-up however the run ends.

export interface Bench {
  prisma: PrismaClient;
  dbUrl: string;
  token: string;
  api: string;
  services: Record<string, Service>;
  start(name: string, entry: string, env?: Record<string, string>, ready?: RegExp): Promise<Service>;
}

export function stats(ms: number[]) {
  const s = [...ms].sort((a, b) => a - b);
  const q = (p: number) => s[Math.min(s.length - 1, Math.floor(p * s.length))]!;
  const r = (v: number) => +v.toFixed(2);
  return { n: s.length, min: r(s[0]!), p50: r(q(0.5)), p90: r(q(0.9)), p99: r(q(0.99)), max: r(s[s.length - 1]!) };
}

export const wallClock = () => performance.timeOrigin + performance.now();

export async function withBench(label: string, fn: (b: Bench) => Promise<void>): Promise<void> {
  const cfg = parseConfig(commonEnv);
  const dbName = `actions_${label}_${Date.now().toString(36)}`;
  const dbUrl = withDatabase(cfg.DATABASE_URL, dbName);
  await migrate(dbUrl);
  const prisma = createPrisma(dbUrl, 4);
  const services: Record<string, Service> = {};
  const base = { DATABASE_URL: dbUrl, REDIS_URL: cfg.REDIS_URL, QUEUE_PREFIX: dbName, SERVICE_LOG_LEVEL: "warn", RUNNER_REGISTRATION_TOKEN: "bench-registration-secret-0123456789" };
  try {
    await ops.createUser(prisma, { login: "bench" });
    await ops.createRepo(prisma, { owner: "bench", name: "repo" });
    const { token } = await ops.createToken(prisma, { user: "bench", scopes: ["repo:write"] });
    const start = async (name: string, entry: string, env: Record<string, string> = {}, ready = /ready|listening/) => {
      const s = spawnService(entry, { ...base, ...env });
      services[name] = s;
      await s.waitForLine(ready, 60_000);
      return s;
    };
    const apiProc = await start("api", "api/server.ts", { PORT: "0", HOST: "127.0.0.1", RATE_LIMIT_PER_HOUR: "100000000", LOG_LEVEL: "info" }, /api listening/);
    const api = `http://127.0.0.1:${/"port":(\d+)/.exec(apiProc.output())![1]}`;
    await start("worker", "worker/main.ts", {}, /worker ready/);
    await fn({ prisma, dbUrl, token, api, services, start });
  } finally {
    for (const s of Object.values(services).reverse()) await s.kill("SIGTERM");
    if (process.env.BENCH_LOG_DIR) {
      const { writeFileSync } = await import("node:fs");
      for (const [n, s] of Object.entries(services)) writeFileSync(`${process.env.BENCH_LOG_DIR}/${n}.log`, s.output());
    }
    await prisma.$disconnect();
    const c = new pg.Client({ connectionString: withDatabase(cfg.DATABASE_URL, "postgres") });
    await c.connect();
    await c.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(dbName)} WITH (FORCE)`);
    await c.end();
  }
}
