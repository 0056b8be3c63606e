import { Octokit } from "@octokit/rest";
import { strFromU8, unzipSync } from "fflate";
import { beforeAll, describe, expect, it } from "vitest";
import { expectGitHubShape, githubErrorSchemaErrors } from "./setup/github-schema.ts";
import { playRun, type Outcomes } from "./setup/play.ts";
import { fingerprint } from "./setup/fingerprint.ts";
import { GITHUB_OPERATIONS, type GitHubOperation } from "../api/v3/operations.ts";
import { worldSuite } from "./setup/suite.ts";
import { call, claim, pushAndRun, registerTestRunner } from "./setup/world.ts";

// GitHub's own client against /api/v3 (docs/github-api.md): Octokit as a script would use
// it, every answer checked against GitHub's published OpenAPI description (the oracle,
// test/setup/github-schema.ts) and against the database.

const s = worldSuite("github-octokit");
const owner = "alice";
const repo = "demo";
let octokit: Octokit;
let runner: { token: string };
let bobRead: Octokit;

const WORKFLOW = `name: Lab
on: push
jobs:
  build:
    runs-on: octo
    steps:
      - name: Compile
        run: echo compiling
  test:
    runs-on: octo
    needs: [build]
    steps:
      - name: Unit
        run: echo testing
  lint:
    runs-on: octo
    steps:
      - run: echo lint
`;

const quiet = { debug() {}, info() {}, warn() {}, error() {} };
const kit = (token: string) => new Octokit({ auth: token, baseUrl: `${s.stack.url}/api/v3`, log: quiet });
let shas = 0;
const start = () => pushAndRun(s.db.prisma, `${owner}/${repo}`, WORKFLOW, `cc${String(++shas).padStart(6, "0")}`);

const play = (runId: number, outcomes: Outcomes = {}) => playRun(s.stack.url, s.db.prisma, runner.token, runId, outcomes);

const runRow = (id: number | bigint) => s.db.prisma.workflowRun.findUniqueOrThrow({ where: { id: BigInt(id) }, include: { jobs: { orderBy: { jobIndex: "asc" } } } });
const chain = (id: number) => s.db.prisma.workflowRun.findMany({ where: { OR: [{ id: BigInt(id) }, { originalRunId: BigInt(id) }] }, orderBy: { attempt: "asc" }, include: { jobs: true } });

beforeAll(async () => {
  runner = await registerTestRunner(s.db.prisma, "octo-runner", ["octo"], 8);
  octokit = kit(s.world.tokens.alice);
  bobRead = kit(s.world.tokens.bobRead);
});

