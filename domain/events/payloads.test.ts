import { describe, expect, it } from "vitest";
import type { Attempt, RepoCard, StepOf } from "../data/github.ts";
import type { JobRow } from "../data/reads.ts";
import { Links } from "../github/views.ts";
import { webhookSchemaErrors, expectWebhookShape } from "../../test/setup/webhook-schema.ts";
import { workflowJobPayload, workflowRunPayload, type JobAction, type JobEventContext, type RunAction, type RunEventContext } from "./payloads.ts";

// Each payload is checked as it goes on the wire (JSON), against GitHub's published webhook
// schema for its event and action.

const at = (min: number) => new Date(Date.UTC(2026, 11, 3, 9, min, 0));
const SHA = "3484a3fb816e0859fd6e1cea078d76385ff50625";
const alice = { id: 1n, login: "alice", siteAdmin: false };
const bob = { id: 2n, login: "bob" };
const carol = { id: 3n, login: "carol" };

const publicRepo: RepoCard = { id: 7n, name: "shop", private: false, archived: false, createdAt: at(0), runChains: 12, owner: alice };
const privateRepo: RepoCard = { ...publicRepo, id: 8n, name: "vault", private: true };
const linksOf = (r: RepoCard) => new Links("https://ci.example.test", { owner: r.owner.login, name: r.name });

function attempt(over: Partial<Attempt> = {}): Attempt {
  return {
    id: 41n, repoId: 7n, runIndex: 12, workflowFile: ".shithub/workflows/ci.yml", workflowName: "CI", headSha: SHA,
    headRef: "refs/heads/main", event: "push", status: "queued", conclusion: null, parentRunId: null,
    createdAt: at(1), startedAt: null, completedAt: null, actor: bob, attempt: 1, originalRunId: null, updatedAt: at(1), ...over,
  };
}
const original = attempt({ status: "completed", conclusion: "failure", startedAt: at(2), completedAt: at(9), updatedAt: at(9) });
const rerun = (over: Partial<Attempt>) => attempt({ id: 45n, attempt: 2, originalRunId: 41n, parentRunId: 41n, actor: carol, createdAt: at(20), updatedAt: at(20), ...over });

const runCtx = (latest: Attempt, over: Partial<RunEventContext> = {}): RunEventContext =>
  ({ original: latest.attempt === 1 ? latest : original, latest, repo: publicRepo, sender: latest.actor, links: linksOf(publicRepo), ...over });

const RUNS: [string, RunAction, RunEventContext][] = [
  ["a pushed run", "requested", runCtx(attempt())],
  ["a run started", "in_progress", runCtx(attempt({ status: "running", startedAt: at(2), updatedAt: at(2) }))],
  ["a run that failed", "completed", runCtx(original)],
  ["a scheduled run with no actor", "requested", runCtx(attempt({ actor: null, event: "schedule" }), { sender: null })],
  ["rerun attempt 2, started", "in_progress", runCtx(rerun({ status: "running", startedAt: at(21) }))],
  ["rerun attempt 2, cancelled", "completed", runCtx(rerun({ status: "completed", conclusion: "cancelled", startedAt: at(21), completedAt: at(22), updatedAt: at(22) }))],
  ["a private repository's run that succeeded", "completed", runCtx(attempt({ repoId: 8n, status: "completed", conclusion: "success", startedAt: at(2), completedAt: at(5) }), { repo: privateRepo, links: linksOf(privateRepo) })],
];

function job(over: Partial<JobRow> = {}): JobRow {
  return {
    id: 501n, runId: 41n, jobKey: "test", name: "test (ubuntu)", runsOn: "ubuntu-latest", needs: [], status: "queued", conclusion: null,
    cancelRequested: false, cancelRequestedAt: null, runnerId: null, startedAt: null, completedAt: null, reused: false,
    cancelReason: null, cancelRequestedTokenId: null, cancelRequester: null, createdAt: at(1), ...over,
  };
}
function step(number: number, status: string, conclusion: string | null, started: number | null, completed: number | null): StepOf {
  return { id: BigInt(900 + number), jobId: 501n, number, name: `step ${number}`, status, conclusion, startedAt: started === null ? null : at(started), completedAt: completed === null ? null : at(completed) };
}
const running = { status: "running", runnerId: 11n, startedAt: at(2) } as const;

