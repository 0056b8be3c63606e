import { assertNever } from "../../infra/assert.ts";
import type { Attempt, RepoCard } from "../data/github.ts";
import type { JobRow } from "../data/reads.ts";
import type { Conclusion } from "../lifecycle/types.ts";
import { jobState, jobView, runView, type JobContext, type Links } from "../github/views.ts";
import { headCommit, runRepository, runWorkflow, senderView, userOrNull, webhookRepository, type Person } from "./repository.ts";

// GitHub's `workflow_run` and `workflow_job` webhook payloads (its webhook schemas, as
// @octokit/openapi-webhooks publishes them), built from our rows: the REST views plus what
// a webhook adds. Pure: the caller reads the rows, already in the state of the event.

export type RunAction = "requested" | "in_progress" | "completed";
export type JobAction = "queued" | "in_progress" | "completed";

export interface RunEventContext {
  /** The chain's first run: GitHub's run id, number and creation. */
  original: Attempt;
  /** The attempt (our run row) the event is about, in the state of the event. */
  latest: Attempt;
  repo: RepoCard;
  /** Who caused the event; null when no one did (the repository's owner is sent then). */
  sender: Person | null;
  links: Links;
}

export interface JobEventContext {
  /** The job row, in the state of the event. */
  job: JobRow;
  ctx: JobContext;
  repo: RepoCard;
  sender: Person | null;
  links: Links;
}

/**
 * A run's status and conclusion as each action has them: GitHub's `requested` run is
 * `queued` (as its deliveries show), `in_progress` has no conclusion yet, `completed` must
 * have one. A completed event of a run without a conclusion is a caller's mistake: thrown,
 * not papered over.
 */
function runStateOf(action: RunAction, run: Attempt): { status: "queued" | "in_progress" | "completed"; conclusion: string | null } {
  switch (action) {
    case "requested": return { status: "queued", conclusion: null };
    case "in_progress": return { status: "in_progress", conclusion: null };
    case "completed":
      if (run.conclusion === null) throw new Error(`workflow_run completed: run ${run.id} has no conclusion`);
      return { status: "completed", conclusion: run.conclusion };
    default: return assertNever(action, "workflow_run action");
  }
}

export function workflowRunPayload(action: RunAction, c: RunEventContext) {
  const { original, latest, repo, links } = c;
  return {
    action,
    workflow_run: {
      ...runView(original, latest, repo, links),
      ...runStateOf(action, latest),
      // The webhook requires both present: null, not absent, when the run has no actor.
      actor: userOrNull(original.actor, links),
      triggering_actor: userOrNull(latest.actor, links),
      head_commit: headCommit(latest, repo),
      repository: runRepository(repo, links), head_repository: runRepository(repo, links),
    },
    workflow: runWorkflow(original, latest, repo, links),
    repository: webhookRepository(repo, links),
    sender: senderView(c.sender, repo, links),
  };
}

type JobState = { status: "queued" | "in_progress" | "completed"; conclusion: string | null; completed_at: string | null };

/**
 * A job's status, conclusion and completion as each action has them: queued and in_progress
 * have neither conclusion nor completion; completed has both, from the row (a terminal row
 * always has them, so their absence is a caller's mistake and throws).
 */
function jobStateOf(action: JobAction, job: JobRow): JobState {
  switch (action) {
    case "queued": return { status: "queued", conclusion: null, completed_at: null };
    case "in_progress": return { status: "in_progress", conclusion: null, completed_at: null };
    case "completed": {
      const { conclusion } = jobState(job.status, job.conclusion);
      if (conclusion === null || job.completedAt === null) throw new Error(`workflow_job completed: job ${job.id} (${job.status}) has no conclusion or completion time`);
      return { status: "completed", conclusion, completed_at: job.completedAt.toISOString() };
    }
    default: return assertNever(action, "workflow_job action");
  }
}

/**
 * A step's conclusion in the webhook's smaller vocabulary (failure, skipped, success,
 * cancelled): a step that timed out or wants action failed, a neutral one did not.
 */
function stepConclusion(c: string | null): "success" | "failure" | "skipped" | "cancelled" | null {
  if (c === null) return null;
  const ours = c as Conclusion;
  switch (ours) {
    case "success": case "failure": case "skipped": case "cancelled": return ours;
    case "timed_out": case "action_required": return "failure";
    case "neutral": return "success";
    default: return assertNever(ours, "step conclusion");
  }
}

export function workflowJobPayload(action: JobAction, c: JobEventContext) {
  const { job, repo, links } = c;
  const view = jobView(job, c.ctx, links);
  return {
    action,
    workflow_job: {
      ...view,
      ...jobStateOf(action, job),
      steps: view.steps.map((s) => ({ ...s, conclusion: stepConclusion(s.conclusion) })),
    },
    repository: webhookRepository(repo, links),
    sender: senderView(c.sender, repo, links),
  };
}