describe("Octokit against /api/v3", () => {
  it("gets a run and its jobs as GitHub shapes them, matching the database", async () => {
    const { run_id } = await start();
    await play(run_id, { test: "failure" });
    const got = await octokit.rest.actions.getWorkflowRun({ owner, repo, run_id });
    expect(got.status).toBe(200);
    expectGitHubShape("GET /repos/{owner}/{repo}/actions/runs/{run_id}", 200, got.data);
    const row = await runRow(run_id);
    expect(got.data).toMatchObject({
      id: run_id, run_number: row.runIndex, run_attempt: 1, status: "completed", conclusion: "failure", head_sha: row.headSha,
      head_branch: "main", path: row.workflowFile, event: "push", repository: { full_name: "alice/demo", owner: { login: "alice" } },
    });
    expect(got.headers["x-github-request-id"]).toBeTruthy();
    const jobs = await octokit.rest.actions.listJobsForWorkflowRun({ owner, repo, run_id });
    expectGitHubShape("GET /repos/{owner}/{repo}/actions/runs/{run_id}/jobs", 200, jobs.data);
    expect(jobs.data.total_count).toBe(3);
    expect(jobs.data.jobs.map((j) => [j.id, j.name, j.conclusion])).toEqual(row.jobs.map((j) => [Number(j.id), j.name, j.jobKey === "test" ? "failure" : "success"]));
    const job = await octokit.rest.actions.getJobForWorkflowRun({ owner, repo, job_id: Number(row.jobs[0]!.id) });
    expectGitHubShape("GET /repos/{owner}/{repo}/actions/jobs/{job_id}", 200, job.data);
    expect(job.data).toMatchObject({ id: Number(row.jobs[0]!.id), run_id, status: "completed", labels: ["octo"], runner_name: "octo-runner" });
    expect(job.data.steps?.map((st) => [st.number, st.name, st.conclusion])).toEqual([[1, "Compile", "success"]]);
  });

  it("downloads a job's log through GitHub's redirect to a signed link", async () => {
    const { run_id, job_ids } = await start();
    await play(run_id);
    const r = await octokit.rest.actions.downloadJobLogsForWorkflowRun({ owner, repo, job_id: job_ids[0]! });
    expect(r.status).toBe(200);
    expect(String(r.data)).toContain("log of build step 1");
    expect(r.url).toMatch(/\/api\/v3\/_logs\/jobs\/\d+\?expires=\d+&signature=/);
    // The link names its job: the signature does not carry over to another.
    const other = r.url.replace(`/jobs/${job_ids[0]}?`, `/jobs/${job_ids[1]}?`);
    expect((await fetch(other)).status).toBe(403);
    const zip = await octokit.rest.actions.downloadWorkflowRunLogs({ owner, repo, run_id });
    const files = unzipSync(new Uint8Array(zip.data as ArrayBuffer));
    expect(Object.keys(files).sort()).toEqual(["build/1_Compile.txt", "lint/1_Run echo lint.txt", "test/1_Unit.txt"]);
    expect(strFromU8(files["test/1_Unit.txt"]!)).toBe("log of test step 1\n");
  });

  it("cancels and force-cancels a run in progress: 202, the jobs end in the database, a second cancel is 409", async () => {
    const a = await start();
    const r = await octokit.rest.actions.cancelWorkflowRun({ owner, repo, run_id: a.run_id });
    expect(r.status).toBe(202);
    expectGitHubShape("POST /repos/{owner}/{repo}/actions/runs/{run_id}/cancel", 202, r.data);
    expect((await runRow(a.run_id)).conclusion).toBe("cancelled");
    await expect(octokit.rest.actions.cancelWorkflowRun({ owner, repo, run_id: a.run_id })).rejects.toMatchObject({ status: 409 });

    const b = await start();
    const c = await claim(s.stack.url, runner.token);
    expect(c.body.job.run_id).toBe(b.run_id);
    const f = await octokit.rest.actions.forceCancelWorkflowRun({ owner, repo, run_id: b.run_id });
    expect(f.status).toBe(202);
    expectGitHubShape("POST /repos/{owner}/{repo}/actions/runs/{run_id}/force-cancel", 202, f.data);
    const row = await runRow(b.run_id);
    expect(row.status).toBe("completed");
    expect(row.jobs.every((j) => j.status === "cancelled")).toBe(true);
  });

  it("reruns a run, its failed jobs and one job: attempts chain under the original id", async () => {
    const { run_id } = await start();
    await play(run_id, { test: "failure" });
    const full = await octokit.rest.actions.reRunWorkflow({ owner, repo, run_id });
    expect(full.status).toBe(201);
    expectGitHubShape("POST /repos/{owner}/{repo}/actions/runs/{run_id}/rerun", 201, full.data);
    let attempts = await chain(run_id);
    expect(attempts.map((a) => a.attempt)).toEqual([1, 2]);
    expect(attempts[1]!.jobs.every((j) => j.status === "queued")).toBe(true);
    await play(Number(attempts[1]!.id), { test: "failure" });

    const failed = await octokit.rest.actions.reRunWorkflowFailedJobs({ owner, repo, run_id });
    expect(failed.status).toBe(201);
    expectGitHubShape("POST /repos/{owner}/{repo}/actions/runs/{run_id}/rerun-failed-jobs", 201, failed.data);
    attempts = await chain(run_id);
    expect(attempts).toHaveLength(3);
    const third = attempts[2]!;
    expect(third.jobs.filter((j) => j.status === "queued").map((j) => j.jobKey)).toEqual(["test"]);
    await play(Number(third.id));

    const lint = third.jobs.find((j) => j.jobKey === "lint")!;
    const one = await octokit.rest.actions.reRunJobForWorkflowRun({ owner, repo, job_id: Number(lint.id) });
    expect(one.status).toBe(201);
    expectGitHubShape("POST /repos/{owner}/{repo}/actions/jobs/{job_id}/rerun", 201, one.data);
    attempts = await chain(run_id);
    expect(attempts).toHaveLength(4);
    expect(attempts[3]!.jobs.filter((j) => j.status === "queued").map((j) => j.jobKey)).toEqual(["lint"]);

    const latest = await octokit.rest.actions.getWorkflowRun({ owner, repo, run_id });
    expect(latest.data).toMatchObject({ id: run_id, run_attempt: 4, status: "queued", previous_attempt_url: expect.stringMatching(/\/attempts\/3$/) });
    const second = await octokit.rest.actions.getWorkflowRunAttempt({ owner, repo, run_id, attempt_number: 2 });
    expectGitHubShape("GET /repos/{owner}/{repo}/actions/runs/{run_id}/attempts/{attempt_number}", 200, second.data);
    expect(second.data).toMatchObject({ id: run_id, run_attempt: 2, conclusion: "failure" });
    const jobs2 = await octokit.rest.actions.listJobsForWorkflowRunAttempt({ owner, repo, run_id, attempt_number: 2 });
    expectGitHubShape("GET /repos/{owner}/{repo}/actions/runs/{run_id}/attempts/{attempt_number}/jobs", 200, jobs2.data);
    expect(jobs2.data.jobs.map((j) => j.id).sort()).toEqual(attempts[1]!.jobs.map((j) => Number(j.id)).sort());
    expect(jobs2.data.jobs.every((j) => j.run_id === run_id && j.run_attempt === 2)).toBe(true);
    const all = await octokit.rest.actions.listJobsForWorkflowRun({ owner, repo, run_id, filter: "all" });
    expect(all.data.total_count).toBe(attempts.reduce((n, a) => n + a.jobs.length, 0));
    await expect(octokit.rest.actions.getWorkflowRunAttempt({ owner, repo, run_id, attempt_number: 5 })).rejects.toMatchObject({ status: 404 });
  });

  it("lists a repository's runs a page at a time with octokit.paginate, each run once, newest first", async () => {
    const runs = await octokit.paginate(octokit.rest.actions.listWorkflowRunsForRepo, { owner, repo, per_page: 2 });
    const originals = await s.db.prisma.workflowRun.findMany({ where: { repo: { name: repo }, originalRunId: null }, orderBy: [{ createdAt: "desc" }, { id: "desc" }] });
    expect(originals.length).toBeGreaterThan(4);
    expect(runs.map((r) => r.id)).toEqual(originals.map((r) => Number(r.id)));
    const page = await octokit.rest.actions.listWorkflowRunsForRepo({ owner, repo, per_page: 2, page: 2 });
    expectGitHubShape("GET /repos/{owner}/{repo}/actions/runs", 200, page.data);
    expect(page.data.total_count).toBe(originals.length);
    expect(page.headers.link).toMatch(/rel="next"/);
    const done = await octokit.rest.actions.listWorkflowRunsForRepo({ owner, repo, status: "failure" });
    expect(done.data.workflow_runs.length).toBeGreaterThan(0);
    expect(done.data.workflow_runs.every((r) => r.conclusion === "failure")).toBe(true);
  });

  it("lists workflows and a workflow's runs, by id and by file name", async () => {
    const wf = await octokit.rest.actions.listRepoWorkflows({ owner, repo });
    expectGitHubShape("GET /repos/{owner}/{repo}/actions/workflows", 200, wf.data);
    const lab = wf.data.workflows.find((w) => w.name === "Lab")!;
    expect(lab.path).toBe(".shithub/workflows/ci.yml");
    const byId = await octokit.rest.actions.getWorkflow({ owner, repo, workflow_id: lab.id });
    expectGitHubShape("GET /repos/{owner}/{repo}/actions/workflows/{workflow_id}", 200, byId.data);
    const byName = await octokit.rest.actions.getWorkflow({ owner, repo, workflow_id: "ci.yml" });
    expect(byName.data.id).toBe(lab.id);
    const runs = await octokit.rest.actions.listWorkflowRuns({ owner, repo, workflow_id: lab.id });
    expectGitHubShape("GET /repos/{owner}/{repo}/actions/workflows/{workflow_id}/runs", 200, runs.data);
    expect(runs.data.workflow_runs.every((r) => r.workflow_id === lab.id)).toBe(true);
  });
});

