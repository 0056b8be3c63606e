import { describe, expect, it } from "vitest";
import { parseWorkflow, type WorkflowSpec } from "../workflow/parse.ts";
import { supersedes, type NewJobRow } from "./newrun.ts";
import { buildRerun, type RerunBuild, type RerunInput, type RerunKind, type SourceJobState, type WorkflowLookup } from "./rerun.ts";
import type { Conclusion, JobStatus } from "./types.ts";

const NOW = new Date("2026-01-02T03:00:00Z");
const STARTED = new Date("2026-01-01T10:00:00Z");
const ENDED = new Date("2026-01-01T10:05:00Z");

/** "b:a,c" is job b needing a and c; every job has two steps. */
function wf(...specs: string[]): WorkflowLookup {
  const jobs = specs.map((s) => {
    const [key, needs] = s.split(":") as [string, string | undefined];
    return { key, name: key, runsOn: "linux", needs: needs ? needs.split(",") : [], timeoutMinutes: 360, steps: [{ name: "one", run: "1" }, { name: "two", run: "2" }] };
  });
  return { ok: true, workflow: { name: "CI", jobs } };
}

const statusOf = (c: Conclusion): JobStatus => (c === "cancelled" || c === "skipped" ? c : "completed");
/** "a=failure" is job a that ended completed/failure in the source, both steps with it. */
function src(...specs: string[]): SourceJobState[] {
  return specs.map((s) => {
    const [jobKey, c] = s.split("=") as [string, Conclusion];
    const step = (stepIndex: number) => ({ stepIndex, status: statusOf(c), conclusion: c, startedAt: STARTED, completedAt: ENDED });
    return { jobKey, status: statusOf(c), conclusion: c, startedAt: STARTED, completedAt: ENDED, steps: [step(0), step(1)] };
  });
}

function input(over: Partial<RerunInput> = {}): RerunInput {
  return {
    source: {
      id: 40n, repoId: 3n, status: "completed", workflowFile: ".shithub/workflows/ci.yml", headSha: "abc", headRef: "refs/heads/main",
      event: "push", eventPayload: '{"a":1}', attempt: 1, originalRunId: null,
    },
    chainLength: 0, limit: 5, workflow: wf("a"), jobs: [], scope: { kind: "full" }, actorUserId: 7n, now: NOW, nonce: "n0", ...over,
  };
}

/** Each new job as "key=status/conclusion", "+r" when reused. */
function jobsOf(b: RerunBuild): string[] | RerunBuild {
  if (b.kind === "refused") return b;
  return b.jobs.map((j) => `${j.job_key}=${j.status}/${j.conclusion ?? "-"}${j.reused ? "+r" : ""}`);
}

const FULL: RerunKind = { kind: "full" };
const FAILED: RerunKind = { kind: "failed" };
const job = (jobKey: string): RerunKind => ({ kind: "job", jobKey });

describe("buildRerun: the new run's jobs", () => {
  const rows: [string, WorkflowLookup, SourceJobState[], RerunKind, string[] | RerunBuild][] = [
    ["full: every job queued, whatever the source", wf("a", "b:a"), src("a=success", "b=failure"), FULL, ["a=queued/-", "b=queued/-"]],
    ["full: the source's jobs are not needed", wf("a", "b:a"), [], FULL, ["a=queued/-", "b=queued/-"]],
    [
      "failed: successes carried over, the failure and what needs it queued",
      wf("a", "b:a", "c:b"),
      src("a=success", "b=failure", "c=skipped"),
      FAILED,
      ["a=completed/success+r", "b=queued/-", "c=queued/-"],
    ],
    ["failed: a job missing from the source is queued", wf("a", "n"), src("a=success"), FAILED, ["a=completed/success+r", "n=queued/-"]],
    ["failed: every job succeeded", wf("a", "b:a"), src("a=success", "b=success"), FAILED, { kind: "refused", reason: "nothing_to_rerun" }],
    [
      "job: its needs that did not succeed run again first",
      wf("a", "b:a", "c:b", "x"),
      src("a=success", "b=failure", "c=skipped", "x=failure"),
      job("c"),
      ["a=completed/success+r", "b=queued/-", "c=queued/-", "x=completed/failure+r"],
    ],
    [
      "job: a dependent that needs a carried-over failure is skipped at once",
      wf("a", "b:a", "c:a", "d:b,c"),
      src("a=success", "b=success", "c=failure", "d=skipped"),
      job("b"),
      ["a=completed/success+r", "b=queued/-", "c=completed/failure+r", "d=skipped/skipped"],
    ],
    [
      "job: a cancelled job is carried over cancelled",
      wf("a", "b"),
      src("a=cancelled", "b=success"),
      job("b"),
      ["a=cancelled/cancelled+r", "b=queued/-"],
    ],
    ["job: a job missing from the source is queued too", wf("a", "n"), src("a=success"), job("a"), ["a=queued/-", "n=queued/-"]],
    ["job: not in the workflow", wf("a"), src("a=success", "gone=failure"), job("gone"), { kind: "refused", reason: "job_not_in_workflow", jobKey: "gone" }],
  ];
  it.each(rows)("%s", (_name, workflow, jobs, scope, want) => {
    expect(jobsOf(buildRerun(input({ workflow, jobs, scope })))).toEqual(want);
  });
});

