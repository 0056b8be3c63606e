import type { IntentPayload } from "../../core/contracts.ts";
import { createRun, loadWorkflowAt, rerunTriggerId, type JobInit } from "../../core/data/runs.ts";
import { num } from "../../core/ids.ts";
import { planRerun, type RerunScope } from "../../core/lifecycle/rerunplan.ts";
import { rollUp } from "../../core/lifecycle/settle.ts";
import type { Conclusion, JobStatus } from "../../core/lifecycle/types.ts";
import type { Prisma, Tx } from "../../core/db.ts";
import { DEFAULT_RERUN_LIMIT, rejected, type Applied, type ProcessorDeps } from "../intent.ts";
import { publishSignals } from "./signals.ts";

// What the three reruns share: the source checks, the rerun chain and its limit, the
// workflow at the source's head_sha, and the new run (whole, or partial with a plan).

export interface SourceRun {
  id: bigint;
  repoId: bigint;
  status: string;
  workflowFile: string;
  headSha: string;
  headRef: string;
  event: string;
  eventPayload: unknown;
  attempt: number;
  originalRunId: bigint | null;
}

type Terminal = "completed" | "cancelled" | "skipped";
const terminal = (s: JobStatus): s is Terminal => s === "completed" || s === "cancelled" || s === "skipped";

/**
 * The chain's next attempt, or null when the chain already holds `limit` reruns. The
 * original run's row lock serializes every rerun of one chain, so two racing reruns
 * cannot both take the last place (READ COMMITTED: the count after the lock sees the
 * other's committed run).
 */
async function nextAttempt(tx: Tx, src: SourceRun, limit: number): Promise<{ attempt: number; originalRunId: bigint } | null> {
  const originalRunId = src.originalRunId ?? src.id;
  await tx.$queryRaw`SELECT id FROM workflow_runs WHERE id = ${originalRunId} FOR UPDATE`;
  const reruns = await tx.workflowRun.count({ where: { originalRunId } });
  return reruns >= limit ? null : { attempt: src.attempt + 1, originalRunId };
}

/**
 * A new run from `src`: every job queued (`scope` null), or a partial rerun where the
 * plan says which jobs run again and the rest are carried over. Checks, in order: the
 * source is completed (409), the chain is below its limit (409), the workflow source
 * exists (409) and is valid (422), the plan has something to run (409).
 */
export async function rerunFrom(tx: Tx, deps: ProcessorDeps, p: IntentPayload, src: SourceRun, now: Date, scope: RerunScope | null): Promise<Applied> {
  // A completed run never reopens, so its status needs no lock to be decided on.
  if (src.status !== "completed") return rejected("not_rerunnable", "run is not rerunnable");
  const chain = await nextAttempt(tx, src, deps.rerunLimit ?? DEFAULT_RERUN_LIMIT);
  if (!chain) return rejected("rerun_limit", "rerun limit reached");
  const wf = await loadWorkflowAt(tx, src.repoId, src.workflowFile, src.headSha);
  if (!wf.ok) {
    return wf.reason === "source_unavailable"
      ? rejected("source_unavailable", "workflow source unavailable")
      : rejected("source_invalid", `workflow source invalid: ${wf.errors.join("; ")}`);
  }

  let initial: Map<string, JobInit> | undefined;
  if (scope) {
    const sourceJobs = await tx.workflowJob.findMany({
      where: { runId: src.id },
      select: {
        jobKey: true, status: true, conclusion: true, startedAt: true, completedAt: true,
        steps: { select: { stepIndex: true, status: true, conclusion: true, startedAt: true, completedAt: true } },
      },
    });
    const plan = planRerun(wf.workflow.jobs.map((j) => ({ jobKey: j.key, needs: j.needs })), sourceJobs, scope);
    if (!plan.ok) {
      return plan.reason === "nothing_to_rerun"
        ? rejected("no_failed_jobs", "run has no failed jobs")
        : rejected("source_invalid", `workflow source invalid: job ${scope.kind === "job" ? scope.jobKey : ""} is not in the workflow`);
    }
    initial = new Map();
    const byKey = new Map(sourceJobs.map((j) => [j.jobKey, j]));
    for (const key of plan.reused) {
      const j = byKey.get(key)!;
      // The source run is completed, so each of its jobs (and steps) is terminal.
      if (!terminal(j.status) || j.conclusion === null) throw new Error(`source job ${key} of run ${src.id} is not terminal`);
      const steps: JobInit["steps"] = [];
      for (const s of j.steps) {
        steps[s.stepIndex] = terminal(s.status) && s.conclusion !== null
          ? { status: s.status, conclusion: s.conclusion, startedAt: s.startedAt, completedAt: s.completedAt ?? j.completedAt ?? now }
          : { status: "skipped", conclusion: "skipped", startedAt: null, completedAt: j.completedAt ?? now };
      }
      initial.set(key, { status: j.status, conclusion: j.conclusion, startedAt: j.startedAt, completedAt: j.completedAt ?? now, reused: true, steps });
    }
    for (const key of plan.skipped) {
      initial.set(key, { status: "skipped", conclusion: "skipped", startedAt: null, completedAt: now, reused: false, steps: [] });
    }
  }

  const run = await createRun(
    tx,
    {
      repoId: src.repoId,
      workflowFile: src.workflowFile,
      headSha: src.headSha,
      headRef: src.headRef,
      event: src.event,
      eventPayload: src.eventPayload as Prisma.InputJsonValue,
      actorUserId: BigInt(p.actorUserId),
      parentRunId: src.id,
      triggerEventId: rerunTriggerId(src.id),
      attempt: chain.attempt,
      originalRunId: chain.originalRunId,
    },
    wf.workflow,
    initial,
  );
  if (initial) {
    // Nothing left to run (no plan does this today, but the run must never stay open
    // without an open job): roll it up at once.
    const views = wf.workflow.jobs.map((j, i) => {
      const init = initial.get(j.key);
      return { jobIndex: i, jobKey: j.key, needs: j.needs, status: (init?.status ?? "queued") as JobStatus, conclusion: (init?.conclusion ?? null) as Conclusion | null };
    });
    const state = rollUp("queued", views);
    if (state.status === "completed") {
      await tx.workflowRun.update({ where: { id: run.id }, data: { status: "completed", conclusion: state.conclusion, completedAt: now } });
    }
  }
  return {
    // `concurrency: cancel-in-progress` may have cancelled older runs: tell their runners.
    afterCommit: publishSignals(deps, run.signals, p.requestId),
    result: {
      ok: true,
      body: {
        run_id: num(run.id),
        run_index: run.runIndex,
        parent_run_id: num(src.id),
        repo_id: num(src.repoId),
        workflow_file: src.workflowFile,
        head_sha: src.headSha,
      },
    },
  };
}
