import { describe, expect, it } from "vitest";
import * as ops from "../admin/ops.ts";
import type { Conclusion } from "../domain/lifecycle/types.ts";
import { fingerprint } from "./setup/fingerprint.ts";
import { worldSuite } from "./setup/suite.ts";
import { call, claim, ONE_JOB, pushAndRun, registerTestRunner } from "./setup/world.ts";

// POST /runs/{id}/rerun-failed-jobs, POST /jobs/{id}/rerun, and the rerun chain (attempt,
// original run, RERUN_LIMIT) shared with POST /runs/{id}/rerun.

const LIMIT = 4;
const s = worldSuite("reruns", { rerunLimit: LIMIT });

// ---- A lab: a runner of its own label, so each test claims only its own jobs ----

let labs = 0;
/** A workflow whose jobs run on `label`; `jobs` maps each job to what it needs. */
function workflow(label: string, jobs: Record<string, string[]>): string {
  const body = Object.entries(jobs)
    .map(([k, needs]) => `  ${k}:\n    runs-on: ${label}\n${needs.length > 0 ? `    needs: [${needs.join(", ")}]\n` : ""}    steps:\n      - name: ${k} one\n        run: echo ${k}\n      - run: echo done\n`)
    .join("");
  return `name: Lab\non: push\njobs:\n${body}`;
}

async function lab(jobs: Record<string, string[]>) {
  const label = `lab${++labs}`;
  const runner = await registerTestRunner(s.db.prisma, `reruns-${label}`, [label], 8);
  const sha = `ab${String(labs).padStart(6, "0")}`;
  const source = workflow(label, jobs);
  return {
    label,
    sha,
    /** A new original run of the lab's workflow. */
    start: () => pushAndRun(s.db.prisma, "alice/demo", source, sha),
    /**
     * Plays the run through the runner protocol: each job, in file order, ends with its
     * outcome (steps reported too); jobs not named, or already ended, are left alone;
     * "cancel" cancels a queued job through the user API.
     */
    async play(runId: number, outcomes: Record<string, Conclusion | "cancel">) {
      const run = await runWithJobs(runId);
      for (const j of run.jobs) {
        const outcome = outcomes[j.jobKey];
        if (outcome === undefined) continue;
        const now = await s.db.prisma.workflowJob.findUniqueOrThrow({ where: { id: j.id } });
        if (now.status !== "queued") continue;
        if (outcome === "cancel") {
          expect((await call(s.stack.url, "POST", `/api/v1/jobs/${j.id}/cancel`, { token: s.world.tokens.alice })).status).toBe(202);
          continue;
        }
        const c = await claim(s.stack.url, runner.token);
        expect(c.status, `claim ${j.jobKey}`).toBe(200);
        expect(c.body.job.id, `the runner claimed ${c.body.job.job_key} instead of ${j.jobKey}`).toBe(Number(j.id));
        for (const [i, st] of (c.body.job.steps as { id: number }[]).entries()) {
          const stepConclusion = i === c.body.job.steps.length - 1 ? outcome : "success";
          const r = await call(s.stack.url, "POST", `/api/v1/jobs/${j.id}/steps/${st.id}/status`, { token: c.body.token, body: { status: "completed", conclusion: stepConclusion } });
          expect(r.status).toBe(200);
        }
        const r = await call(s.stack.url, "POST", `/api/v1/jobs/${j.id}/status`, { token: c.body.token, body: { status: "completed", conclusion: outcome } });
        expect(r.status).toBe(200);
      }
      return runWithJobs(runId);
    },
    /** Nothing of this lab is claimable any more. */
    async idle() {
      expect((await claim(s.stack.url, runner.token)).status).toBe(204);
    },
  };
}

const runWithJobs = (id: number) =>
  s.db.prisma.workflowRun.findUniqueOrThrow({
    where: { id: BigInt(id) },
    include: { jobs: { orderBy: { jobIndex: "asc" }, include: { steps: { orderBy: { stepIndex: "asc" } }, tokens: true } } },
  });