describe("buildRerun: refusals, in order", () => {
  const rows: [string, Partial<RerunInput>, RerunBuild["kind"] | string][] = [
    ["a source still running", { source: { ...input().source, status: "running" } }, "not_rerunnable"],
    ["not completed comes before the limit", { source: { ...input().source, status: "queued" }, chainLength: 5 }, "not_rerunnable"],
    ["the chain at its limit", { chainLength: 5 }, "rerun_limit"],
    ["the limit comes before the source", { chainLength: 9, workflow: { ok: false, reason: "source_unavailable" } }, "rerun_limit"],
    ["one place left", { chainLength: 4 }, "rerun"],
    ["no workflow source at head_sha", { workflow: { ok: false, reason: "source_unavailable" } }, "source_unavailable"],
    ["an invalid workflow source", { workflow: { ok: false, reason: "source_invalid", errors: ["x"] } }, "source_invalid"],
    ["the source comes before the plan", { workflow: { ok: false, reason: "source_unavailable" }, scope: job("gone") }, "source_unavailable"],
  ];
  it.each(rows)("%s", (_name, over, want) => {
    const b = buildRerun(input(over));
    expect(b.kind === "refused" ? b.reason : b.kind).toBe(want);
  });

  it("keeps the parser's errors", () => {
    expect(buildRerun(input({ workflow: { ok: false, reason: "source_invalid", errors: ["a", "b"] } }))).toEqual({ kind: "refused", reason: "source_invalid", errors: ["a", "b"] });
  });
});

function built(over: Partial<RerunInput>) {
  const b = buildRerun(input(over));
  if (b.kind !== "rerun") throw new Error(`refused: ${b.reason}`);
  return b;
}

