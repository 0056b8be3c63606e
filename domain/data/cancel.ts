import { planCancel, type CancelActor, type CancelIntent, type CancelPlan, type Signal } from "../lifecycle/cancel.ts";
import type { Conclusion } from "../lifecycle/types.ts";
import { id, ids, runWrite, ts, type PendingWrite, type Sql } from "../../infra/sql.ts";
import { sql, type Fragment } from "../../infra/sqlf.ts";
export type { CancelActor, Signal };
import { CANCELLED } from "../lifecycle/cancel.ts";
import { lockJobAround, lockRun, runWriteCtes, settleJobPlan, settlePlan, type Locked, type SettlementPlan } from "./settlement.ts";

// Cancel: the run is locked and its jobs read (lockRun, domain/data/settlement.ts: the run's
// lock alone serialises its writers, the jobs are not locked); a one-job cancel reads the
// job and the rest of its run as counts instead (lockJobAround). The pure rules of
// domain/lifecycle/cancel.ts decide; one statement writes every change, locking only the
// rows it changes. All in the caller's transaction.

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

const UNCHANGED: SettlementPlan = { skip: [], run: null };

/**
 * The plan's writes, not yet run, with the run's settlement `s` of what the plan ends.
 * Under the run's lock the outcome is known before the write: the run completes exactly
 * when the settlement says so (its update's condition holds, the run being ours and not
 * completed).
 */
export function writeOfPlan(run: Locked["run"], p: CancelPlan, s: SettlementPlan): { cancelled: Cancelled; write: PendingWrite | null } {
  const base = { runId: BigInt(run.id), repoId: BigInt(run.repo_id) };
  if (p.kind === "noop") return { cancelled: { ...base, changedJobs: 0, runCompleted: false, runConclusion: null, signals: [] }, write: null };
  const write = { ctes: cancelCtes({ endNow: p.end, flag: p.flag, force: p.force, actor: p.actor, at: p.at, settlement: { skip: s.skip, runId: run.id, run: s.run } }) };
  const runCompleted = s.run?.status === "completed";
  const cancelled: Cancelled = {
    ...base, changedJobs: p.end.length + p.flag.length, runCompleted,
    runConclusion: runCompleted ? s.run!.conclusion : null, signals: p.signals,
  };
  return { cancelled, write };
}

const decide = (locked: Locked, intent: CancelIntent) => {
  const p = planCancel(locked.run, locked.jobs, intent);
  return writeOfPlan(locked.run, p, p.kind === "cancel" && p.settle !== null ? settlePlan(locked, p.settle) : UNCHANGED);
};

/** One job, as POST /jobs/{id}/cancel, decided but not written. Null when the job does not exist. */
export async function planCancelJob(sql: Sql, jobId: bigint, actor: CancelActor, now: Date): Promise<{ cancelled: Cancelled & { jobId: bigint }; write: PendingWrite | null } | null> {
  const a = await lockJobAround(sql, jobId);
  if (!a) return null;
  const p = planCancel(a.run, [a.job], { target: { kind: "job", jobId: Number(jobId) }, force: false, actor, now });
  // A one-job plan ends at most that job, so the settlement is that job's (settleJobPlan).
  const s = p.kind === "cancel" && p.settle !== null ? await settleJobPlan(sql, a, CANCELLED) : UNCHANGED;
  const d = writeOfPlan(a.run, p, s);
  return { cancelled: { jobId, ...d.cancelled }, write: d.write };
}

/** Every open job of a run, as POST /runs/{id}/cancel and /force-cancel, decided but not written. Null when the run does not exist. */
export async function planCancelRun(sql: Sql, runId: bigint, actor: CancelActor, now: Date, force: boolean): Promise<{ cancelled: Cancelled; write: PendingWrite | null } | null> {
  const locked = await lockRun(sql, runId);
  return locked ? decide(locked, { target: { kind: "run" }, force, actor, now }) : null;
}

/** One job, as POST /jobs/{id}/cancel. Null when the job does not exist. */
export async function cancelJobTx(sql: Sql, jobId: bigint, actor: CancelActor, now: Date): Promise<(Cancelled & { jobId: bigint }) | null> {
  const d = await planCancelJob(sql, jobId, actor, now);
  if (d) await runWrite(sql, d.write);
  return d?.cancelled ?? null;
}

/** Every open job of a run, as POST /runs/{id}/cancel and /force-cancel. Null when the run does not exist. */
export async function cancelRunTx(sql: Sql, runId: bigint, actor: CancelActor, now: Date, force: boolean): Promise<Cancelled | null> {
  const d = await planCancelRun(sql, runId, actor, now, force);
  if (d) await runWrite(sql, d.write);
  return d?.cancelled ?? null;
}

/**
 * Some open jobs of a run, as fail-fast cancels the rest of a matrix (docs/workflows.md):
 * the same decision and write as a user's cancel. Null when the run does not exist.
 */
export async function cancelJobsOfRunTx(sql: Sql, runId: bigint, jobIds: readonly number[], actor: CancelActor, now: Date): Promise<Cancelled | null> {
  const locked = await lockRun(sql, runId);
  if (!locked) return null;
  const d = decide(locked, { target: { kind: "jobs", jobIds: jobIds.map(Number) }, force: false, actor, now });
  await runWrite(sql, d.write);
  return d.cancelled;
}
