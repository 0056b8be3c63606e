import os from "node:os";
import pg from "pg";
import * as ops from "../admin/ops.ts";
import { createPrisma } from "../core/db.ts";
import { parseConfig, commonEnv } from "../core/config.ts";
import { migrate } from "../prisma/migrate.ts";
import { withDatabase } from "../prisma/engine.ts";
import { spawnService, type Service } from "../scripts/service.ts";

// Time of one cancel and one rerun request through the whole path (HTTP → API → BullMQ
// → worker → Postgres → result → HTTP), sequentially, against real api and worker
// processes on a database of its own. `npm run bench:latency [-- N]`.

const N = Number(process.argv[2] ?? 200);
const WARMUP = 20;
const cfg = parseConfig(commonEnv);
const dbName = `actions_bench_${Date.now().toString(36)}`;
const dbUrl = withDatabase(cfg.DATABASE_URL, dbName);
const WF = `name: Bench\non: push\njobs:\n  only:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo hi\n`;

function stats(ms: number[]) {
  const s = [...ms].sort((a, b) => a - b);
  const q = (p: number) => s[Math.min(s.length - 1, Math.floor(p * s.length))]!;
  return { n: s.length, min: s[0]!, p50: q(0.5), p90: q(0.9), p99: q(0.99), max: s[s.length - 1]! };
}

async function timed(url: string, token: string): Promise<{ ms: number; status: number }> {
  const t = performance.now();
  const r = await fetch(url, { method: "POST", headers: { authorization: `Bearer ${token}` } });
  await r.arrayBuffer();
  return { ms: performance.now() - t, status: r.status };
}

async function main() {
  await migrate(dbUrl);
  const prisma = createPrisma(dbUrl, 4);
  const services: Service[] = [];
  try {
    await ops.createUser(prisma, { login: "bench" });
    await ops.createRepo(prisma, { owner: "bench", name: "repo" });
    const { token } = await ops.createToken(prisma, { user: "bench", scopes: ["repo:write"] });
    const jobs: number[] = [];
    for (let i = 0; i < N + WARMUP + 1; i++) {
      const r = await ops.createRunFromSource(prisma, { repo: "bench/repo", workflowFile: ".shithub/workflows/b.yml", headSha: "bbbbbbbb", source: WF });
      jobs.push(r.job_ids[0]!);
    }
    const env = { DATABASE_URL: dbUrl, REDIS_URL: cfg.REDIS_URL, QUEUE_PREFIX: dbName, PORT: "0", HOST: "127.0.0.1", RATE_LIMIT_PER_HOUR: "10000000", SERVICE_LOG_LEVEL: "warn", WORKER_PORT: "0",
      // Every rerun here descends from one run: lift the chain cap.
      RERUN_LIMIT: "100000" };
    const api = spawnService("api/server.ts", { ...env, LOG_LEVEL: "info" });
    const worker = spawnService("worker/main.ts", env);
    services.push(api, worker);
    await Promise.all([api.waitForLine(/api listening/), worker.waitForLine(/worker ready/)]);
    const base = `http://127.0.0.1:${/"port":(\d+)/.exec(api.output())![1]}`;

    const cancels: number[] = [];
    for (let i = 0; i < jobs.length - 1; i++) {
      const r = await timed(`${base}/api/v1/jobs/${jobs[i]}/cancel`, token);
      if (r.status !== 202) throw new Error(`cancel answered ${r.status}`);
      if (i >= WARMUP) cancels.push(r.ms);
    }
    // The first run is completed (its job was cancelled): rerun it over and over.
    const source = (await prisma.workflowJob.findUniqueOrThrow({ where: { id: BigInt(jobs[0]!) } })).runId;
    const reruns: number[] = [];
    for (let i = 0; i < N + WARMUP; i++) {
      const r = await timed(`${base}/api/v1/runs/${source}/rerun`, token);
      if (r.status !== 201) throw new Error(`rerun answered ${r.status}`);
      if (i >= WARMUP) reruns.push(r.ms);
    }
    const round = (o: Record<string, number>) => Object.fromEntries(Object.entries(o).map(([k, v]) => [k, +v.toFixed(2)]));
    console.log(JSON.stringify({ machine: { cpus: os.cpus().length, node: process.version, memGiB: +(os.totalmem() / 2 ** 30).toFixed(1) } }));
    console.table({ "cancel (ms)": round(stats(cancels)), "rerun (ms)": round(stats(reruns)) });
  } finally {
    for (const s of services) await s.kill("SIGTERM");
    if (process.env.BENCH_LOG_DIR) {
      const { writeFileSync } = await import("node:fs");
      services.forEach((s, i) => writeFileSync(`${process.env.BENCH_LOG_DIR}/${["api", "worker"][i]}.log`, s.output()));
    }
    await prisma.$disconnect();
    const c = new pg.Client({ connectionString: withDatabase(cfg.DATABASE_URL, "postgres") });
    await c.connect();
    await c.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(dbName)} WITH (FORCE)`);
    await c.end();
  }
}

await main();