describe("buildRerun: the rows", () => {
  it("the run: the source's columns, the actor, one more attempt of the chain, a unique trigger", () => {
    expect(built({}).run).toEqual({
      repo_id: 3n, workflow_file: ".shithub/workflows/ci.yml", workflow_name: "CI", head_sha: "abc", head_ref: "refs/heads/main", event: "push",
      event_payload: '{"a":1}', actor_user_id: 7n, parent_run_id: 40n, trigger_event_id: "rerun:40:n0", attempt: 2, original_run_id: 40n,
      concurrency_group: null, cancel_in_progress: false,
    });
    const again = built({ source: { ...input().source, id: 41n, attempt: 2, originalRunId: 40n } }).run;
    expect(again).toMatchObject({ parent_run_id: 41n, attempt: 3, original_run_id: 40n, trigger_event_id: "rerun:41:n0" });
  });

  it("the jobs: the workflow's columns, matrix expansions and concurrency groups resolved against the source", () => {
    const parsed = parseWorkflow(`name: CI
on: push
concurrency: { group: "ci-\${{ github.ref }}", cancel-in-progress: true }
jobs:
  build: { runs-on: linux, strategy: { matrix: { node: [18, 20] }, max-parallel: 1 }, steps: [{ run: make }] }
  deploy: { needs: build, runs-on: big, timeout-minutes: 5, concurrency: "deploy-\${{ github.sha }}", steps: [{ run: ./deploy }] }
`);
    if (!parsed.ok) throw new Error(parsed.errors.join("; "));
    const b = built({ workflow: parsed });
    expect(b.run).toMatchObject({ concurrency_group: "ci-refs/heads/main", cancel_in_progress: true });
    expect(supersedes(b)).toBe(true);
    const row = (over: Partial<NewJobRow>) => ({
      runs_on: "linux", needs: [], timeout_minutes: 360, concurrency_group: null, cancel_in_progress: false, status: "queued", conclusion: null,
      started_at: null, completed_at: null, reused: false, matrix_key: null, max_parallel: null, fail_fast: false, ...over,
    });
    expect(b.jobs.map(({ steps: _s, ...j }) => j)).toEqual([
      row({ job_index: 0, job_key: "build (18)", name: "build (18)", matrix_key: "build", max_parallel: 1, fail_fast: true }),
      row({ job_index: 1, job_key: "build (20)", name: "build (20)", matrix_key: "build", max_parallel: 1, fail_fast: true }),
      row({ job_index: 2, job_key: "deploy", name: "deploy", runs_on: "big", needs: ["build (18)", "build (20)"], timeout_minutes: 5, concurrency_group: "deploy-abc" }),
    ]);
    expect(b.jobs[2]!.steps).toEqual([{ step_index: 0, name: "Run ./deploy", run: "./deploy", status: "queued", conclusion: null, started_at: null, completed_at: null }]);
  });

  it("a carried-over job keeps its times and its steps as they ended; a step that did not end, or is missing, is skipped", () => {
    const jobs: SourceJobState[] = [{
      jobKey: "a", status: "completed", conclusion: "success", startedAt: STARTED, completedAt: null,
      steps: [{ stepIndex: 0, status: "completed", conclusion: "success", startedAt: STARTED, completedAt: null }],
    }, ...src("b=failure")];
    const a = built({ workflow: wf("a", "b"), jobs, scope: FAILED }).jobs[0]!;
    expect(a).toMatchObject({ status: "completed", conclusion: "success", started_at: STARTED, completed_at: NOW, reused: true });
    expect(a.steps.map((s) => [s.status, s.conclusion, s.started_at, s.completed_at])).toEqual([
      ["completed", "success", STARTED, NOW],
      ["skipped", "skipped", null, NOW],
    ]);
    const running = { ...jobs[0]!, completedAt: ENDED, steps: [{ ...jobs[0]!.steps[0]!, status: "running" as const, conclusion: null }] };
    expect(built({ workflow: wf("a", "b"), jobs: [running, ...src("b=failure")], scope: FAILED }).jobs[0]!.steps.map((s) => s.status)).toEqual(["skipped", "skipped"]);
  });

  it("a job skipped at creation ends now, with every step skipped", () => {
    const d = built({ workflow: wf("a", "b", "d:a,b"), jobs: src("a=success", "b=failure", "d=skipped"), scope: job("a") }).jobs[2]!;
    expect(d).toMatchObject({ status: "skipped", conclusion: "skipped", started_at: null, completed_at: NOW, reused: false });
    expect(d.steps.map((s) => [s.status, s.completed_at])).toEqual([["skipped", NOW], ["skipped", NOW]]);
  });

  it("refuses to carry over a job that never ended (the source is completed, so it is corrupt)", () => {
    const jobs = [{ ...src("a=success")[0]!, status: "running" as const, conclusion: null }, ...src("b=failure")];
    expect(() => buildRerun(input({ workflow: wf("a", "b"), jobs, scope: job("b") }))).toThrow("source job a of run 40 is not terminal");
  });

  it("every rerun opens with a queued job (any scope, any source)", () => {
    const workflow = wf("a", "b:a", "c:a", "d:b,c", "e:d", "f");
    const keys = (workflow as { workflow: WorkflowSpec }).workflow.jobs.map((j) => j.key);
    const conclusions: Conclusion[] = ["success", "failure", "cancelled", "skipped"];
    for (let mask = 0; mask < 4 ** keys.length; mask += 7) {
      const jobs = src(...keys.map((k, i) => `${k}=${conclusions[Math.floor(mask / 4 ** i) % 4]!}`));
      for (const scope of [FULL, FAILED, ...keys.map(job)]) {
        const b = buildRerun(input({ workflow, jobs, scope }));
        if (b.kind === "refused") expect(b.reason).toBe("nothing_to_rerun");
        else expect(b.jobs.some((j) => j.status === "queued"), JSON.stringify(scope)).toBe(true);
      }
    }
  });
});