const post = (path: string, token: string | undefined = s.world.tokens.bob, headers: Record<string, string> = {}, body?: unknown) =>
  call(s.stack.url, "POST", path, { token, headers, body });
const rerunFailed = (runId: number, token?: string, headers?: Record<string, string>) => post(`/api/v1/runs/${runId}/rerun-failed-jobs`, token, headers);
const rerunJob = (jobId: number, token?: string, headers?: Record<string, string>) => post(`/api/v1/jobs/${jobId}/rerun`, token, headers);
const rerunRun = (runId: number, token?: string) => post(`/api/v1/runs/${runId}/rerun`, token);
const getRun = (id: number) => call(s.stack.url, "GET", `/api/v1/runs/${id}`, { token: s.world.tokens.carol });

/** [job_key, status, conclusion, reused] of each job, in order. */
const shape = (run: Awaited<ReturnType<typeof runWithJobs>>) => run.jobs.map((j) => [j.jobKey, j.status, j.conclusion, j.reused]);
const jobIdOf = (run: Awaited<ReturnType<typeof runWithJobs>>, key: string) => Number(run.jobs.find((j) => j.jobKey === key)!.id);
/** A completed original run of ONE_JOB (its job cancelled while queued). */
async function cancelledRun(repo = "alice/demo", sha = `cc${Math.random().toString(16).slice(2, 10)}`) {
  const r = await pushAndRun(s.db.prisma, repo, ONE_JOB, sha);
  for (const id of r.job_ids) expect((await post(`/api/v1/jobs/${id}/cancel`, s.world.tokens.alice)).status).toBe(202);
  return r;
}
const childrenOf = (runId: number) => s.db.prisma.workflowRun.count({ where: { parentRunId: BigInt(runId) } });

