import { randomUUID } from "node:crypto";
import { intentUid } from "../../api/intents.ts";
import { ACCESS_SQL, TOKEN_SQL, TOKEN_TARGET_SQL } from "../../core/data/access.ts";
import { CANCEL_CTES, LOCK_RUN_OF_JOB_SQL } from "../../core/data/cancel.ts";
import { INTENT_BY_UID_SQL, recordStatement } from "../../worker/intent.ts";
import type { HotContext, HotStatement } from "../scenarios/growth.ts";

// The statements of POST /jobs/{id}/cancel on a queued job, in the order they run,
// imported from the code that runs them: a plan taken here is the plan the service gets,
// and a change to any of them is planned here without anyone copying it. Where the service
// now joins two of them into one statement (token and access; the cancel's writes and the
// intent's record), each part is still exported and planned here on its own.
// Parameters are bound as the callers bind them (text, see core/sql.ts), so the planner
// sees the same casts.

// One cancel's statements share what one real cancel shares: the intent uid (the lookup
// finds nothing, then the record inserts it) and the worker transaction's single `now`.
const perCancel = new WeakMap<HotContext, { uid: string; now: string }>();
function cancelOf(ctx: HotContext): { uid: string; now: string } {
  let c = perCancel.get(ctx);
  if (c === undefined) {
    c = { uid: intentUid("cancel-job", ctx.userId, null), now: new Date().toISOString() };
    perCancel.set(ctx, c);
  }
  return c;
}

/** What the worker records for a cancelled queued job that was its run's only job. */
const cancelledResult = (ctx: HotContext) => JSON.stringify({
  ok: true, body: { job_id: ctx.jobId, run_id: ctx.runId, repo_id: ctx.repoId, changed_jobs: 1, run_completed: true, run_conclusion: "cancelled" },
});

export const HOT_STATEMENTS: HotStatement[] = [
  // API: the token and its access to the job's repository in one round trip (findTokenForTarget), as the cancel route runs it.
  { name: "token + access (job)", sql: TOKEN_TARGET_SQL("job"), params: (c) => [c.tokenHash, String(c.jobId)] },
  // API: the same two questions apart (findTokenByHash, then targetAccess with { job }).
  { name: "token", sql: TOKEN_SQL, params: (c) => [c.tokenHash] },
  { name: "access (job)", sql: ACCESS_SQL("job"), params: (c) => [String(c.jobId), String(c.userId)] },
  // Worker: applied before? A first keyless delivery skips it (the record's ON CONFLICT
  // catches a redelivery); a redelivery's replay reads it, and findPrior for keyed intents.
  { name: "intent by uid", sql: INTENT_BY_UID_SQL, params: (c) => [cancelOf(c).uid] },
  // Worker: lock the job's run and its jobs (planCancelJob → lockRunOfJob).
  { name: "lock run of job", sql: LOCK_RUN_OF_JOB_SQL, params: (c) => [String(c.jobId)] },
  // Worker: the cancel's writes and the intent's record, as recordIntent sends them: one
  // statement, bound as decide() binds a queued job whose run completes cancelled. Token id
  // and reason null: the context has no token id, and no key or index covers either column.
  {
    name: "cancel write + record",
    sql: recordStatement({ ctes: CANCEL_CTES, params: new Array(11) }),
    params: (c) => [
      [String(c.jobId)], cancelOf(c).now, false, String(c.userId), null, null, [], [], String(c.runId), "completed", "cancelled",
      cancelOf(c).uid, "cancel_job", String(c.jobId), String(c.userId), null, null, randomUUID(), null, "applied", cancelledResult(c), cancelOf(c).now,
    ],
  },
];
