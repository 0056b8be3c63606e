import { execFile, execFileSync, spawnSync } from "node:child_process";
import { appendFileSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { playRun, type Outcomes } from "./setup/play.ts";
import { worldSuite } from "./setup/suite.ts";
import { call, pushAndRun, registerTestRunner } from "./setup/world.ts";

// GitHub's own CLI, unchanged, against /api/v3 over HTTPS (docs/github-api.md, "gh"): each
// `gh run` command as a user types it, its output and the database state it leaves checked.

const has = (cmd: string, arg: string) => spawnSync(cmd, [arg], { stdio: "ignore" }).status === 0;
// gh speaks only HTTPS to an enterprise host; openssl makes the certificate it is told to trust.
const MISSING = [has("gh", "--version") ? null : "`gh` (GitHub's CLI; .ci/run installs Debian's package)", has("openssl", "version") ? null : "`openssl`"].filter(Boolean);
const HAS_GH = MISSING.length === 0;
if (!HAS_GH) console.warn(`test/github-gh.test.ts: skipped, ${MISSING.join(" and ")} not on PATH`);

const dir = mkdtempSync(path.join(os.tmpdir(), "gh-test-"));
const certFile = path.join(dir, "cert.pem");
const keyFile = path.join(dir, "key.pem");
if (HAS_GH) {
  // Go (gh) trusts it through SSL_CERT_FILE.
  execFileSync("openssl", [
    "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
    "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost", "-days", "1",
    "-keyout", keyFile, "-out", certFile,
  ], { stdio: "ignore" });
}
const s = worldSuite("github-gh", HAS_GH ? { tls: { cert: readFileSync(certFile), key: readFileSync(keyFile) } } : {});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const WORKFLOW = `name: Lab
on: push
jobs:
  build:
    runs-on: gh
    steps:
      - name: Compile
        run: echo compiling
      - name: Package
        run: echo packaging
  test:
    runs-on: gh
    needs: [build]
    steps:
      - name: Unit
        run: echo testing
  lint:
    runs-on: gh
    steps:
      - run: echo lint
`;

let runner: { token: string };
let shas = 0;
const start = () => pushAndRun(s.db.prisma, "alice/demo", WORKFLOW, `dd${String(++shas).padStart(6, "0")}`);

interface Gh { code: number; stdout: string; stderr: string }

/** One gh command on alice/demo, as a user with alice's token would run it. */
function gh(args: string[], extra: Record<string, string> = {}): Promise<Gh> {
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? "", HOME: dir, GH_HOST: new URL(s.stack.tlsUrl!).host, GH_ENTERPRISE_TOKEN: s.world.tokens.alice,
    SSL_CERT_FILE: certFile, GH_CONFIG_DIR: path.join(dir, "gh"), GH_PROMPT_DISABLED: "1", NO_COLOR: "1", GH_NO_UPDATE_NOTIFIER: "1",
    // gh caches a run's log zip under the temp dir by run id: each file's database starts ids at 1 again.
    TMPDIR: dir,
    // GH_TEST_TRACE=<file>: every command's requests and answers appended there, to see what gh asks.
    ...(process.env.GH_TEST_TRACE ? { GH_DEBUG: "api" } : {}),
    ...extra,
  };
  return new Promise((resolve) => {
    execFile("gh", [...args, "-R", "alice/demo"], { env, timeout: 30_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === "number" ? err.code : -1) : 0;
      if (process.env.GH_TEST_TRACE) appendFileSync(process.env.GH_TEST_TRACE, `=== gh ${args.join(" ")} -> ${code}\n${stdout}\n--- stderr\n${stderr}\n`);
      resolve({ code, stdout, stderr });
    });
  });
}

/** gh succeeded; its stdout. */
async function ok(args: string[], extra: Record<string, string> = {}): Promise<Gh> {
  const r = await gh(args, extra);
  expect(r.code, `gh ${args.join(" ")} failed:\n${r.stderr}`).toBe(0);
  return r;
}

const play = (runId: number | bigint, outcomes: Outcomes = {}) => playRun(s.stack.url, s.db.prisma, runner.token, runId, outcomes);