describe("POST /runs/{id}/rerun-failed-jobs", () => {
  it("carries over the jobs that succeeded and runs only the failed ones and what needs them", async () => {
    const l = await lab({ build: [], lint: [], test: ["build"], deploy: ["test", "lint"] });
    const src = await l.start();
    const played = await l.play(src.run_id, { build: "success", lint: "success", test: "failure" });
    expect(played).toMatchObject({ status: "completed", conclusion: "failure" });
    expect(shape(played)).toEqual([
      ["build", "completed", "success", false],
      ["lint", "completed", "success", false],
      ["test", "completed", "failure", false],
      ["deploy", "skipped", "skipped", false],
    ]);

    const res = await rerunFailed(src.run_id);
    expect(res.status).toBe(201);
    expect(res.body).toEqual({
      run_id: expect.any(Number), run_index: played.runIndex + 1, parent_run_id: src.run_id,
      repo_id: s.world.repos.pub.id, workflow_file: ".shithub/workflows/ci.yml", head_sha: l.sha,
    });
    const created = await runWithJobs(res.body.run_id);
    expect(created).toMatchObject({ status: "queued", conclusion: null, startedAt: null, parentRunId: played.id, attempt: 2, originalRunId: played.id });
    expect(created.triggerEventId).toMatch(new RegExp(`^rerun:${src.run_id}:[0-9a-f]{16}$`));
    expect(shape(created)).toEqual([
      ["build", "completed", "success", true],
      ["lint", "completed", "success", true],
      ["test", "queued", null, false],
      ["deploy", "queued", null, false],
    ]);
    for (const key of ["build", "lint"]) {
      const [was, now] = [played, created].map((r) => r.jobs.find((j) => j.jobKey === key)!);
      // Carried over as it ended, not executed: same times, no runner, no job token.
      expect(now).toMatchObject({ startedAt: was!.startedAt, completedAt: was!.completedAt, runnerId: null, tokens: [] });
      expect(now!.steps.map((st) => [st.stepIndex, st.status, st.conclusion])).toEqual([[0, "completed", "success"], [1, "completed", "success"]]);
      expect(now!.steps.map((st) => st.completedAt)).toEqual(was!.steps.map((st) => st.completedAt));
    }
    for (const key of ["test", "deploy"]) {
      const job = created.jobs.find((j) => j.jobKey === key)!;
      expect(job).toMatchObject({ startedAt: null, completedAt: null, runnerId: null });
      expect(job.steps.map((st) => st.status)).toEqual(["queued", "queued"]);
    }

    // The read view shows the chain and the reused flags.
    const view = await getRun(res.body.run_id);
    expect(view.status).toBe(200);
    expect(view.body).toMatchObject({ parent_run_id: src.run_id, attempt: 2, original_run_id: src.run_id, status: "queued" });
    expect(view.body.jobs.map((j: any) => [j.job_key, j.reused])).toEqual([["build", true], ["lint", true], ["test", false], ["deploy", false]]);
    const job = await call(s.stack.url, "GET", `/api/v1/jobs/${jobIdOf(created, "build")}`, { token: s.world.tokens.carol });
    expect(job.body).toMatchObject({ reused: true, status: "completed", conclusion: "success" });
    expect((await getRun(src.run_id)).body).toMatchObject({ parent_run_id: null, attempt: 1, original_run_id: src.run_id });

    // The claim treats a carried-over success as a met need: test runs, then deploy; build never.
    const done = await l.play(res.body.run_id, { test: "success", deploy: "success" });
    expect(done).toMatchObject({ status: "completed", conclusion: "success" });
    expect(done.startedAt).not.toBeNull();
    expect(shape(done)).toEqual([
      ["build", "completed", "success", true],
      ["lint", "completed", "success", true],
      ["test", "completed", "success", false],
      ["deploy", "completed", "success", false],
    ]);
    expect(done.jobs.filter((j) => j.reused).every((j) => j.runnerId === null && j.tokens.length === 0)).toBe(true);
    await l.idle();
  });

  it("queues cancelled, timed-out and skipped jobs too, and a job missing from the source", async () => {
    const l = await lab({ a: [], b: [], c: [], d: ["c"], e: [] });
    const src = await l.start();
    const played = await l.play(src.run_id, { a: "success", b: "timed_out", c: "cancel", e: "success" });
    expect(shape(played).map((j) => j[2])).toEqual(["success", "timed_out", "cancelled", "skipped", "success"]);
    // The stored source gained a job the source run does not have: queued, nothing to carry over.
    await s.db.prisma.workflowSource.updateMany({ where: { headSha: l.sha }, data: { content: workflow(l.label, { a: [], b: [], c: [], d: ["c"], e: [], n: ["a"] }) } });
    const res = await rerunFailed(src.run_id);
    expect(res.status).toBe(201);
    expect(shape(await runWithJobs(res.body.run_id))).toEqual([
      ["a", "completed", "success", true],
      ["b", "queued", null, false],
      ["c", "queued", null, false],
      ["d", "queued", null, false],
      ["e", "completed", "success", true],
      ["n", "queued", null, false],
    ]);
  });

  it("answers 409 `run has no failed jobs` when every job succeeded", async () => {
    const l = await lab({ a: [], b: ["a"] });
    const src = await l.start();
    expect((await l.play(src.run_id, { a: "success", b: "success" })).conclusion).toBe("success");
    expect(await rerunFailed(src.run_id)).toMatchObject({ status: 409, body: { error: "run has no failed jobs" } });
    expect(await childrenOf(src.run_id)).toBe(0);
    // A whole rerun of the same run is still allowed.
    expect((await rerunRun(src.run_id)).status).toBe(201);
  });

  it("answers 409 for a run that is not completed, 409 without a source, 422 for an invalid one", async () => {
    const l = await lab({ a: [], b: ["a"] });
    const open = await l.start();
    await l.play(open.run_id, { a: "success" });
    expect(await rerunFailed(open.run_id)).toMatchObject({ status: 409, body: { error: "run is not rerunnable" } });
    expect(await rerunJob(open.job_ids[0]!)).toMatchObject({ status: 409, body: { error: "run is not rerunnable" } });
    await l.play(open.run_id, { b: "failure" });

    const gone = await cancelledRun("alice/demo", "cc0000e1");
    await s.db.prisma.workflowSource.deleteMany({ where: { headSha: "cc0000e1" } });
    expect(await rerunFailed(gone.run_id)).toMatchObject({ status: 409, body: { error: "workflow source unavailable" } });
    expect(await rerunJob(gone.job_ids[0]!)).toMatchObject({ status: 409, body: { error: "workflow source unavailable" } });
    await s.db.prisma.workflowSource.create({
      data: { repoId: BigInt(s.world.repos.pub.id), path: ".shithub/workflows/ci.yml", headSha: "cc0000e1", content: "jobs: {}\n" },
    });
    expect(await rerunFailed(gone.run_id)).toMatchObject({ status: 422, body: { error: "workflow source invalid", detail: expect.any(String) } });
    expect(await rerunJob(gone.job_ids[0]!)).toMatchObject({ status: 422, body: { error: "workflow source invalid" } });
    // A valid source that no longer has the job.
    await s.db.prisma.workflowSource.updateMany({ where: { headSha: "cc0000e1" }, data: { content: "jobs:\n  other:\n    runs-on: ubuntu-latest\n    steps: [{run: echo}]\n" } });
    expect(await rerunJob(gone.job_ids[0]!)).toMatchObject({ status: 422, body: { error: "workflow source invalid", detail: expect.stringContaining("only") } });
    for (const id of [open.run_id, gone.run_id]) expect(await childrenOf(id)).toBe(0);
  });
});

