import type { Tx } from "../db.ts";
import { decideCancel } from "../lifecycle/cancel.ts";
import type { Conclusion } from "../lifecycle/types.ts";
import { assertNever } from "../assert.ts";
import { asSql, id, ids, ts, type Sql } from "../sql.ts";
import { LOCK_RUN_OF_JOB_SQL, lockRun, lockRunOfJob, runWriteCtes, settlePlan, type Locked, type LockedJob, type SettlementPlan } from "./settlement.ts";

// Cancel as two statements: one locks the run and every job of it (run first, then jobs
// in id order: the order every writer takes) and reads what the rules need; the pure
// rules decide; one statement writes every change. Both run in the caller's transaction.

/** Who cancels, with which token, and why: stored on every job the cancel changes. */
export interface CancelActor {
  /** Null for the service itself (a run superseded by `concurrency: cancel-in-progress` created without an actor). */
  userId: bigint | null;
  tokenId: bigint | null;
  reason: string | null;
}

export interface Signal {
  jobId: bigint;
  runId: bigint;
  runnerId: bigint | null;
  requestedAt: Date;
  /** Kill at once, without the grace period. */
  force: boolean;
}

export interface Cancelled {
  runId: bigint;
  repoId: bigint;
  changedJobs: number;
  runCompleted: boolean;
  runConclusion: Conclusion | null;
  /** Runners to tell, after commit. */
  signals: Signal[];
}

export { LOCK_RUN_OF_JOB_SQL };

export const CANCEL_WRITE_SQL = `
  WITH ended AS (
    UPDATE workflow_jobs SET status = 'cancelled', conclusion = 'cancelled', completed_at = $2::timestamptz, force_cancelled = $3::boolean,
      cancel_requested = true, cancel_requested_at = $2::timestamptz, cancel_requested_by = $4::bigint,
      cancel_requested_token_id = $5::bigint, cancel_reason = $6::text, updated_at = $2::timestamptz
    WHERE id = ANY($1::bigint[]) AND status IN ('queued', 'running') RETURNING id
  ), flagged AS (
    UPDATE workflow_jobs SET cancel_requested = true, cancel_requested_at = $2::timestamptz, cancel_requested_by = $4::bigint,
      cancel_requested_token_id = $5::bigint, cancel_reason = $6::text, updated_at = $2::timestamptz
    WHERE id = ANY($7::bigint[]) AND NOT cancel_requested RETURNING id
  ), ended_steps AS (
    UPDATE workflow_steps SET status = 'cancelled', conclusion = 'cancelled', completed_at = $2::timestamptz
    WHERE job_id IN (SELECT id FROM ended) AND status IN ('queued', 'running') RETURNING 1
  ), ${runWriteCtes("$8", "$9", "$10", "$11", "$2")}
  SELECT (SELECT count(*) FROM ended)::int AS ended, (SELECT count(*) FROM flagged)::int AS flagged,
    (SELECT count(*) FROM ended_steps)::int + (SELECT count(*) FROM skipped_steps)::int AS steps,
    (SELECT status FROM run) AS run_status`;

interface Plan extends SettlementPlan {
  endNow: number[];
  flag: LockedJob[];
}

/**
 * The pure part: which of `open` end now, which are flagged for their runner, and what
 * that does to the rest of the run (dependents skipped, the run rolled up).
 */
function plan(locked: Locked, open: LockedJob[], force: boolean): Plan {
  const endNow: number[] = [];
  const flag: LockedJob[] = [];
  for (const j of open) {
    const d = decideCancel({ status: j.status, cancelRequested: j.cancel_requested });
    switch (d.outcome) {
      case "noop":
        if (force && d.reason === "already_requested") endNow.push(j.id);
        break;
      case "cancel_now":
        endNow.push(j.id);
        break;
      case "request_cancel":
        if (force) endNow.push(j.id);
        else flag.push(j);
        break;
      default:
        assertNever(d, "cancel decision");
    }
  }
  if (endNow.length === 0) return { endNow, flag, skip: [], run: null };
  const cancelled = { status: "cancelled" as const, conclusion: "cancelled" as const };
  return { endNow, flag, ...settlePlan(locked, new Map(endNow.map((j) => [j, cancelled]))) };
}

async function apply(sql: Sql, locked: Locked, open: LockedJob[], actor: CancelActor, now: Date, force: boolean): Promise<Cancelled> {
  const p = plan(locked, open, force);
  const run = locked.run;
  const changedJobs = p.endNow.length + p.flag.length;
  let runStatus: string | null = null;
  if (changedJobs > 0) {
    const [w] = await sql.rows<{ run_status: string | null }>(CANCEL_WRITE_SQL, [
      ids(p.endNow), ts(now), force, actor.userId === null ? null : id(actor.userId), actor.tokenId === null ? null : id(actor.tokenId),
      actor.reason, ids(p.flag.map((j) => j.id)), ids(p.skip), id(run.id), p.run?.status ?? null, p.run?.conclusion ?? null,
    ]);
    runStatus = w!.run_status;
  }
  const byId = new Map(locked.jobs.map((j) => [j.id, j]));
  const signalled = [...p.flag.map((j) => j.id), ...p.endNow.filter((j) => byId.get(j)?.status === "running")];
  const runCompleted = runStatus === "completed";
  return {
    runId: BigInt(run.id), repoId: BigInt(run.repo_id), changedJobs, runCompleted,
    runConclusion: runCompleted ? p.run!.conclusion : null,
    signals: signalled.map((j) => {
      const runner = byId.get(j)?.runner_id ?? null;
      return { jobId: BigInt(j), runId: BigInt(run.id), runnerId: runner === null ? null : BigInt(runner), requestedAt: now, force };
    }),
  };
}

const isOpen = (j: LockedJob) => j.status === "queued" || j.status === "running";

/** One job, as POST /jobs/{id}/cancel. Null when the job does not exist. */
export async function cancelJobTx(db: Sql | Tx, jobId: bigint, actor: CancelActor, now: Date): Promise<(Cancelled & { jobId: bigint }) | null> {
  const sql = asSql(db);
  const locked = await lockRunOfJob(sql, jobId);
  const job = locked?.jobs.find((j) => BigInt(j.id) === jobId);
  if (!locked || !job) return null;
  return { jobId, ...(await apply(sql, locked, isOpen(job) ? [job] : [], actor, now, false)) };
}

/** Every open job of a run, as POST /runs/{id}/cancel and /force-cancel. Null when the run does not exist. */
export async function cancelRunTx(db: Sql | Tx, runId: bigint, actor: CancelActor, now: Date, force: boolean): Promise<Cancelled | null> {
  const sql = asSql(db);
  const locked = await lockRun(sql, runId);
  if (!locked) return null;
  return apply(sql, locked, locked.jobs.filter(isOpen), actor, now, force);
}
