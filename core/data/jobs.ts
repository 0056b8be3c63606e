import type { Tx } from "../db.ts";
import { decideReport, type Report } from "../lifecycle/report.ts";
import { settle } from "../lifecycle/settle.ts";
import type { Conclusion, JobStatus, RunStatus } from "../lifecycle/types.ts";
import { assertNever } from "../assert.ts";

export interface LockedRun {
  id: bigint;
  repo_id: bigint;
  status: RunStatus;
}

export interface LockedJob {
  id: bigint;
  run_id: bigint;
  status: JobStatus;
  conclusion: Conclusion | null;
  cancel_requested: boolean;
  cancel_requested_at: Date | null;
  force_cancelled: boolean;
  runner_id: bigint | null;
}

/**
 * Locks a job's run, then the job. Every writer takes the run lock first, so a
 * transaction that also touches sibling jobs (skipping dependents) can never deadlock
 * with one that holds a sibling and waits for the run.
 */
export async function lockJob(tx: Tx, jobId: bigint): Promise<{ run: LockedRun; job: LockedJob } | null> {
  const runs = await tx.$queryRaw<LockedRun[]>`
    SELECT r.id, r.repo_id, r.status::text AS status FROM workflow_runs r
    WHERE r.id = (SELECT run_id FROM workflow_jobs WHERE id = ${jobId}) FOR UPDATE`;
  const run = runs[0];
  if (!run) return null;
  const jobs = await tx.$queryRaw<LockedJob[]>`
    SELECT id, run_id, status::text AS status, conclusion::text AS conclusion, cancel_requested, cancel_requested_at, force_cancelled, runner_id
    FROM workflow_jobs WHERE id = ${jobId} FOR UPDATE`;
  const job = jobs[0];
  return job ? { run, job } : null;
}

export interface RunSettled {
  completed: boolean;
  conclusion: Conclusion | null;
}

/** Skips jobs that can no longer run and rolls the (locked) run up. */
export async function settleRun(tx: Tx, run: LockedRun, now: Date): Promise<RunSettled> {
  const jobs = await tx.workflowJob.findMany({
    where: { runId: run.id },
    select: { jobIndex: true, jobKey: true, needs: true, status: true, conclusion: true },
  });
  const s = settle(run.status, jobs);
  if (s.skip.length > 0) {
    const skipped = await tx.workflowJob.findMany({
      where: { runId: run.id, jobKey: { in: s.skip }, status: "queued" },
      select: { id: true },
    });
    await tx.workflowJob.updateMany({
      where: { id: { in: skipped.map((j) => j.id) }, status: "queued" },
      data: { status: "skipped", conclusion: "skipped", completedAt: now },
    });
    await closeOpenSteps(tx, skipped.map((j) => j.id), "skipped", now);
  }
  const r = s.run;
  if (r === null) return { completed: false, conclusion: null };
  switch (r.status) {
    case "queued":
      return { completed: false, conclusion: null };
    case "running":
      await tx.workflowRun.updateMany({
        where: { id: run.id, status: "queued" },
        data: { status: "running", startedAt: now },
      });
      return { completed: false, conclusion: null };
    case "completed": {
      const n = await tx.workflowRun.updateMany({
        where: { id: run.id, status: { not: "completed" } },
        data: { status: "completed", conclusion: r.conclusion, completedAt: now },
      });
      return { completed: n.count === 1, conclusion: n.count === 1 ? r.conclusion : null };
    }
    default:
      return assertNever(r, "roll-up");
  }
}

/**
 * Closes steps a job left open. A cancelled job cancels them; otherwise a step still
 * running takes the job's conclusion and the ones that never started are skipped.
 */
export async function closeOpenSteps(tx: Tx, jobIds: bigint[], jobStatus: "completed" | "cancelled" | "skipped", now: Date, conclusion?: Conclusion) {
  if (jobIds.length === 0) return;
  if (jobStatus === "cancelled" || jobStatus === "skipped") {
    await tx.workflowStep.updateMany({
      where: { jobId: { in: jobIds }, status: { in: ["queued", "running"] } },
      data: { status: jobStatus, conclusion: jobStatus, completedAt: now },
    });
    return;
  }
  await tx.workflowStep.updateMany({
    where: { jobId: { in: jobIds }, status: "running" },
    data: { status: "completed", conclusion: conclusion ?? "failure", completedAt: now },
  });
  await tx.workflowStep.updateMany({
    where: { jobId: { in: jobIds }, status: "queued" },
    data: { status: "skipped", conclusion: "skipped", completedAt: now },
  });
}

export type ReportApplied =
  /** `cancelRequestedAt`: on a report that ended the job, when a cancel had been requested (null if none). */
  | { kind: "ok"; changed: boolean; runCompleted: boolean; cancelRequestedAt?: Date | null }
  | { kind: "conflict"; message: string }
  | { kind: "not_found" };

/** Applies a runner's status report for a job it holds. */
export async function reportJobTx(tx: Tx, jobId: bigint, report: Report, now: Date): Promise<ReportApplied> {
  const locked = await lockJob(tx, jobId);
  if (!locked) return { kind: "not_found" };
  const { run, job } = locked;
  // Force-cancelled: whatever the runner says afterwards is accepted and changes nothing.
  const d = job.force_cancelled ? { outcome: "noop" as const } : decideReport(job, report);
  switch (d.outcome) {
    case "noop":
      return { kind: "ok", changed: false, runCompleted: false };
    case "conflict":
      return { kind: "conflict", message: `job ${d.message}` };
    case "start":
      await tx.workflowJob.update({ where: { id: jobId }, data: { status: "running", startedAt: now } });
      await settleRun(tx, run, now);
      return { kind: "ok", changed: true, runCompleted: false };
    case "finish": {
      await tx.workflowJob.update({
        where: { id: jobId },
        data: { status: d.status, conclusion: d.conclusion, completedAt: now },
      });
      await closeOpenSteps(tx, [jobId], d.status, now, d.conclusion);
      const settled = await settleRun(tx, run, now);
      return { kind: "ok", changed: true, runCompleted: settled.completed, cancelRequestedAt: job.cancel_requested_at };
    }
    default:
      return assertNever(d, "report decision");
  }
}