describe("POST /jobs/{id}/rerun", () => {
  it("queues the job and its dependents and carries every other job over as it ended, failures included", async () => {
    const l = await lab({ a: [], b: ["a"], c: ["b"], x: [] });
    const src = await l.start();
    const played = await l.play(src.run_id, { a: "success", b: "success", c: "success", x: "failure" });
    expect(played.conclusion).toBe("failure");
    const res = await rerunJob(jobIdOf(played, "b"));
    expect(res.status).toBe(201);
    expect(res.body).toEqual({
      run_id: expect.any(Number), run_index: expect.any(Number), parent_run_id: src.run_id,
      repo_id: s.world.repos.pub.id, workflow_file: ".shithub/workflows/ci.yml", head_sha: l.sha,
    });
    const created = await runWithJobs(res.body.run_id);
    expect(created).toMatchObject({ status: "queued", attempt: 2, originalRunId: played.id, parentRunId: played.id });
    expect(shape(created)).toEqual([
      ["a", "completed", "success", true],
      ["b", "queued", null, false],
      ["c", "queued", null, false],
      ["x", "completed", "failure", true],
    ]);
    expect(created.jobs[3]!.steps.map((st) => st.conclusion)).toEqual(["success", "failure"]);
    // The carried-over failure decides the run's conclusion, as it would have in the source.
    const done = await l.play(res.body.run_id, { b: "success", c: "success" });
    expect(done).toMatchObject({ status: "completed", conclusion: "failure" });
    await l.idle();
  });

  it("runs again what the job needs that did not succeed, and skips at once a dependent that needs a carried-over failure", async () => {
    const l = await lab({ a: [], b: ["a"], c: ["a"], d: ["b", "c"] });
    const src = await l.start();
    const played = await l.play(src.run_id, { a: "failure" });
    expect(shape(played).map((j) => j[1])).toEqual(["completed", "skipped", "skipped", "skipped"]);
    // b needs a, which failed: a runs again too; c and d need b or a, so they follow.
    const one = await rerunJob(jobIdOf(played, "b"));
    expect(shape(await runWithJobs(one.body.run_id))).toEqual([
      ["a", "queued", null, false],
      ["b", "queued", null, false],
      ["c", "queued", null, false],
      ["d", "queued", null, false],
    ]);
    const second = await l.play(one.body.run_id, { a: "success", b: "success", c: "failure" });
    expect(second.conclusion).toBe("failure");
    // Rerun b alone: d needs b (queued) and c (carried over as a failure), so it can never run.
    const two = await rerunJob(jobIdOf(second, "b"));
    const created = await runWithJobs(two.body.run_id);
    expect(created).toMatchObject({ status: "queued", attempt: 3, originalRunId: played.id, parentRunId: second.id });
    expect(shape(created)).toEqual([
      ["a", "completed", "success", true],
      ["b", "queued", null, false],
      ["c", "completed", "failure", true],
      ["d", "skipped", "skipped", false],
    ]);
    expect(created.jobs[3]!.steps.map((st) => st.status)).toEqual(["skipped", "skipped"]);
    expect((await l.play(two.body.run_id, { b: "success" })).conclusion).toBe("failure");
    await l.idle();
  });

  it("reruns a job that succeeded", async () => {
    const l = await lab({ a: [], b: ["a"] });
    const src = await l.start();
    const played = await l.play(src.run_id, { a: "success", b: "success" });
    const res = await rerunJob(jobIdOf(played, "b"));
    expect(shape(await runWithJobs(res.body.run_id))).toEqual([["a", "completed", "success", true], ["b", "queued", null, false]]);
    expect((await l.play(res.body.run_id, { b: "success" })).conclusion).toBe("success");
  });
});