const chain = (id: number) => s.db.prisma.workflowRun.findMany({
  where: { OR: [{ id: BigInt(id) }, { originalRunId: BigInt(id) }] }, orderBy: { attempt: "asc" }, include: { jobs: { orderBy: { jobIndex: "asc" } } },
});

beforeAll(async () => {
  if (HAS_GH) runner = await registerTestRunner(s.db.prisma, "gh-runner", ["gh"], 8);
});

describe.skipIf(!HAS_GH)("gh run against /api/v3 over HTTPS", () => {
  let runId: number;
  let jobIds: number[];

  beforeAll(async () => {
    if (!HAS_GH) return;
    ({ run_id: runId, job_ids: jobIds } = await start());
    await play(runId, { test: "failure" });
  });

  it("gh run list lists the repository's runs, newest first, each with its id and conclusion", async () => {
    const second = await start();
    await play(second.run_id);
    const rows = (await ok(["run", "list"])).stdout.trim().split("\n").map((l) => l.split("\t"));
    const runs = await s.db.prisma.workflowRun.findMany({ where: { repo: { name: "demo" }, originalRunId: null }, orderBy: { id: "desc" } });
    // Without a terminal gh prints: status, conclusion, title, workflow, branch, event, id, elapsed, age.
    expect(rows.map((r) => [r[0], r[1], r[3], r[4], r[5], r[6]])).toEqual(runs.map((r) => [r.status, r.conclusion, "Lab", "main", "push", String(r.id)]));
    expect(rows.map((r) => [r[6], r[1]])).toEqual([[String(second.run_id), "success"], [String(runId), "failure"]]);
  });

  it("gh run view shows the run's jobs with their ids, asking GraphQL for a pull request (none); --json gives the database's fields", async () => {
    const { stdout, stderr } = await ok(["run", "view", String(runId)], { GH_DEBUG: "api" });
    const jobs = (await chain(runId))[0]!.jobs;
    for (const j of jobs) expect(stdout).toMatch(new RegExp(`^${j.conclusion === "success" ? "✓" : "X"} ${j.name} in \\S+ \\(ID ${j.id}\\)$`, "m"));
    expect(stdout).toContain(`gh run view ${runId} --log-failed`);
    // gh's one GraphQL query, answered (a 404 would be shown as an error nowhere, only here).
    expect(stderr).toMatch(/Request to https:\/\/[^/]+\/api\/graphql[\s\S]*?query PullRequestForRun[\s\S]*?< HTTP\/1\.1 200 OK[\s\S]*?"nodes": \[\]/);
    const json = JSON.parse((await ok(["run", "view", String(runId), "--json", "databaseId,status,conclusion,headSha,workflowName,jobs"])).stdout);
    const row = (await chain(runId))[0]!;
    expect(json).toMatchObject({ databaseId: runId, status: "completed", conclusion: "failure", headSha: row.headSha, workflowName: "Lab" });
    expect(json.jobs.map((j: { databaseId: number; conclusion: string; steps: unknown[] }) => [j.databaseId, j.conclusion, j.steps.length]))
      .toEqual(jobs.map((j) => [Number(j.id), j.conclusion, j.jobKey === "build" ? 2 : 1]));
  });

  it("gh run view --log prints every step's log lines the runner wrote, prefixed by job and step", async () => {
    const out = (await ok(["run", "view", String(runId), "--log"])).stdout;
    const lines = out.trim().split("\n");
    expect(lines).toEqual(expect.arrayContaining([
      "build\tCompile\tlog of build step 1", "build\tPackage\tlog of build step 2", "test\tUnit\tlog of test step 1", "lint\tRun echo lint\tlog of lint step 1",
    ]));
    expect(lines).toHaveLength(4);
    const failed = (await ok(["run", "view", String(runId), "--log-failed"])).stdout;
    expect(failed.trim()).toBe("test\tUnit\tlog of test step 1");
  });

  it("gh run view --job --log prints only that job's log", async () => {
    const out = (await ok(["run", "view", "--job", String(jobIds[0]), "--log"])).stdout;
    expect(out.trim().split("\n")).toEqual(["build\tCompile\tlog of build step 1", "build\tPackage\tlog of build step 2"]);
    const view = (await ok(["run", "view", "--job", String(jobIds[0])])).stdout;
    expect(view).toMatch(/^✓ build in \S+ \(ID \d+\)\n  ✓ Compile\n  ✓ Package$/m);
  });

  it("gh run rerun --failed reruns the failed job as attempt 2", async () => {
    await ok(["run", "rerun", String(runId), "--failed"]);
    const attempts = await chain(runId);
    expect(attempts.map((a) => a.attempt)).toEqual([1, 2]);
    expect(attempts[1]!.jobs.filter((j) => j.status === "queued").map((j) => j.jobKey)).toEqual(["test"]);
    await play(attempts[1]!.id);
  });

  it("gh run rerun --job reruns that job as attempt 3", async () => {
    const second = (await chain(runId))[1]!;
    const lint = second.jobs.find((j) => j.jobKey === "lint")!;
    await ok(["run", "rerun", "--job", String(lint.id)]);
    const attempts = await chain(runId);
    expect(attempts).toHaveLength(3);
    expect(attempts[2]!.jobs.filter((j) => j.status === "queued").map((j) => j.jobKey)).toEqual(["lint"]);
    await play(attempts[2]!.id);
  });

  it("gh run rerun reruns every job as attempt 4, and gh run cancel cancels it", async () => {
    await ok(["run", "rerun", String(runId)]);
    let attempts = await chain(runId);
    expect(attempts).toHaveLength(4);
    expect(attempts[3]!.jobs.every((j) => j.status === "queued")).toBe(true);
    await ok(["run", "cancel", String(runId)]);
    attempts = await chain(runId);
    expect(attempts[3]).toMatchObject({ status: "completed", conclusion: "cancelled" });
    expect(attempts[3]!.jobs.every((j) => j.status === "cancelled" || j.status === "skipped")).toBe(true);
    const again = await gh(["run", "cancel", String(runId)]);
    expect(again.code).not.toBe(0);
    expect(again.stderr).toMatch(/completed/);
    expect(await s.db.prisma.lifecycleIntent.count({ where: { kind: "cancel_run", targetId: attempts[3]!.id } })).toBe(1);
  });
});

