import type { ConcurrencySpec, GroupContext, WorkflowSpec } from "../workflow/parse.ts";
import { resolveGroup } from "../workflow/parse.ts";
import type { Conclusion, JobStatus } from "./types.ts";

// A new run's rows, column by column, from the workflow and what starts it: every run (an
// operator's, a rerun's) is inserted from these values by domain/data/runs.ts, which only
// serializes them.

/** What starts a run, besides its workflow. */
export interface NewRunSeed {
  repoId: bigint;
  workflowFile: string;
  headSha: string;
  headRef: string;
  event: string;
  /** JSON text. */
  eventPayload: string;
  actorUserId: bigint | null;
  parentRunId: bigint | null;
  triggerEventId: string | null;
  /** Rerun chain (docs/decisions.md): attempt 1 and no original for an original run. */
  attempt?: number;
  originalRunId?: bigint | null;
}

type Ended = "completed" | "cancelled" | "skipped";

/**
 * A job's state at creation when it does not start queued: a partial rerun carries jobs
 * over from its source run (`reused`), or skips at once one that could never run.
 */
export interface JobInit {
  status: Ended;
  conclusion: Conclusion;
  startedAt: Date | null;
  completedAt: Date;
  reused: boolean;
  /** By step index; a step without an entry is skipped. */
  steps: { status: Ended; conclusion: Conclusion; startedAt: Date | null; completedAt: Date }[];
}

/** The workflow_runs row; it opens `queued`. */
export interface NewRunRow {
  repo_id: bigint;
  workflow_file: string;
  workflow_name: string;
  head_sha: string;
  head_ref: string;
  event: string;
  event_payload: string;
  actor_user_id: bigint | null;
  parent_run_id: bigint | null;
  trigger_event_id: string | null;
  attempt: number;
  original_run_id: bigint | null;
  concurrency_group: string | null;
  cancel_in_progress: boolean;
}

export interface NewStepRow {
  step_index: number;
  name: string;
  run: string;
  status: JobStatus;
  conclusion: Conclusion | null;
  started_at: Date | null;
  completed_at: Date | null;
}

export interface NewJobRow {
  job_index: number;
  job_key: string;
  name: string;
  runs_on: string;
  needs: string[];
  timeout_minutes: number;
  concurrency_group: string | null;
  cancel_in_progress: boolean;
  status: JobStatus;
  conclusion: Conclusion | null;
  started_at: Date | null;
  completed_at: Date | null;
  reused: boolean;
  /** A matrix expansion: what max-parallel and fail-fast count within (docs/workflows.md). */
  matrix_key: string | null;
  max_parallel: number | null;
  fail_fast: boolean;
  steps: NewStepRow[];
}

export interface NewRun {
  run: NewRunRow;
  /** In the workflow's order (job_index). */
  jobs: NewJobRow[];
}

/** The run's values the group expressions refer to (github.workflow is the stored workflow_name). */
export function groupContext(seed: { headRef: string; headSha: string; event: string }, workflowName: string): GroupContext {
  return { ref: seed.headRef, sha: seed.headSha, event: seed.event, workflow: workflowName };
}

/** The columns a run or job row gets for its `concurrency:` (none without one). */
export function groupColumns(spec: ConcurrencySpec | undefined, ctx: GroupContext) {
  if (!spec) return { concurrency_group: null, cancel_in_progress: false };
  return { concurrency_group: resolveGroup(spec.group, ctx), cancel_in_progress: spec.cancelInProgress };
}

/** Whether creating this run cancels older ones (`cancel-in-progress`), which needs the new run's id first. */
export const supersedes = (r: NewRun) => r.run.cancel_in_progress || r.jobs.some((j) => j.cancel_in_progress);

const SKIPPED = { status: "skipped", conclusion: "skipped", startedAt: null } as const;

function jobRow(j: WorkflowSpec["jobs"][number], index: number, ctx: GroupContext, init: JobInit | undefined): NewJobRow {
  const steps = j.steps.map((st, i): NewStepRow => {
    const s = init ? (init.steps[i] ?? { ...SKIPPED, completedAt: init.completedAt }) : undefined;
    return {
      step_index: i, name: st.name, run: st.run, status: s?.status ?? "queued", conclusion: s?.conclusion ?? null,
      started_at: s?.startedAt ?? null, completed_at: s?.completedAt ?? null,
    };
  });
  return {
    job_index: index, job_key: j.key, name: j.name, runs_on: j.runsOn, needs: j.needs, timeout_minutes: j.timeoutMinutes,
    ...groupColumns(j.concurrency, ctx),
    status: init?.status ?? "queued", conclusion: init?.conclusion ?? null, started_at: init?.startedAt ?? null,
    completed_at: init?.completedAt ?? null, reused: init?.reused ?? false,
    matrix_key: j.matrix?.key ?? null, max_parallel: j.matrix?.maxParallel ?? null, fail_fast: j.matrix?.failFast ?? false,
    steps,
  };
}

/** Every row of a new run; a job without an `initial` entry starts queued, as do its steps. */
export function newRunRows(seed: NewRunSeed, workflow: WorkflowSpec, initial?: ReadonlyMap<string, JobInit>): NewRun {
  const workflowName = workflow.name ?? seed.workflowFile.split("/").pop() ?? seed.workflowFile;
  const ctx = groupContext(seed, workflowName);
  const run: NewRunRow = {
    repo_id: seed.repoId, workflow_file: seed.workflowFile, workflow_name: workflowName, head_sha: seed.headSha, head_ref: seed.headRef,
    event: seed.event, event_payload: seed.eventPayload, actor_user_id: seed.actorUserId, parent_run_id: seed.parentRunId,
    trigger_event_id: seed.triggerEventId, attempt: seed.attempt ?? 1, original_run_id: seed.originalRunId ?? null,
    ...groupColumns(workflow.concurrency, ctx),
  };
  return { run, jobs: workflow.jobs.map((j, i) => jobRow(j, i, ctx, initial?.get(j.key))) };
}