describe("rerun chains", () => {
  it(`counts attempts from the original and refuses rerun number ${LIMIT + 1} with 409, on every rerun route`, async () => {
    const l = await lab({ a: [], b: ["a"] });
    const src = await l.start();
    let last = await l.play(src.run_id, { a: "success", b: "failure" });
    const ids = [src.run_id];
    // Reruns 1..LIMIT, of all three kinds, each from the previous run.
    for (let i = 1; i <= LIMIT; i++) {
      const res = i % 3 === 1 ? await rerunFailed(Number(last.id)) : i % 3 === 2 ? await rerunJob(jobIdOf(last, "b")) : await rerunRun(Number(last.id));
      expect(res.status, `rerun ${i}`).toBe(201);
      ids.push(res.body.run_id);
      last = await l.play(res.body.run_id, { a: "success", b: "failure" });
      expect(last).toMatchObject({ status: "completed", attempt: i + 1, originalRunId: BigInt(src.run_id), parentRunId: BigInt(ids[i - 1]!) });
      expect((await getRun(res.body.run_id)).body).toMatchObject({ attempt: i + 1, original_run_id: src.run_id, parent_run_id: ids[i - 1] });
    }
    // The chain is full: from its last run, from the original, through any route.
    const full = { status: 409, body: { error: "rerun limit reached" } };
    expect(await rerunFailed(Number(last.id))).toMatchObject(full);
    expect(await rerunJob(jobIdOf(last, "b"))).toMatchObject(full);
    expect(await rerunRun(Number(last.id))).toMatchObject(full);
    expect(await rerunRun(src.run_id)).toMatchObject(full);
    expect(await s.db.prisma.workflowRun.count({ where: { originalRunId: BigInt(src.run_id) } })).toBe(LIMIT);
  });

  it("lets racing reruns of one chain take exactly the places left", async () => {
    const src = await cancelledRun();
    const results = await Promise.all(
      Array.from({ length: 8 }, (_, i) => (i % 2 === 0 ? rerunRun(src.run_id) : rerunFailed(src.run_id))),
    );
    expect(results.filter((r) => r.status === 201)).toHaveLength(LIMIT);
    expect(results.filter((r) => r.status === 409).map((r) => r.body)).toEqual(Array(8 - LIMIT).fill({ error: "rerun limit reached" }));
    const runs = await s.db.prisma.workflowRun.findMany({ where: { originalRunId: BigInt(src.run_id) } });
    expect(runs).toHaveLength(LIMIT);
    // Each rerun of the original is its second attempt.
    expect(runs.every((r) => r.attempt === 2 && r.parentRunId === BigInt(src.run_id))).toBe(true);
  });
});