describe.skipIf(!HAS_GH)("POST /api/graphql, gh's one query", () => {
  const PR_QUERY = `query PullRequestForRun($owner: String!, $repo: String!, $headRefName: String!) {
    repository(owner: $owner, name: $repo) {
      pullRequests(headRefName: $headRefName, first: 1, orderBy: { field: CREATED_AT, direction: DESC }) {
        nodes { number headRepository { owner { login } name } }
      }
    }
  }`;
  const ask = (token: string | undefined, query: string, variables: Record<string, string>) =>
    call(s.stack.url, "POST", "/api/graphql", { token, body: { query, variables } });

  it("answers no pull request on a repository the token may read, and GitHub's NOT_FOUND on one it may not see", async () => {
    const mine = await ask(s.world.tokens.bobRead, PR_QUERY, { owner: "alice", repo: "demo", headRefName: "main" });
    expect(mine).toMatchObject({ status: 200, body: { data: { repository: { pullRequests: { nodes: [] } } } } });
    expect(mine.body.errors).toBeUndefined();
    const hidden = await ask(s.world.tokens.dave, PR_QUERY, { owner: "alice", repo: "secret", headRefName: "main" });
    expect(hidden).toMatchObject({ status: 200, body: { data: { repository: null }, errors: [{ type: "NOT_FOUND", path: ["repository"] }] } });
  });

  it("refuses any other document with a GraphQL error, and an unauthenticated request with GitHub's 401", async () => {
    const other = await ask(s.world.tokens.alice, "query { viewer { login } }", {});
    expect(other.status).toBe(200);
    expect(other.body.data).toBeUndefined();
    expect(other.body.errors[0].message).toMatch(/only the GraphQL queries gh/);
    const widened = await ask(s.world.tokens.alice, PR_QUERY.replace("number", "number title"), { owner: "alice", repo: "demo", headRefName: "main" });
    expect(widened.body.errors).toHaveLength(1);
    const noVars = await ask(s.world.tokens.alice, PR_QUERY, {});
    expect(noVars.body.errors[0].message).toMatch(/Variables of PullRequestForRun/);
    const anon = await ask(undefined, PR_QUERY, { owner: "alice", repo: "demo", headRefName: "main" });
    expect(anon).toMatchObject({ status: 401, body: { message: "unauthenticated", status: "401" } });
  });
});
