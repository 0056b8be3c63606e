import { assertNever } from "../../infra/assert.ts";
import type { JobStatus } from "./types.ts";

// Every cancel (a user's job or run cancel, a force-cancel, fail-fast, concurrency's
// cancel-in-progress, bulk cancel) is decided here, on the rows the caller locked
// (docs/lifecycle.md, "Cancel"); domain/data/cancel.ts only locks, calls and writes.

/** Who cancels, with which token, and why: stored on every job the cancel changes. */
export interface CancelActor {
  /** Null for the service itself (a run superseded by `concurrency: cancel-in-progress` created without an actor). */
  userId: bigint | null;
  tokenId: bigint | null;
  reason: string | null;
}

/** A runner to tell, after commit, that its job is cancelled. */
export interface Signal {
  jobId: bigint;
  runId: bigint;
  runnerId: bigint | null;
  requestedAt: Date;
  /** Kill at once, without the grace period. */
  force: boolean;
}

/** A locked job, as the lock statement returns it (snake_case: the row itself). */
export interface CancelJobRow {
  id: number;
  status: JobStatus;
  cancel_requested: boolean;
  runner_id: number | null;
}

/** What is cancelled: one job, every job of the run, or some of them (fail-fast). */
export type CancelTarget =
  | { kind: "job"; jobId: number }
  | { kind: "run" }
  | { kind: "jobs"; jobIds: readonly number[] };

export interface CancelIntent {
  target: CancelTarget;
  /** End running jobs now instead of flagging them for their runner. */
  force: boolean;
  actor: CancelActor;
  now: Date;
}

/** Every job a cancel ends gets this state; the run's settlement takes it as its input. */
export const CANCELLED = { status: "cancelled", conclusion: "cancelled" } as const;

export type CancelPlan =
  | { kind: "noop"; reason: "no_such_job" | "nothing_open" | "terminal" | "already_requested" }
  | {
      kind: "cancel";
      /** Jobs that end `cancelled` now. */
      end: number[];
      /** Running jobs flagged `cancel_requested`; their runner stops and reports. */
      flag: number[];
      signals: Signal[];
      /** The settlement's input (job id → new state); null when nothing ends, so the run stays as it is. */
      settle: ReadonlyMap<number, typeof CANCELLED> | null;
      force: boolean;
      actor: CancelActor;
      at: Date;
    };

export type JobCancel =
  | { outcome: "noop"; reason: "terminal" | "already_requested" }
  /** Ends at once: a queued job (nothing runs it yet), or a running one under force. */
  | { outcome: "end_now" }
  /** A running job is flagged; its runner stops the container and reports `cancelled`. */
  | { outcome: "flag" };

/** One job's part. Force also ends a running job already flagged (its runner is not answering). */
export function decideJobCancel(job: { status: JobStatus; cancelRequested: boolean }, force: boolean): JobCancel {
  switch (job.status) {
    case "queued":
      return { outcome: "end_now" };
    case "running":
      if (force) return { outcome: "end_now" };
      return job.cancelRequested ? { outcome: "noop", reason: "already_requested" } : { outcome: "flag" };
    case "completed":
    case "cancelled":
    case "skipped":
      return { outcome: "noop", reason: "terminal" };
    default:
      return assertNever(job.status, "job status");
  }
}

function targeted(jobs: readonly CancelJobRow[], target: CancelTarget): CancelJobRow[] | null {
  switch (target.kind) {
    case "job": {
      const job = jobs.find((j) => j.id === target.jobId);
      return job ? [job] : null;
    }
    case "run":
      return [...jobs];
    case "jobs": {
      const want = new Set(target.jobIds.map(Number));
      return jobs.filter((j) => want.has(j.id));
    }
    default:
      return assertNever(target, "cancel target");
  }
}

/**
 * The whole cancel, on the locked run's jobs: which end now, which are flagged, which
 * runners to tell (flagged jobs, and running jobs ended now), and the settlement's input.
 * Terminal jobs are never touched, so a repeat is a no-op.
 */
export function planCancel(run: { id: number }, jobs: readonly CancelJobRow[], intent: CancelIntent): CancelPlan {
  const chosen = targeted(jobs, intent.target);
  if (chosen === null) return { kind: "noop", reason: "no_such_job" };
  const end: number[] = [];
  const flag: number[] = [];
  const noops = new Set<"terminal" | "already_requested">();
  for (const j of chosen) {
    const d = decideJobCancel({ status: j.status, cancelRequested: j.cancel_requested }, intent.force);
    switch (d.outcome) {
      case "noop":
        noops.add(d.reason);
        break;
      case "end_now":
        end.push(j.id);
        break;
      case "flag":
        flag.push(j.id);
        break;
      default:
        assertNever(d, "job cancel");
    }
  }
  if (end.length + flag.length === 0) return { kind: "noop", reason: noopReason(noops) };
  const byId = new Map(jobs.map((j) => [j.id, j]));
  const signalled = [...flag, ...end.filter((j) => byId.get(j)?.status === "running")];
  const signals = signalled.map((j): Signal => {
    const runner = byId.get(j)?.runner_id ?? null;
    return { jobId: BigInt(j), runId: BigInt(run.id), runnerId: runner === null ? null : BigInt(runner), requestedAt: intent.now, force: intent.force };
  });
  const settle = end.length === 0 ? null : new Map(end.map((j) => [j, CANCELLED]));
  return { kind: "cancel", end, flag, signals, settle, force: intent.force, actor: intent.actor, at: intent.now };
}

// A flagged job is the more telling reason: the cancel is still under way.
function noopReason(seen: ReadonlySet<"terminal" | "already_requested">): "nothing_open" | "terminal" | "already_requested" {
  if (seen.has("already_requested")) return "already_requested";
  return seen.has("terminal") ? "terminal" : "nothing_open";
}
