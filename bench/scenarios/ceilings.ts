import { randomUUID } from "node:crypto";
import { ensureSigningKey } from "../../infra/signing.ts";
import { fileURLToPath } from "node:url";
import { IntentClient, intentUid } from "../../api/intents.ts";
import { connectRedis, type Redis } from "../../infra/redis.ts";
import { spawnService } from "../../scripts/service.ts";
import { httpClient } from "../lib/http.ts";
import { closedLoop, type Fire, type LoadResult } from "../lib/load.ts";
import { dbCeiling } from "../lib/db-ceiling.ts";
import { pgbenchCeiling } from "../lib/pgbench.ts";
import { benchEnv } from "../lib/stack.ts";
import { ms, type BenchContext, type Scenario, type ScenarioResult, type Series, type Table } from "../lib/types.ts";
import { CONCURRENCY, levelCounts } from "./cancel.ts";

// Scenario 0: what this machine can do at all, measured in the same run as the rest, so
// the service's figures can be read as a share of them: the API's Express stack answering
// a constant (http), a BullMQ round trip through a no-op worker (queue), the database
// running our own cancel statements (db, bench/lib/db-ceiling.ts), and pgbench running the
// least work a cancel must do (pgbench, bench/lib/pgbench.ts): the machine's limit.

export const CEILINGS = ["http", "queue", "db", "pgbench"] as const;
export type CeilingKind = (typeof CEILINGS)[number];

type Levels = Record<string, LoadResult>;

const entry = (file: string) => fileURLToPath(new URL(`../${file}`, import.meta.url));

async function levels(ctx: BenchContext, kind: CeilingKind, fire: Fire): Promise<Levels> {
  const out: Levels = {};
  for (const c of CONCURRENCY) {
    ctx.log(`ceiling ${kind} closed loop c=${c}`);
    out[c] = await closedLoop({ concurrency: c, ...levelCounts(ctx.quick), fire });
  }
  return out;
}

/** Runs `fn` against a child process started like the real services, stopped however it ends. */
async function withChild<T>(file: string, env: Record<string, string>, ready: RegExp, fn: (output: () => string) => Promise<T>): Promise<T> {
  const s = spawnService(entry(file), { LOG_LEVEL: "info", ...env });
  try {
    await s.waitForLine(ready, 60_000);
    return await fn(s.output);
  } finally {
    await s.kill("SIGTERM");
  }
}

async function httpCeiling(ctx: BenchContext): Promise<Levels> {
  return withChild("ceiling-http.ts", { PORT: "0", HOST: "127.0.0.1" }, /ceiling api listening/, async (output) => {
    const url = `http://127.0.0.1:${/"port":(\d+)/.exec(output())![1]}/ceiling`;
    const client = httpClient(256);
    try {
      return await levels(ctx, "http", async () => {
        const r = await client.request("POST", url);
        return r.status === 202 && r.body === '{"ok":true}';
      });
    } finally {
      client.close();
    }
  });
}

/** Deletes every key under the private prefix (the queue, its events stream, the workers' keys). */
async function dropPrefix(redis: Redis, prefix: string): Promise<void> {
  let cursor = "0";
  do {
    const [next, keys] = await redis.scan(cursor, "MATCH", `${prefix}:*`, "COUNT", 1000);
    if (keys.length > 0) await redis.unlink(...keys);
    cursor = next;
  } while (cursor !== "0");
}

async function queueCeiling(ctx: BenchContext): Promise<Levels> {
  const { REDIS_URL } = benchEnv();
  const prefix = `bench_ceiling_${Date.now().toString(36)}`;
  const producer = connectRedis(REDIS_URL, "producer", "bench-ceiling-producer");
  const events = connectRedis(REDIS_URL, "subscriber", "bench-ceiling-events");
  // The API's own producer: one QueueEvents listener settling waiters by job id.
  const intents = IntentClient.create(producer, events, prefix, 10_000, ensureSigningKey());
  try {
    await intents.ready();
    return await withChild("ceiling-worker.ts", { REDIS_URL, QUEUE_PREFIX: prefix }, /ceiling worker ready/, () =>
      levels(ctx, "queue", async (i) => {
        const o = await intents.submit("cancel-job", {
          intentUid: intentUid("cancel-job", 1, null), targetId: i + 1, actorUserId: 1, tokenId: 1,
          idempotencyKey: null, requestId: randomUUID(), reason: null, params: null,
        });
        return o.kind === "result" && o.result.ok;
      }));
  } finally {
    await intents.close();
    await dropPrefix(producer, prefix);
    producer.disconnect();
    events.disconnect();
  }
}

const dbLevels = (ctx: BenchContext): Promise<Levels> => dbCeiling(ctx, CONCURRENCY, levelCounts(ctx.quick));
const pgbenchLevels = (ctx: BenchContext): Promise<Levels> => pgbenchCeiling(ctx, CONCURRENCY, levelCounts(ctx.quick));

const strip = (lv: Levels) => Object.fromEntries(Object.entries(lv).map(([c, { samples: _s, ...r }]) => [c, r]));

function table(measured: Partial<Record<CeilingKind, Levels>>): Table {
  const rows = Object.entries(measured).flatMap(([kind, lv]) => CONCURRENCY.map((c) => {
    const r = lv[c]!;
    return [kind, c, r.requests, r.errors, r.rps, ms(r.latency.p50), ms(r.latency.p99), ms(r.latency.p999)];
  }));
  return {
    title: "Ceilings: closed loop, each level after a warm-up (ms)",
    columns: ["ceiling", "concurrency", "requests", "errors", "req/s", "p50", "p99", "p99.9"],
    rows,
    note: "http: the API's Express app and middleware answering POST /ceiling with a constant 202 (bench/ceiling-http.ts). "
      + "queue: BullMQ add → no-op worker (bench/ceiling-worker.ts, the intent worker's options) → completed event, through the API's IntentClient. "
      + "db: our own cancel statements on a raw pool (bench/lib/db-ceiling.ts). "
      + "pgbench: the minimal cancel transaction (bench/pgbench/cancel-min.sql), pgbench -M prepared, its own tps and per-transaction latencies.",
  };
}

export const ceilingsScenario: Scenario = {
  id: "ceilings",
  title: "Ceilings: HTTP, queue, database alone, and pgbench's minimal cancel",
  async run(ctx: BenchContext): Promise<ScenarioResult> {
    const measured: Partial<Record<CeilingKind, Levels>> = {};
    const data: Record<string, unknown> = {};
    const notes: string[] = [];
    const runners: Record<CeilingKind, (ctx: BenchContext) => Promise<Levels>> = {
      http: httpCeiling, queue: queueCeiling, db: dbLevels, pgbench: pgbenchLevels,
    };
    // One ceiling failing must not lose the others' figures: its error goes into the data
    // and the notes, and the targets show it as not measured.
    for (const kind of CEILINGS) {
      try {
        const lv = await runners[kind](ctx);
        measured[kind] = lv;
        data[kind] = strip(lv);
      } catch (e) {
        data[kind] = { error: (e as Error).message };
        notes.push(`${kind} ceiling FAILED: ${(e as Error).message}`);
        ctx.log(`${kind} ceiling FAILED: ${(e as Error).message}`);
      }
    }
    const histograms: Series[] = Object.entries(measured).map(([kind, lv]) => ({ label: `ceiling ${kind}, closed c=16`, samples: lv[16]?.samples ?? [] }));
    return { id: "ceilings", title: this.title, tables: [table(measured)], data, notes, histograms };
  },
};