describe("/api/v3's permissions, errors and headers", () => {
  it("hides a private repository (404), refuses a read-only token's writes (403), unauthenticated is 401, in GitHub's error shape", async () => {
    const { run_id } = await start();
    await expect(kit(s.world.tokens.dave).rest.actions.getWorkflowRun({ owner: "alice", repo: "secret", run_id })).rejects.toMatchObject({ status: 404 });
    const forbidden = await bobRead.rest.actions.cancelWorkflowRun({ owner, repo, run_id }).catch((e) => e);
    expect(forbidden.status).toBe(403);
    expect(forbidden.response.data).toMatchObject({ message: "token lacks required scope: repo:write", status: "403" });
    expect(githubErrorSchemaErrors(forbidden.response.data)).toEqual([]);
    // carol's token may write, but her role on the repository is read.
    await expect(kit(s.world.tokens.carol).rest.actions.cancelWorkflowRun({ owner, repo, run_id })).rejects.toMatchObject({ status: 403, response: { data: { message: "write permission required" } } });
    expect((await runRow(run_id)).status).toBe("queued");
    const anon = await call(s.stack.url, "GET", `/api/v3/repos/${owner}/${repo}/actions/runs/${run_id}`);
    expect(anon.status).toBe(401);
    expect(anon.body).toMatchObject({ message: "unauthenticated", status: "401" });
    expect(githubErrorSchemaErrors(anon.body)).toEqual([]);
    // A run of another repository is not this one's.
    await expect(octokit.rest.actions.getWorkflowRun({ owner: "alice", repo: "other", run_id })).rejects.toMatchObject({ status: 404 });
    const unknown = await call(s.stack.url, "GET", "/api/v3/nowhere", { token: s.world.tokens.alice });
    expect(unknown.status).toBe(404);
    expect(unknown.body.status).toBe("404");
  });

  it("agrees with /api/v1: a cancel through either ends the same job once; an Idempotency-Key repeat changes nothing", async () => {
    const { run_id, job_ids } = await start();
    const v1 = await call(s.stack.url, "POST", `/api/v1/jobs/${job_ids[0]}/cancel`, { token: s.world.tokens.alice });
    expect(v1.status).toBe(202);
    const v3 = await call(s.stack.url, "POST", `/api/v3/repos/${owner}/${repo}/actions/runs/${run_id}/cancel`, { token: s.world.tokens.alice, headers: { "Idempotency-Key": "k1" } });
    expect(v3.status).toBe(202);
    const after = await runRow(run_id);
    // build cancelled through v1; test needed it (skipped); lint cancelled through v3.
    expect(after.jobs.map((j) => j.status)).toEqual(["cancelled", "skipped", "cancelled"]);
    const intents = await s.db.prisma.lifecycleIntent.count({ where: { kind: "cancel_run", targetId: BigInt(run_id) } });
    expect(intents).toBe(1);
    // The same key again: the first answer, replayed. Without one: the run has ended, so
    // GitHub's 409. Neither records anything.
    const cancelPath = `/api/v3/repos/${owner}/${repo}/actions/runs/${run_id}/cancel`;
    expect((await call(s.stack.url, "POST", cancelPath, { token: s.world.tokens.alice, headers: { "Idempotency-Key": "k1" } })).status).toBe(202);
    expect((await call(s.stack.url, "POST", cancelPath, { token: s.world.tokens.alice })).status).toBe(409);
    expect(await s.db.prisma.lifecycleIntent.count({ where: { kind: "cancel_run", targetId: BigInt(run_id) } })).toBe(1);
  });
});

