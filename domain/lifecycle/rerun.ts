import type { WorkflowSpec } from "../workflow/parse.ts";
import { newRunRows, type JobInit, type NewRun, type NewRunSeed } from "./newrun.ts";
import { planRerun, type RerunScope, type SourceJob } from "./rerunplan.ts";
import type { Conclusion, JobStatus, RunStatus } from "./types.ts";

// Every rerun (a whole run, its failed jobs, one job) is decided here, on what the shell
// read under the lock on the source's chain (docs/lifecycle.md, "Reruns"): whether it is
// refused, and every row of the new run. worker/processors/rerun-common.ts only reads,
// calls and writes.

/** The run a rerun starts from. */
export interface RerunSource {
  id: bigint;
  repoId: bigint;
  status: RunStatus;
  workflowFile: string;
  headSha: string;
  headRef: string;
  event: string;
  /** JSON text, copied as it is. */
  eventPayload: string;
  attempt: number;
  originalRunId: bigint | null;
}

/** A job of the source run as it ended, with its steps: what a partial rerun carries over. */
export interface SourceJobState extends SourceJob {
  startedAt: Date | null;
  completedAt: Date | null;
  steps: { stepIndex: number; status: JobStatus; conclusion: Conclusion | null; startedAt: Date | null; completedAt: Date | null }[];
}

/** The workflow file at the source's head_sha, parsed. */
export type WorkflowLookup =
  | { ok: true; workflow: WorkflowSpec }
  | { ok: false; reason: "source_unavailable" }
  | { ok: false; reason: "source_invalid"; errors: string[] };

/** `full` queues every job; the partial scopes are planRerun's. */
export type RerunKind = { kind: "full" } | RerunScope;

export interface RerunInput {
  source: RerunSource;
  /** Runs that already descend from the chain's original run, counted under its lock. */
  chainLength: number;
  /** RERUN_LIMIT. */
  limit: number;
  workflow: WorkflowLookup;
  /** The source's jobs; a full rerun carries nothing over and does not need them. */
  jobs: readonly SourceJobState[];
  scope: RerunKind;
  actorUserId: bigint;
  now: Date;
  /** Random, from the shell: makes the new run's trigger_event_id unique. */
  nonce: string;
}

export type RerunRefusal =
  | { kind: "refused"; reason: "not_rerunnable" | "rerun_limit" | "source_unavailable" | "nothing_to_rerun" }
  | { kind: "refused"; reason: "source_invalid"; errors: string[] }
  | { kind: "refused"; reason: "job_not_in_workflow"; jobKey: string };

export type RerunBuild = RerunRefusal | ({ kind: "rerun" } & NewRun);

type Ended = JobInit["status"];
const ended = (s: JobStatus): s is Ended => s === "completed" || s === "cancelled" || s === "skipped";

/** A job carried over as it ended in the source (a completed run, so every job and step of it is terminal). */
function carry(j: SourceJobState, runId: bigint, now: Date): JobInit {
  if (!ended(j.status) || j.conclusion === null) throw new Error(`source job ${j.jobKey} of run ${runId} is not terminal`);
  const completedAt = j.completedAt ?? now;
  const steps: JobInit["steps"] = [];
  for (const s of j.steps) {
    steps[s.stepIndex] = ended(s.status) && s.conclusion !== null
      ? { status: s.status, conclusion: s.conclusion, startedAt: s.startedAt, completedAt: s.completedAt ?? completedAt }
      : { status: "skipped", conclusion: "skipped", startedAt: null, completedAt };
  }
  return { status: j.status, conclusion: j.conclusion, startedAt: j.startedAt, completedAt, reused: true, steps };
}

/** The jobs that do not start queued: none for a full rerun, else what the plan carries over or skips. */
function initialJobs(i: RerunInput, workflow: WorkflowSpec): Map<string, JobInit> | RerunRefusal {
  const initial = new Map<string, JobInit>();
  if (i.scope.kind === "full") return initial;
  const plan = planRerun(workflow.jobs.map((j) => ({ jobKey: j.key, needs: j.needs })), i.jobs, i.scope);
  if (!plan.ok) {
    return plan.reason === "job_not_in_workflow" && i.scope.kind === "job"
      ? { kind: "refused", reason: "job_not_in_workflow", jobKey: i.scope.jobKey }
      : { kind: "refused", reason: "nothing_to_rerun" };
  }
  const byKey = new Map(i.jobs.map((j) => [j.jobKey, j]));
  for (const key of plan.reused) initial.set(key, carry(byKey.get(key)!, i.source.id, i.now));
  for (const key of plan.skipped) {
    initial.set(key, { status: "skipped", conclusion: "skipped", startedAt: null, completedAt: i.now, reused: false, steps: [] });
  }
  return initial;
}

function seedOf(i: RerunInput): NewRunSeed {
  const s = i.source;
  return {
    repoId: s.repoId, workflowFile: s.workflowFile, headSha: s.headSha, headRef: s.headRef, event: s.event, eventPayload: s.eventPayload,
    actorUserId: i.actorUserId, parentRunId: s.id, triggerEventId: `rerun:${s.id}:${i.nonce}`,
    attempt: s.attempt + 1, originalRunId: s.originalRunId ?? s.id,
  };
}

/**
 * The rerun, or why not. Checks, in order: the source is completed, its chain is below
 * the limit, the workflow source exists and is valid, the plan has something to run. The
 * new run opens queued with at least one queued job (planRerun refuses otherwise).
 */
export function buildRerun(i: RerunInput): RerunBuild {
  // A completed run never reopens, so its status needs no lock to be decided on.
  if (i.source.status !== "completed") return { kind: "refused", reason: "not_rerunnable" };
  if (i.chainLength >= i.limit) return { kind: "refused", reason: "rerun_limit" };
  const wf = i.workflow;
  if (!wf.ok) return wf.reason === "source_invalid" ? { kind: "refused", reason: wf.reason, errors: wf.errors } : { kind: "refused", reason: wf.reason };
  const initial = initialJobs(i, wf.workflow);
  if (!(initial instanceof Map)) return initial;
  return { kind: "rerun", ...newRunRows(seedOf(i), wf.workflow, initial) };
}
