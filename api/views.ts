import { num } from "../domain/ids.ts";
import type { JobRow, RunRow, StepRow } from "../domain/data/reads.ts";
import type { WaitingFor } from "../domain/data/waiting.ts";

// Read views of docs/api.md, "Reads": snake_case, RFC 3339 UTC or null, ids as numbers.

const iso = (d: Date | null) => (d === null ? null : d.toISOString());

/** `waiting`: what the job waits for while queued (domain/data/waiting.ts), null otherwise. */
export function jobView(j: JobRow, waiting: WaitingFor) {
  return {
    id: num(j.id),
    run_id: num(j.runId),
    job_key: j.jobKey,
    name: j.name,
    runs_on: j.runsOn,
    needs: j.needs,
    status: j.status,
    conclusion: j.conclusion,
    cancel_requested: j.cancelRequested,
    cancel_requested_at: iso(j.cancelRequestedAt),
    cancel_requested_by: j.cancelRequester ? { id: num(j.cancelRequester.id), login: j.cancelRequester.login } : null,
    cancel_requested_token_id: num(j.cancelRequestedTokenId),
    cancel_reason: j.cancelReason,
    runner_id: num(j.runnerId),
    started_at: iso(j.startedAt),
    completed_at: iso(j.completedAt),
    reused: j.reused,
    waiting_for: j.status === "queued" ? waiting : null,
  };
}

export function stepView(s: StepRow) {
  return {
    id: num(s.id),
    index: s.stepIndex,
    name: s.name,
    status: s.status,
    conclusion: s.conclusion,
    started_at: iso(s.startedAt),
    completed_at: iso(s.completedAt),
  };
}

/** A run without its jobs: what a list shows (docs/api.md, "Lists"). */
export function runSummaryView(r: RunRow) {
  return {
    id: num(r.id),
    repo_id: num(r.repoId),
    run_index: r.runIndex,
    workflow_file: r.workflowFile,
    workflow_name: r.workflowName,
    head_sha: r.headSha,
    head_ref: r.headRef,
    event: r.event,
    status: r.status,
    conclusion: r.conclusion,
    actor: r.actor ? { id: num(r.actor.id), login: r.actor.login } : null,
    parent_run_id: num(r.parentRunId),
    // The rerun chain: attempt 1 is the original run, which is its own original.
    attempt: r.attempt,
    original_run_id: num(r.originalRunId ?? r.id),
    created_at: r.createdAt.toISOString(),
    started_at: iso(r.startedAt),
    completed_at: iso(r.completedAt),
  };
}

export function runView(r: RunRow, jobs: JobRow[], waiting: ReadonlyMap<string, WaitingFor>) {
  return { ...runSummaryView(r), jobs: jobs.map((j) => jobView(j, waiting.get(j.id.toString()) ?? null)) };
}
