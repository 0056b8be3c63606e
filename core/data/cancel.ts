import type { Tx } from "../db.ts";
import { decideCancel } from "../lifecycle/cancel.ts";
import type { Conclusion, JobStatus } from "../lifecycle/types.ts";
import { assertNever } from "../assert.ts";
import { closeOpenSteps, lockJob, settleRun, type LockedRun } from "./jobs.ts";

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

const requested = (a: CancelActor, now: Date) => ({
  cancelRequested: true, cancelRequestedAt: now, cancelRequestedBy: a.userId,
  cancelRequestedTokenId: a.tokenId, cancelReason: a.reason,
});

interface OpenJob {
  id: bigint;
  status: JobStatus;
  cancel_requested: boolean;
  runner_id: bigint | null;
}

/**
 * Cancels the given open jobs of one locked run: queued ones end at once, running ones
 * are flagged and their runners signalled. With `force`, running ones end at once too
 * (the runner is told to kill without grace, and its later report changes nothing).
 */
async function cancelJobsOfRun(tx: Tx, run: LockedRun, jobs: OpenJob[], actor: CancelActor, now: Date, force: boolean): Promise<Cancelled> {
  const endNow: bigint[] = [];
  const flag: OpenJob[] = [];
  for (const j of jobs) {
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
  const running = new Map(jobs.filter((j) => j.status === "running").map((j) => [j.id, j]));
  if (endNow.length > 0) {
    await tx.workflowJob.updateMany({
      where: { id: { in: endNow }, status: { in: ["queued", "running"] } },
      data: { status: "cancelled", conclusion: "cancelled", completedAt: now, forceCancelled: force, ...requested(actor, now) },
    });
    await closeOpenSteps(tx, endNow, "cancelled", now);
  }
  if (flag.length > 0) {
    await tx.workflowJob.updateMany({ where: { id: { in: flag.map((j) => j.id) }, cancelRequested: false }, data: requested(actor, now) });
  }
  const signalled = [...flag.map((j) => j.id), ...endNow.filter((id) => running.has(id))];
  const signals = signalled.map((id) => ({ jobId: id, runId: run.id, runnerId: running.get(id)?.runner_id ?? null, requestedAt: now, force }));
  const settled = endNow.length > 0 ? await settleRun(tx, run, now) : { completed: false, conclusion: null };
  return { runId: run.id, repoId: run.repo_id, changedJobs: endNow.length + flag.length, runCompleted: settled.completed, runConclusion: settled.conclusion, signals };
}

/** One job, as POST /jobs/{id}/cancel. Null when the job does not exist. */
export async function cancelJobTx(tx: Tx, jobId: bigint, actor: CancelActor, now: Date): Promise<(Cancelled & { jobId: bigint }) | null> {
  const locked = await lockJob(tx, jobId);
  if (!locked) return null;
  const { run, job } = locked;
  const open = job.status === "queued" || job.status === "running" ? [job] : [];
  return { jobId, ...(await cancelJobsOfRun(tx, run, open, actor, now, false)) };
}

/** Every open job of a run, as POST /runs/{id}/cancel and /force-cancel. Null when the run does not exist. */
export async function cancelRunTx(tx: Tx, runId: bigint, actor: CancelActor, now: Date, force: boolean): Promise<Cancelled | null> {
  const runs = await tx.$queryRaw<LockedRun[]>`
    SELECT id, repo_id, status::text AS status FROM workflow_runs WHERE id = ${runId} FOR UPDATE`;
  const run = runs[0];
  if (!run) return null;
  // Run first, then its jobs in id order: the same order every writer takes.
  const jobs = await tx.$queryRaw<OpenJob[]>`
    SELECT id, status::text AS status, cancel_requested, runner_id FROM workflow_jobs
    WHERE run_id = ${runId} AND status IN ('queued', 'running') ORDER BY id FOR UPDATE`;
  return cancelJobsOfRun(tx, run, jobs, actor, now, force);
}