describe("idempotency and input", () => {
  it("replays the first answer for the same Idempotency-Key and creates one run", async () => {
    const src = await cancelledRun();
    const key = { "Idempotency-Key": `rf-${src.run_id}` };
    const [a, b] = await Promise.all([rerunFailed(src.run_id, undefined, key), rerunFailed(src.run_id, undefined, key)]);
    const c = await rerunFailed(src.run_id, undefined, key);
    expect([a.status, b.status, c.status]).toEqual([201, 201, 201]);
    expect(b.body).toEqual(a.body);
    expect(c.body).toEqual(a.body);
    expect(await childrenOf(src.run_id)).toBe(1);

    const jobKey = { "Idempotency-Key": `rj-${src.run_id}` };
    const j1 = await rerunJob(src.job_ids[0]!, undefined, jobKey);
    const j2 = await rerunJob(src.job_ids[0]!, undefined, jobKey);
    expect(j1.status).toBe(201);
    expect(j2.body).toEqual(j1.body);
    expect(await childrenOf(src.run_id)).toBe(2);
    // The same key on another target is refused; the same key on another route is another request.
    const other = await cancelledRun();
    expect(await rerunJob(other.job_ids[0]!, undefined, jobKey)).toMatchObject({ status: 422 });
    expect((await rerunFailed(other.run_id, undefined, jobKey)).status).toBe(201);
  });

  it("replays a refusal too", async () => {
    const l = await lab({ a: [] });
    const src = await l.start();
    await l.play(src.run_id, { a: "success" });
    const key = { "Idempotency-Key": `nf-${src.run_id}` };
    expect(await rerunFailed(src.run_id, undefined, key)).toMatchObject({ status: 409, body: { error: "run has no failed jobs" } });
    expect(await rerunFailed(src.run_id, undefined, key)).toMatchObject({ status: 409, body: { error: "run has no failed jobs" } });
    expect(await s.db.prisma.lifecycleIntent.count({ where: { kind: "rerun_failed_jobs", targetId: BigInt(src.run_id), state: "rejected" } })).toBe(1);
  });

  it("refuses bodies with fields, and malformed keys (400)", async () => {
    const src = await cancelledRun();
    expect(await post(`/api/v1/runs/${src.run_id}/rerun-failed-jobs`, undefined, {}, { only: ["a"] })).toMatchObject({ status: 400, body: { error: "unknown field: only" } });
    expect(await post(`/api/v1/jobs/${src.job_ids[0]}/rerun`, undefined, {}, { debug: true })).toMatchObject({ status: 400, body: { error: "unknown field: debug" } });
    expect((await post(`/api/v1/jobs/${src.job_ids[0]}/rerun`, undefined, {}, {})).status).toBe(201);
    expect((await rerunFailed(src.run_id, undefined, { "Idempotency-Key": "has space" })).status).toBe(400);
    expect((await rerunJob(src.job_ids[0]!, undefined, { "Idempotency-Key": "x".repeat(256) })).status).toBe(400);
  });

  it("records each accepted request as an intent of its own kind", async () => {
    const src = await cancelledRun();
    const a = await rerunFailed(src.run_id, s.world.tokens.alice);
    const b = await rerunJob(src.job_ids[0]!, s.world.tokens.alice);
    const intents = await s.db.prisma.lifecycleIntent.findMany({ where: { OR: [{ kind: "rerun_failed_jobs", targetId: BigInt(src.run_id) }, { kind: "rerun_job", targetId: BigInt(src.job_ids[0]!) }] }, orderBy: { id: "asc" } });
    expect(intents.map((i) => [i.kind, i.state, (i.result as any).body.run_id])).toEqual([
      ["rerun_failed_jobs", "applied", a.body.run_id],
      ["rerun_job", "applied", b.body.run_id],
    ]);
  });
});

