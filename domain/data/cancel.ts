import type { Tx } from "../../infra/db.ts";
import { decideCancel } from "../lifecycle/cancel.ts";
import type { Conclusion } from "../lifecycle/types.ts";
import { assertNever } from "../../infra/assert.ts";
import { asSql, id, ids, runWrite, ts, type PendingWrite, type Sql } from "../../infra/sql.ts";
import { sql, type Fragment } from "../../infra/sqlf.ts";
export type { PendingWrite };
import { lockRun, lockRunOfJob, runWriteCtes, settlePlan, type Locked, type LockedJob, type SettlementPlan } from "./settlement.ts";

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

/** What a cancel writes: the jobs it ends and flags, by whom, and the run's settlement. */
export interface CancelWrite {
  endNow: readonly number[];
  flag: readonly number[];
  force: boolean;
  actor: CancelActor;
  at: Date;
  settlement: { skip: readonly number[]; runId: number | bigint; run: SettlementPlan["run"] };
}

// The writes of a cancel, as CTEs: a caller may add its own (an intent's record) and run
// everything as one statement.
export function cancelCtes(w: CancelWrite): Fragment {
  const at = ts(w.at);
  const by = w.actor.userId === null ? null : id(w.actor.userId);
  const token = w.actor.tokenId === null ? null : id(w.actor.tokenId);
  const requested = sql`cancel_requested = true, cancel_requested_at = ${at}::timestamptz, cancel_requested_by = ${by}::bigint,
      cancel_requested_token_id = ${token}::bigint, cancel_reason = ${w.actor.reason}::text, updated_at = ${at}::timestamptz`;
  return sql`ended AS (
    UPDATE workflow_jobs SET status = 'cancelled', conclusion = 'cancelled', completed_at = ${at}::timestamptz, force_cancelled = ${w.force}::boolean,
      ${requested}
    WHERE id = ANY(${ids(w.endNow)}::bigint[]) AND status IN ('queued', 'running') RETURNING id
  ), flagged AS (
    UPDATE workflow_jobs SET ${requested}
    WHERE id = ANY(${ids(w.flag)}::bigint[]) AND NOT cancel_requested RETURNING id
  ), ended_steps AS (
    UPDATE workflow_steps SET status = 'cancelled', conclusion = 'cancelled', completed_at = ${at}::timestamptz
    WHERE job_id IN (SELECT id FROM ended) AND status IN ('queued', 'running') RETURNING 1
  ), ${runWriteCtes({ ...w.settlement, at: w.at })}`;
}

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

/**
 * The cancel decided on the locked rows, and its writes, not yet run. Under the run's lock
 * the outcome is known before the write: the run completes exactly when the settlement
 * says so (its update's condition holds, the run being ours and not completed).
 */
function decide(locked: Locked, open: LockedJob[], actor: CancelActor, now: Date, force: boolean): { cancelled: Cancelled; write: PendingWrite | null } {
  const p = plan(locked, open, force);
  const run = locked.run;
  const changedJobs = p.endNow.length + p.flag.length;
  const write = changedJobs === 0 ? null : {
    ctes: cancelCtes({ endNow: p.endNow, flag: p.flag.map((j) => j.id), force, actor, at: now, settlement: { skip: p.skip, runId: run.id, run: p.run } }),
  };
  const byId = new Map(locked.jobs.map((j) => [j.id, j]));
  const signalled = [...p.flag.map((j) => j.id), ...p.endNow.filter((j) => byId.get(j)?.status === "running")];
  const runCompleted = write !== null && p.run?.status === "completed";
  const cancelled: Cancelled = {
    runId: BigInt(run.id), repoId: BigInt(run.repo_id), changedJobs, runCompleted,
    runConclusion: runCompleted ? p.run!.conclusion : null,
    signals: signalled.map((j) => {
      const runner = byId.get(j)?.runner_id ?? null;
      return { jobId: BigInt(j), runId: BigInt(run.id), runnerId: runner === null ? null : BigInt(runner), requestedAt: now, force };
    }),
  };
  return { cancelled, write };
}

const isOpen = (j: LockedJob) => j.status === "queued" || j.status === "running";

/** One job, as POST /jobs/{id}/cancel, decided but not written. Null when the job does not exist. */
export async function planCancelJob(db: Sql | Tx, jobId: bigint, actor: CancelActor, now: Date): Promise<{ cancelled: Cancelled & { jobId: bigint }; write: PendingWrite | null } | null> {
  const locked = await lockRunOfJob(asSql(db), jobId);
  const job = locked?.jobs.find((j) => BigInt(j.id) === jobId);
  if (!locked || !job) return null;
  const d = decide(locked, isOpen(job) ? [job] : [], actor, now, false);
  return { cancelled: { jobId, ...d.cancelled }, write: d.write };
}

/** Every open job of a run, as POST /runs/{id}/cancel and /force-cancel, decided but not written. Null when the run does not exist. */
export async function planCancelRun(db: Sql | Tx, runId: bigint, actor: CancelActor, now: Date, force: boolean): Promise<{ cancelled: Cancelled; write: PendingWrite | null } | null> {
  const locked = await lockRun(asSql(db), runId);
  return locked ? decide(locked, locked.jobs.filter(isOpen), actor, now, force) : null;
}

/** One job, as POST /jobs/{id}/cancel. Null when the job does not exist. */
export async function cancelJobTx(db: Sql | Tx, jobId: bigint, actor: CancelActor, now: Date): Promise<(Cancelled & { jobId: bigint }) | null> {
  const d = await planCancelJob(db, jobId, actor, now);
  if (d) await runWrite(asSql(db), d.write);
  return d?.cancelled ?? null;
}

/** Every open job of a run, as POST /runs/{id}/cancel and /force-cancel. Null when the run does not exist. */
export async function cancelRunTx(db: Sql | Tx, runId: bigint, actor: CancelActor, now: Date, force: boolean): Promise<Cancelled | null> {
  const d = await planCancelRun(db, runId, actor, now, force);
  if (d) await runWrite(asSql(db), d.write);
  return d?.cancelled ?? null;
}

/**
 * Some open jobs of a run, as fail-fast cancels the rest of a matrix (docs/workflows.md):
 * the same decision and write as a user's cancel. Null when the run does not exist.
 */
export async function cancelJobsOfRunTx(db: Sql | Tx, runId: bigint, jobIds: readonly number[], actor: CancelActor, now: Date): Promise<Cancelled | null> {
  const locked = await lockRun(asSql(db), runId);
  if (!locked) return null;
  const want = new Set(jobIds.map(Number));
  const d = decide(locked, locked.jobs.filter((j) => want.has(Number(j.id)) && isOpen(j)), actor, now, false);
  await runWrite(asSql(db), d.write);
  return d.cancelled;
}