describe("/api/v3's permission matrix, for every operation in the table", () => {
  // Each operation of api/v3/operations.ts, by the same rules as /api/v1: a repository the
  // caller may not see is 404 (as one that does not exist), a token without the scope is
  // 403 before anything is looked up, a reader's write is 403, no token is 401 — and none
  // of those changes anything.
  it("hides, refuses and changes nothing, whatever the operation", async () => {
    const priv = await pushAndRun(s.db.prisma, "alice/secret", WORKFLOW, "dd000001");
    const pub = await start();
    const fill = (path: string, run: { run_id: number; job_ids: number[] }, o: string, r: string) => `/api/v3${path
      .replace("{owner}", o).replace("{repo}", r).replace("{run_id}", String(run.run_id)).replace("{job_id}", String(run.job_ids[0]))
      .replace("{check_run_id}", String(run.job_ids[0])).replace("{attempt_number}", "1").replace("{workflow_id}", "ci.yml")}`;
    const before = await fingerprint(s.db.pool);
    const send = (op: GitHubOperation, path: string, token?: string) =>
      call(s.stack.url, op.method.toUpperCase(), path, { token, redirect: "manual" });
    for (const op of Object.values(GITHUB_OPERATIONS)) {
      const label = `${op.method.toUpperCase()} ${op.path}`;
      const hidden = await send(op, fill(op.path, priv, "alice", "secret"), s.world.tokens.dave);
      expect([hidden.status, hidden.body?.status], label).toEqual([404, "404"]);
      expect((await send(op, fill(op.path, pub, "alice", "nope"), s.world.tokens.alice)).status, label).toBe(404);
      expect((await send(op, fill(op.path, pub, "alice", "demo"))).status, label).toBe(401);
      if (op.method === "post") {
        expect((await send(op, fill(op.path, pub, "alice", "demo"), s.world.tokens.bobRead)).body, label).toMatchObject({ message: "token lacks required scope: repo:write", status: "403" });
        expect((await send(op, fill(op.path, pub, "alice", "demo"), s.world.tokens.carol)).body, label).toMatchObject({ message: "write permission required", status: "403" });
        // Bound to another repository: this one does not exist for the token.
        expect((await send(op, fill(op.path, pub, "alice", "demo"), s.world.tokens.aliceBoundOther)).status, label).toBe(404);
      } else {
        expect((await send(op, fill(op.path, pub, "alice", "demo"), s.world.tokens.bobRead)).status, label).toBe(op.ok.status);
      }
    }
    expect(await fingerprint(s.db.pool)).toBe(before);
  });

  it("replays the first answer for a repeated Idempotency-Key, and records one intent", async () => {
    const { run_id } = await start();
    await play(run_id, { test: "failure" });
    const h = { "Idempotency-Key": `v3-rerun-${run_id}` };
    const path = `/api/v3/repos/${owner}/${repo}/actions/runs/${run_id}/rerun-failed-jobs`;
    const first = await call(s.stack.url, "POST", path, { token: s.world.tokens.bob, headers: h });
    const second = await call(s.stack.url, "POST", path, { token: s.world.tokens.bob, headers: h });
    expect([first.status, second.status]).toEqual([201, 201]);
    expect(await chain(run_id)).toHaveLength(2);
    expect(await s.db.prisma.lifecycleIntent.count({ where: { kind: "rerun_failed_jobs", idempotencyKey: h["Idempotency-Key"] } })).toBe(1);
  });
});