describe("the permission matrix (docs/api.md, Authentication and authorization)", () => {
  async function unchanged(f: () => Promise<void>) {
    const before = await fingerprint(s.db.pool);
    await f();
    expect(await fingerprint(s.db.pool)).toBe(before);
  }

  it("refuses without changing anything: 401, 403 scope, 403 no write role or archived, 404 hidden", async () => {
    const pub = await cancelledRun();
    const priv = await cancelledRun("alice/secret");
    const arch = await cancelledRun("alice/old");
    await ops.archiveRepo(s.db.prisma, "alice/old");
    const routes: [string, (id: "pub" | "priv" | "arch" | "missing" | "bad") => string, string][] = [
      ["rerun-failed-jobs", (w) => `/api/v1/runs/${{ pub: pub.run_id, priv: priv.run_id, arch: arch.run_id, missing: 987654321, bad: "x1" }[w]}/rerun-failed-jobs`, "run not found"],
      ["job rerun", (w) => `/api/v1/jobs/${{ pub: pub.job_ids[0], priv: priv.job_ids[0], arch: arch.job_ids[0], missing: 987654321, bad: "0" }[w]}/rerun`, "job not found"],
    ];
    await unchanged(async () => {
      for (const [name, path, notFound] of routes) {
        const t = s.world.tokens;
        const rows: [string, string | undefined, string, number, string][] = [
          ["no credentials", undefined, path("pub"), 401, "unauthenticated"],
          ["a malformed token", "not-a-token", path("pub"), 401, "invalid token"],
          ["a read-only token", t.bobRead, path("pub"), 403, "token lacks required scope: repo:write"],
          ["a read-only token, missing target", t.bobRead, path("missing"), 403, "token lacks required scope: repo:write"],
          ["a reader of the repository", t.carol, path("pub"), 403, "write permission required"],
          ["a user without a role on a public repository", t.dave, path("pub"), 403, "write permission required"],
          ["a repository admin, archived repository", t.bob, path("arch"), 403, "write permission required"],
          ["a user without a role on a private repository", t.dave, path("priv"), 404, notFound],
          ["a token bound to another repository", t.aliceBoundOther, path("pub"), 404, notFound],
          ["a missing id", t.bob, path("missing"), 404, notFound],
          ["a malformed id", t.bob, path("bad"), 404, notFound],
        ];
        for (const [who, token, p, status, error] of rows) {
          const res = await call(s.stack.url, "POST", p, { token });
          expect([res.status, res.body], `${name}: ${who}`).toEqual([status, { error }]);
        }
      }
    });
    const scopeRefusal = await post(routes[0]![1]("pub"), s.world.tokens.bobRead);
    expect(scopeRefusal.headers.get("x-accepted-oauth-scopes")).toBe("repo:write");
  });

  it("lets the owner and a writer rerun", async () => {
    for (const login of ["alice", "bob"] as const) {
      const src = await cancelledRun();
      const a = await rerunFailed(src.run_id, s.world.tokens[login]);
      const b = await rerunJob(src.job_ids[0]!, s.world.tokens[login]);
      expect([a.status, b.status]).toEqual([201, 201]);
      const user = await s.db.prisma.user.findUniqueOrThrow({ where: { login } });
      const created = await s.db.prisma.workflowRun.findMany({ where: { id: { in: [BigInt(a.body.run_id), BigInt(b.body.run_id)] } } });
      expect(created.map((r) => r.actorUserId)).toEqual([user.id, user.id]);
    }
  });
});
