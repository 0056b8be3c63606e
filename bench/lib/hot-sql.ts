import { randomUUID } from "node:crypto";
import { intentUid } from "../../api/intents.ts";
import { accessSql, tokenByHashSql, tokenTargetSql } from "../../domain/data/access.ts";
import { cancelCtes } from "../../domain/data/cancel.ts";
import { jobAroundSql, lockRunOfJobSql } from "../../domain/data/settlement.ts";
import { render, type Fragment } from "../../infra/sqlf.ts";
import { intentByUidSql, recordStatement } from "../../worker/intent.ts";
import type { HotContext, HotStatement } from "../scenarios/growth.ts";

// The statements of POST /jobs/{id}/cancel on a queued job, in the order they run, built
// by the functions the code runs them with: a plan taken here is the plan the service
// gets, and a change to any of them is planned here without anyone copying it. Where the
// service joins two of them into one statement (token and access; the cancel's writes and
// the intent's record), each part is still planned here on its own.

// One cancel's statements share what one real cancel shares: the intent uid (the lookup
// finds nothing, then the record inserts it) and the worker transaction's single `now`.
const perCancel = new WeakMap<HotContext, { uid: string; now: Date }>();
function cancelOf(ctx: HotContext): { uid: string; now: Date } {
  let c = perCancel.get(ctx);
  if (c === undefined) {
    c = { uid: intentUid("cancel-job", ctx.userId, null), now: new Date() };
    perCancel.set(ctx, c);
  }
  return c;
}

/** What the worker records for a cancelled queued job that was its run's only job. */
const cancelledResult = (ctx: HotContext) => JSON.stringify({
  ok: true, body: { job_id: ctx.jobId, run_id: ctx.runId, repo_id: ctx.repoId, changed_jobs: 1, run_completed: true, run_conclusion: "cancelled" },
});

/** The text depends only on the statement's shape (infra/sqlf.ts): rendered from any context, bound from each. */
const SHAPE: HotContext = { jobId: 0, runId: 0, userId: 0, repoId: 0, tokenHash: "" };
function composed(name: string, build: (c: HotContext) => Fragment): HotStatement {
  return { name, sql: render(build(SHAPE)).text, params: (c) => render(build(c)).values };
}

// The worker's cancel of a queued job whose run completes cancelled, as decide() and
// recordIntent build it. Token id and reason null: the context has no token id, and no
// key or index covers either column.
function cancelWriteAndRecord(c: HotContext): Fragment {
  const { uid, now } = cancelOf(c);
  const actor = { userId: BigInt(c.userId), tokenId: null, reason: null };
  const write = { ctes: cancelCtes({ endNow: [c.jobId], flag: [], force: false, actor, at: now, settlement: { skip: [], runId: c.runId, run: { status: "completed", conclusion: "cancelled" } } }) };
  return recordStatement({
    uid, kind: "cancel_job", targetId: c.jobId, actorUserId: c.userId, tokenId: null, idempotencyKey: null, requestId: randomUUID(), reason: null,
    state: "applied", result: cancelledResult(c), at: now,
  }, write);
}

export const HOT_STATEMENTS: HotStatement[] = [
  // API: the token and its access to the job's repository in one round trip (findTokenForTarget), as the cancel route runs it.
  composed("token + access (job)", (c) => tokenTargetSql("hash", c.tokenHash, { kind: "job", id: BigInt(c.jobId) })),
  // API: the same two questions apart (findTokenByHash, then targetAccess with { job }).
  composed("token", (c) => tokenByHashSql(c.tokenHash)),
  composed("access (job)", (c) => accessSql({ kind: "job", id: BigInt(c.jobId) }, BigInt(c.userId))),
  // Worker: applied before? A first keyless delivery skips it (the record's ON CONFLICT
  // catches a redelivery); a redelivery's replay reads it, and findPrior for keyed intents.
  composed("intent by uid", (c) => intentByUidSql(cancelOf(c).uid)),
  // Worker: lock the job's run, then read the job and the rest of its run as counts (planCancelJob → lockJobAround).
  composed("lock run of job", (c) => lockRunOfJobSql(BigInt(c.jobId))),
  composed("job around its run", (c) => jobAroundSql(c.runId, BigInt(c.jobId))),
  // Worker: the cancel's writes and the intent's record, as recordIntent sends them: one statement.
  composed("cancel write + record", cancelWriteAndRecord),
];
