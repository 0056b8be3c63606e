import { pino } from "pino";
import { findTokenByHash, targetAccess } from "../../core/data/access.ts";
import { createPool, poolSql } from "../../core/sql.ts";
import { sha256 } from "../../core/tokens.ts";
import { intentUid } from "../../api/intents.ts";
import { cancelJob } from "../../worker/processors/cancel-job.ts";
import { closedLoop, type LoadResult } from "./load.ts";
import { withStack } from "./stack.ts";
import { seedQueued } from "../scenarios/cancel.ts";
import type { BenchContext } from "./types.ts";

// The database ceiling: exactly the statements one cancel executes (the API's token and
// access lookups, then the worker's transaction: prior-intent check, lock, write, intent
// record), called through the same data functions on a raw pool, with no HTTP and no
// queue in between. Connections are capped below Postgres' max_connections (100 here).

const MAX_CONNECTIONS = 40;

export async function dbCeiling(ctx: BenchContext, concurrency: number, total: number): Promise<LoadResult> {
  return withStack(`dbceil${concurrency}`, { apis: 0, workers: 0 }, async (stack) => {
    const warmup = Math.min(200, total / 10);
    const jobs = await seedQueued(stack, total + 10);
    const pool = createPool(stack.dbUrl, Math.min(concurrency, MAX_CONNECTIONS));
    const sql = poolSql(pool);
    const deps = { prisma: stack.prisma, pool, publish: async () => 0, queuePrefix: stack.prefix, log: pino({ level: "silent" }), holdTxMs: 0 };
    const hash = sha256(stack.token);
    try {
      ctx.log(`  db ceiling: ${jobs.length} queued jobs, ${Math.min(concurrency, MAX_CONNECTIONS)} connections`);
      return await closedLoop({
        concurrency, total, warmup,
        fire: async (i) => {
          const token = await findTokenByHash(sql, hash);
          if (!token) return false;
          const access = await targetAccess(sql, token, { job: BigInt(jobs[i]!) });
          if (access.access !== "write") return false;
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
  });
}