function jobCtx(row: JobRow, steps: StepOf[], over: Partial<JobEventContext> = {}, latest = attempt()): JobEventContext {
  return {
    job: row, ctx: { attempt: latest, originalId: latest.originalRunId ?? latest.id, steps, runnerName: row.runnerId === null ? null : "runner-a" },
    repo: publicRepo, sender: null, links: linksOf(publicRepo), ...over,
  };
}

const JOBS: [string, JobAction, JobEventContext][] = [
  ["a queued job without a runner", "queued", jobCtx(job(), [step(1, "queued", null, null, null), step(2, "queued", null, null, null)])],
  ["a job picked up", "in_progress", jobCtx(job(running), [step(1, "completed", "success", 2, 3), step(2, "running", null, 3, null)])],
  ["a job that succeeded", "completed", jobCtx(job({ ...running, status: "completed", conclusion: "success", completedAt: at(5) }), [step(1, "completed", "success", 2, 3), step(2, "completed", "neutral", 3, 5)])],
  ["a job that failed", "completed", jobCtx(job({ ...running, status: "completed", conclusion: "failure", completedAt: at(5) }), [step(1, "completed", "failure", 2, 5), step(2, "skipped", "skipped", null, 5)])],
  ["a job that timed out", "completed", jobCtx(job({ ...running, status: "completed", conclusion: "timed_out", completedAt: at(8) }), [step(1, "completed", "timed_out", 2, 8)])],
  ["a cancelled job", "completed", jobCtx(job({ ...running, status: "cancelled", conclusion: "cancelled", completedAt: at(4) }), [step(1, "cancelled", "cancelled", 2, 4)], { sender: bob })],
  ["a skipped job that never had a runner", "completed", jobCtx(job({ status: "skipped", conclusion: "skipped", completedAt: at(3) }), [step(1, "skipped", "skipped", null, 3)])],
  ["rerun attempt 2's job", "in_progress", jobCtx(job({ ...running, id: 777n, runId: 45n, startedAt: at(21) }), [], { sender: carol }, rerun({ status: "running" }))],
  ["a private repository's queued job", "queued", jobCtx(job(), [], { repo: privateRepo, links: linksOf(privateRepo) })],
];

const wire = (payload: unknown) => JSON.parse(JSON.stringify(payload)) as Record<string, any>;
const runKey = (a: RunAction) => `workflow-run-${a.replace("_", "-")}`;
const jobKey = (a: JobAction) => `workflow-job-${a.replace("_", "-")}`;

describe("workflow_run payloads", () => {
  it.each(RUNS)("%s (%s) is GitHub's webhook payload", (_, action, c) => {
    const p = wire(workflowRunPayload(action, c));
    expectWebhookShape(runKey(action), p);
    expect(p.action).toBe(action);
    const { status, conclusion } = p.workflow_run;
    if (action === "completed") expect([status, conclusion]).toEqual(["completed", c.latest.conclusion]);
    else expect([status, conclusion]).toEqual([action === "requested" ? "queued" : "in_progress", null]);
  });

  it("names the chain: the original's id and number, the latest attempt's count and previous attempt", () => {
    const p = wire(workflowRunPayload("completed", RUNS[5]![2]));
    expect(p.workflow_run).toMatchObject({ id: 41, run_number: 12, run_attempt: 2, check_suite_id: 45, previous_attempt_url: expect.stringMatching(/\/runs\/41\/attempts\/1$/) });
    expect([p.workflow_run.actor.login, p.workflow_run.triggering_actor.login, p.sender.login]).toEqual(["bob", "carol", "carol"]);
    expect(p.workflow).toMatchObject({ id: p.workflow_run.workflow_id, path: ".shithub/workflows/ci.yml", name: "CI" });
  });

  it("with no actor: actors are null and the sender is the repository's owner", () => {
    const p = wire(workflowRunPayload("requested", RUNS[3]![2]));
    expect([p.workflow_run.actor, p.workflow_run.triggering_actor, p.sender.login]).toEqual([null, null, "alice"]);
  });

  it("a private repository says so", () => {
    const p = wire(workflowRunPayload("completed", RUNS[6]![2]));
    expect([p.repository.private, p.repository.visibility, p.workflow_run.repository.private]).toEqual([true, "private", true]);
  });

  it("refuses a completed event of a run without a conclusion", () => {
    expect(() => workflowRunPayload("completed", runCtx(attempt({ status: "running" })))).toThrow(/has no conclusion/);
  });
});

