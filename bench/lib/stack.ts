import pg from "pg";
import * as ops from "../../admin/ops.ts";
import { commonEnv, parseConfig } from "../../infra/config.ts";
import { createPrisma, type PrismaClient } from "../../infra/db.ts";
import { withDatabase } from "../../prisma/engine.ts";
import { migrate } from "../../prisma/migrate.ts";
import { spawnService, type Service } from "../../scripts/service.ts";
import { dropQueueKeys } from "../../scripts/cleanup.ts";

// A benchmark's own copy of the system: a fresh database and queue prefix, a user with a
// write token on `bench/repo`, and the real api/worker (and runner-sim) processes, started
// as `npm run start:*` starts them. Everything is torn down however the scenario ends.

export interface StackOptions {
  apis?: number;
  workers?: number;
  /** Extra environment for every process. */
  env?: Record<string, string>;
  workerEnv?: Record<string, string>;
  apiEnv?: Record<string, string>;
  /** Node flags for every process (e.g. --cpu-prof). */
  nodeArgs?: string[];
}

export interface Stack {
  prisma: PrismaClient;
  dbUrl: string;
  dbName: string;
  redisUrl: string;
  prefix: string;
  token: string;
  repoId: bigint;
  userId: bigint;
  /** One base URL per API process. */
  apis: string[];
  services: Map<string, Service>;
  start(name: string, entry: string, env?: Record<string, string>, ready?: RegExp): Promise<Service>;
  stop(name: string): Promise<void>;
  /** Starts one more API process (api-<n>) and appends its base URL to `apis`. */
  addApi(): Promise<string>;
}

export const benchEnv = () => parseConfig(commonEnv);

/** BENCH_NODE_ARGS: options for every service the bench starts (`--cpu-prof --cpu-prof-dir=/tmp/prof` to see what a scenario spends); Node refuses --cpu-prof in NODE_OPTIONS. */
const extraNodeArgs = (): string[] => (process.env.BENCH_NODE_ARGS ?? "").split(" ").filter(Boolean);

export async function withStack<T>(label: string, o: StackOptions, fn: (s: Stack) => Promise<T>): Promise<T> {
  const cfg = benchEnv();
  const dbName = `actions_bench_${label}_${Date.now().toString(36)}`.replace(/[^a-z0-9_]/g, "_");
  const dbUrl = withDatabase(cfg.DATABASE_URL, dbName);
  await migrate(dbUrl);
  const prisma = createPrisma(dbUrl, 4);
  const services = new Map<string, Service>();
  const base = {
    DATABASE_URL: dbUrl, REDIS_URL: cfg.REDIS_URL, QUEUE_PREFIX: dbName, SERVICE_LOG_LEVEL: "warn", WORKER_PORT: "0",
    RUNNER_REGISTRATION_TOKEN: "bench-registration-secret-0123456789", RATE_LIMIT_PER_HOUR: "1000000000", RERUN_LIMIT: "1000000",
    ...o.env,
  };
  const start = async (name: string, entry: string, env: Record<string, string> = {}, ready = /ready|listening/) => {
    const s = spawnService(entry, { ...base, ...env }, o.nodeArgs ?? extraNodeArgs());
    services.set(name, s);
    await s.waitForLine(ready, 60_000);
    return s;
  };
  // If the bench process dies (a crash, a closed stdout), its services must not live on
  // and load the machine for whoever measures next.
  const killAll = () => {
    for (const s of services.values()) s.proc.kill("SIGKILL");
  };
  process.on("exit", killAll);
  try {
    const user = await ops.createUser(prisma, { login: "bench" });
    const repo = await ops.createRepo(prisma, { owner: "bench", name: "repo" });
    const { token } = await ops.createToken(prisma, { user: "bench", scopes: ["repo:write"] });
    const apis: string[] = [];
    const startApi = async (i: number) => {
      const s = await start(`api-${i + 1}`, "api/server.ts", { PORT: "0", HOST: "127.0.0.1", LOG_LEVEL: "info", ...o.apiEnv }, /api listening/);
      return (apis[i] = `http://127.0.0.1:${/"port":(\d+)/.exec(s.output())![1]}`);
    };
    await Promise.all([
      ...Array.from({ length: o.apis ?? 1 }, (_, i) => startApi(i)),
      ...Array.from({ length: o.workers ?? 1 }, (_, i) => start(`worker-${i + 1}`, "worker/main.ts", o.workerEnv ?? {}, /worker ready/)),
    ]);
    const stop = async (name: string) => {
      await services.get(name)?.kill("SIGTERM");
      services.delete(name);
    };
    const addApi = () => startApi(apis.length);
    return await fn({ prisma, dbUrl, dbName, redisUrl: cfg.REDIS_URL, prefix: dbName, token, repoId: BigInt(repo.id), userId: BigInt(user.id), apis, services, start, stop, addApi });
  } finally {
    process.off("exit", killAll);
    await Promise.all([...services.values()].map((s) => s.kill("SIGTERM")));
    if (process.env.BENCH_LOG_DIR) {
      const { writeFileSync } = await import("node:fs");
      for (const [n, s] of services) writeFileSync(`${process.env.BENCH_LOG_DIR}/${label}-${n}.log`, s.output());
    }
    await prisma.$disconnect();
    await dropDatabase(cfg.DATABASE_URL, dbName);
    await dropQueueKeys(cfg.REDIS_URL, dbName);
  }
}


export async function dropDatabase(serverUrl: string, dbName: string): Promise<void> {
  const c = new pg.Client({ connectionString: withDatabase(serverUrl, "postgres") });
  await c.connect();
  try {
    await c.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(dbName)} WITH (FORCE)`);
  } finally {
    await c.end();
  }
}
