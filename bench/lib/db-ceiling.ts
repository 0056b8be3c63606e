import { pino } from "pino";
import { findTokenForTarget } from "../../domain/data/access.ts";
import { createPool, poolSql } from "../../infra/sql.ts";
import { sha256 } from "../../domain/tokens.ts";
import { intentUid } from "../../api/intents.ts";
import { cancelJob } from "../../worker/processors/cancel-job.ts";
import { closedLoop, type LoadResult } from "./load.ts";
import { withStack, type Stack } from "./stack.ts";
import { seedQueued } from "../scenarios/cancel.ts";
import type { BenchContext } from "./types.ts";

// The database ceiling: exactly the statements one cancel executes (the API's token and
// access lookup, then the worker's transaction as cancelJob runs it: lock, write, intent
// record), called through the same data functions on a raw pool, with no HTTP and no
// queue in between. Connections are capped below Postgres' max_connections (100 here).
// Every level runs on one database, as the cancel scenario's levels do on one stack.

const MAX_CONNECTIONS = 40;

type Counts = { total: number; warmup: number };

export async function dbCeiling(ctx: BenchContext, levels: readonly number[], counts: Counts): Promise<Record<string, LoadResult>> {
  return withStack("dbceil", { apis: 0, workers: 0 }, async (stack) => {
    const jobs = await seedQueued(stack, counts.total * levels.length + 10);
    const out: Record<string, LoadResult> = {};
    for (const [k, c] of levels.entries()) {
      ctx.log(`ceiling db closed loop c=${c}, ${Math.min(c, MAX_CONNECTIONS)} connections`);
      out[c] = await level(stack, c, counts, jobs.slice(k * counts.total, (k + 1) * counts.total));
    }
    return out;
  });
}

async function level(stack: Stack, concurrency: number, counts: Counts, jobs: number[]): Promise<LoadResult> {
  const pool = createPool(stack.dbUrl, Math.min(concurrency, MAX_CONNECTIONS));
  const sql = poolSql(pool);
  const deps = { prisma: stack.prisma, pool, publish: async () => 0, queuePrefix: stack.prefix, log: pino({ level: "silent" }), holdTxMs: 0 };
  const hash = sha256(stack.token);
  try {
    return await closedLoop({
      concurrency, ...counts,
      fire: async (i) => {
        const found = await findTokenForTarget(sql, hash, { kind: "job", id: BigInt(jobs[i]!) });
        if (!found || found.access !== "write") return false;
        const token = found.token;
        const r = await cancelJob(deps, {
          intentUid: intentUid("cancel-job", Number(token.userId), null), targetId: jobs[i]!, actorUserId: Number(token.userId),
          tokenId: Number(token.id), idempotencyKey: null, requestId: null, reason: null, params: null,
        });
        return r.ok;
      },
    });
  } finally {
    await pool.end();
  }
}