describe("workflow_job payloads", () => {
  it.each(JOBS)("%s (%s) is GitHub's webhook payload", (_, action, c) => {
    const p = wire(workflowJobPayload(action, c));
    expectWebhookShape(jobKey(action), p);
    const { status, conclusion, completed_at } = p.workflow_job;
    if (action === "completed") {
      expect(status).toBe("completed");
      expect(conclusion).toBe(c.job.conclusion);
      expect(completed_at).toBe(c.job.completedAt!.toISOString());
    } else expect([status, conclusion, completed_at]).toEqual([action, null, null]);
  });

  it("names the GitHub run and attempt, the runner, and the sender (the owner when no one)", () => {
    const rerunJob = wire(workflowJobPayload("in_progress", JOBS[7]![2])).workflow_job;
    expect(rerunJob).toMatchObject({ id: 777, run_id: 41, run_attempt: 2, runner_id: 11, runner_name: "runner-a", labels: ["ubuntu-latest"] });
    const queued = wire(workflowJobPayload("queued", JOBS[0]![2]));
    expect([queued.workflow_job.runner_id, queued.workflow_job.runner_name, queued.sender.login]).toEqual([null, null, "alice"]);
    expect(wire(workflowJobPayload("completed", JOBS[5]![2])).sender.login).toBe("bob");
  });

  it("steps in the webhook's vocabulary: timed out is a failure, neutral a success", () => {
    const steps = (i: number) => wire(workflowJobPayload("completed", JOBS[i]![2])).workflow_job.steps.map((s: { conclusion: string }) => s.conclusion);
    expect([steps(2), steps(3), steps(4), steps(5)]).toEqual([["success", "success"], ["failure", "skipped"], ["failure"], ["cancelled"]]);
  });

  it("refuses a completed event of a job still running", () => {
    expect(() => workflowJobPayload("completed", JOBS[1]![2])).toThrow(/has no conclusion/);
  });
});

// The oracle itself must be able to say no: each of these fields GitHub requires, dropped
// from a payload that passes, fails it.
describe("a payload missing a field GitHub requires fails", () => {
  const dropped: [string, () => Record<string, any>, string[]][] = [
    [runKey("requested"), () => wire(workflowRunPayload("requested", RUNS[0]![2])), ["sender", "workflow", "workflow_run.head_commit", "workflow_run.actor", "repository.default_branch"]],
    [runKey("in_progress"), () => wire(workflowRunPayload("in_progress", RUNS[1]![2])), ["workflow_run.head_commit.tree_id", "workflow.badge_url", "workflow_run.head_repository"]],
    [runKey("completed"), () => wire(workflowRunPayload("completed", RUNS[2]![2])), ["workflow_run.triggering_actor", "repository.owner.site_admin", "workflow_run.pull_requests"]],
    [jobKey("queued"), () => wire(workflowJobPayload("queued", JOBS[0]![2])), ["workflow_job.runner_name", "workflow_job.steps.0.started_at", "repository.clone_url", "sender"]],
    [jobKey("in_progress"), () => wire(workflowJobPayload("in_progress", JOBS[1]![2])), ["workflow_job.runner_group_id", "workflow_job.head_branch"]],
    [jobKey("completed"), () => wire(workflowJobPayload("completed", JOBS[3]![2])), ["workflow_job.conclusion", "workflow_job.completed_at", "workflow_job.labels"]],
  ];
  const cases = dropped.flatMap(([key, build, paths]) => paths.map((path) => [key, path, build] as const));

  it.each(cases)("%s without %s", (key, path, build) => {
    const p = build();
    expect(webhookSchemaErrors(key, p)).toEqual([]);
    const parts = path.split(".");
    const holder = parts.slice(0, -1).reduce<Record<string, any>>((o, k) => o[k], p);
    expect(parts.at(-1)! in holder).toBe(true);
    delete holder[parts.at(-1)!];
    expect(webhookSchemaErrors(key, p).join("\n")).toMatch(/must have required property|must be/);
  });
});
