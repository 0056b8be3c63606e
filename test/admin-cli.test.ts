// Integration: the operator CLI as automation runs it (a child process against a real
// database), and the operations behind it called directly. Spawning costs about a second,
// so the CLI runs for the JSON contract and the failure paths, and ops.ts for the rest.
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as ops from "../admin/ops.ts";
import { createTestDb, type TestDb } from "./setup/db.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const SHA = "0123456789abcdef0123456789abcdef01234567";
const CI = `name: CI
on: push
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - run: echo building
  test:
    needs: [build]
    runs-on: ubuntu-latest
    steps:
      - run: exit 1
`;
const BAD = "jobs:\n  a:\n    needs: [zz]\n    steps:\n      - run: echo\n";

let db: TestDb;
let dir: string;
const file = (name: string) => path.join(dir, name);

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

function cli(args: string[], env: Record<string, string> = {}): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", "admin/cli.ts", ...args], {
      cwd: ROOT,
      env: { ...process.env, ADMIN_DEBUG: "", DATABASE_URL: db.url, ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

async function json(args: string[]): Promise<Record<string, unknown>> {
  const r = await cli([...args, "--json"]);
  expect(r.stderr).toBe("");
  expect(r.code).toBe(0);
  expect(r.stdout).toMatch(/^[^\n]+\n$/);
  return JSON.parse(r.stdout) as Record<string, unknown>;
}

/** Every row of every table as text: for "nothing changed" and "no plaintext anywhere". */
async function dump(): Promise<string> {
  const tables = await db.pool.query<{ name: string }>(
    `SELECT table_name AS name FROM information_schema.tables
      WHERE table_schema = 'public' AND table_type = 'BASE TABLE' AND table_name <> '_prisma_migrations'
      ORDER BY table_name`,
  );
  const parts: string[] = [];
  for (const { name } of tables.rows) {
    const rows = await db.pool.query<{ row: string }>(`SELECT t::text AS row FROM "${name}" t ORDER BY t::text`);
    parts.push(`${name}: ${rows.rows.map((r) => r.row).join("\n")}`);
  }
  return parts.join("\n");
}

const sha256 = (s: string) => createHash("sha256").update(s).digest("hex");

beforeAll(async () => {
  db = await createTestDb("admincli");
  dir = await mkdtemp(path.join(tmpdir(), "admin-cli-"));
  await writeFile(file("ci.yml"), CI);
  await writeFile(file("ci-changed.yml"), `${CI}# edited\n`);
  await writeFile(file("bad.yml"), BAD);
});

afterAll(async () => {
  await db?.drop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

// Child processes queue for the CPU when the machine is busy: allow more than the default.
describe("admin CLI", { timeout: 180_000 }, () => {
  it("prints the documented JSON for users, repos, tokens, runs and runners", async () => {
    const user = await json(["user", "create", "--login", "alice", "--site-admin"]);
    expect(user).toMatchObject({ id: expect.any(Number), login: "alice", site_admin: true });

    const repo = await json(["repo", "create", "--owner", "alice", "--name", "demo", "--private"]);
    expect(repo).toMatchObject({ id: expect.any(Number), full_name: "alice/demo", visibility: "private" });

    const tok = await json(["token", "create", "--user", "alice", "--scopes", "repo:write,user:read",
      "--expires-in-days", "30", "--repo", "alice/demo", "--name", "ci"]);
    expect(Object.keys(tok)).toEqual(["id", "token"]);
    expect(tok.id).toEqual(expect.any(Number));
    const token = tok.token as string;
    expect(token).toMatch(/^shithub_pat_[0-9A-Za-z]{32}$/);
    const { rows: [pat] } = await db.pool.query(
      "SELECT token_hash, scopes, repo_id, name, expires_at FROM personal_access_tokens WHERE id = $1", [tok.id]);
    expect(pat).toMatchObject({ token_hash: sha256(token), scopes: ["repo:write", "user:read"], repo_id: String(repo.id), name: "ci" });
    expect(Math.abs(pat.expires_at.getTime() - (Date.now() + 30 * 86_400_000))).toBeLessThan(120_000);
    expect(await dump()).not.toContain(token.slice("shithub_pat_".length));

    const run = await json(["run", "create", "--repo", "alice/demo", "--workflow-file", ".shithub/workflows/ci.yml",
      "--head-sha", SHA, "--source", file("ci.yml")]);
    expect(Object.keys(run)).toEqual(["run_id", "run_index", "job_ids"]);
    expect(run).toEqual({ run_id: expect.any(Number), run_index: 1, job_ids: [expect.any(Number), expect.any(Number)] });
    const jobs = await db.pool.query("SELECT id, job_key, run_id FROM workflow_jobs ORDER BY job_index");
    expect(jobs.rows.map((j) => [Number(j.id), j.job_key, Number(j.run_id)])).toEqual([
      [(run.job_ids as number[])[0], "build", run.run_id],
      [(run.job_ids as number[])[1], "test", run.run_id],
    ]);
    const src = await db.pool.query("SELECT content FROM workflow_sources WHERE head_sha = $1", [SHA]);
    expect(src.rows).toEqual([{ content: CI }]);

    const runner = await json(["runner", "register", "--name", "r1", "--labels", "ubuntu-latest,linux", "--capacity", "2"]);
    expect(Object.keys(runner)).toEqual(["id", "token"]);
    const { rows: [rt] } = await db.pool.query(
      "SELECT t.token_hash, r.labels, r.capacity FROM runner_tokens t JOIN runners r ON r.id = t.runner_id WHERE r.id = $1", [runner.id]);
    expect(rt).toEqual({ token_hash: sha256(runner.token as string), labels: ["ubuntu-latest", "linux"], capacity: 2 });
    expect(await dump()).not.toContain(runner.token as string);

    expect(await json(["token", "revoke", "--id", String(tok.id)])).toEqual({ id: tok.id, revoked: true });
    const revoked = await db.pool.query("SELECT revoked_at FROM personal_access_tokens WHERE id = $1", [tok.id]);
    expect(revoked.rows[0].revoked_at).toBeInstanceOf(Date);
  });

  it("prints one human line without --json, and usage for help", async () => {
    const drain = await cli(["runner", "drain", "--name", "r1"]);
    expect(drain).toEqual({ code: 0, stdout: "runner r1 (id 1): draining\n", stderr: "" });
    const help = await cli(["--help"]);
    expect(help.code).toBe(0);
    for (const c of ["user create", "token create", "workflow push", "run create", "runner undrain"]) expect(help.stdout).toContain(c);
  });

  it("refuses bad requests with one line on stderr, a non-zero exit and no change", async () => {
    const before = await dump();
    const cases: [args: string[], code: number, stderr: RegExp, env?: Record<string, string>][] = [
      [["user", "create", "--login", "alice", "--json"], 1, /user alice already exists/],
      [["collaborator", "add", "--repo", "alice/demo", "--user", "alice", "--role", "owner", "--json"], 1, /role must be one of read, triage/],
      [["token", "create", "--user", "alice", "--scopes", "repo:write,repo:admin", "--json"], 1,
        /unknown scope: repo:admin; valid scopes: repo:read, repo:write, user:read, user:write, admin:read, admin:write/],
      [["token", "create", "--user", "alice", "--scopes", "repo:admin"], 1, /unknown scope: repo:admin; valid scopes: repo:read,/],
      // The missing repository is the first thing to fix, and a bad SHA is named by the flag given.
      [["run", "create", "--repo", "alice/nope", "--workflow-file", ".shithub/workflows/ci.yml", "--head-sha", "abc",
        "--source", file("ci.yml"), "--json"], 1, /^(?!.*sha).*no repository alice\/nope/],
      [["run", "create", "--repo", "alice/demo", "--workflow-file", ".shithub/workflows/ci.yml", "--head-sha", "abc",
        "--source", file("ci.yml")], 1, /--head-sha must be 7 to 64 lowercase hex characters, got "abc"/],
      [["run", "create", "--repo", "alice/demo", "--workflow-file", "ci.yml", "--head-sha", SHA,
        "--source", file("ci.yml")], 1, /--workflow-file must be \.shithub\/workflows\/NAME\.yml/],
      [["repo", "archive", "--repo", "alice/nope", "--json"], 1, /no repository alice\/nope/],
      [["workflow", "push", "--repo", "alice/demo", "--file", ".shithub/workflows/ci.yml", "--sha", SHA,
        "--source", file("ci-changed.yml"), "--json"], 1, /already exists with different content/],
      [["run", "create", "--repo", "alice/demo", "--workflow-file", ".shithub/workflows/bad.yml", "--head-sha", SHA,
        "--source", file("bad.yml"), "--json"], 1, /invalid workflow: .*unknown job "zz"/],
      [["user", "delete", "--login", "alice"], 2, /unknown command "user delete"/],
      [["frob", "--json"], 2, /^unknown command "frob"; see --help$/],
      [["user", "create", "--login", "bob", "--admin", "--json"], 2, /Unknown option '--admin'/],
      [["repo", "create", "--owner", "alice", "--json"], 2, /missing --name/],
      [["user", "create", "--login", "bob", "--json"], 1, /Postgres is unreachable at postgresql:\/\/postgres@127\.0\.0\.1:1\/x \(DATABASE_URL\): .* — start Postgres or set DATABASE_URL/, { DATABASE_URL: "postgresql://postgres@127.0.0.1:1/x" }],
    ];
    const results = await Promise.all(cases.map(([args, , , env]) => cli(args, env)));
    results.forEach((r, i) => {
      const [args, code, stderr] = cases[i]!;
      expect({ args, code: r.code, stdout: r.stdout }).toEqual({ args, code, stdout: "" });
      if (args.includes("--json")) {
        // With --json, a failure is one JSON object on stderr too.
        expect(r.stderr, args.join(" ")).toMatch(/^\{[^\n]+\}\n$/);
        const body = JSON.parse(r.stderr) as Record<string, unknown>;
        expect(Object.keys(body)).toEqual(["error"]);
        expect(body.error).toMatch(stderr);
      } else {
        expect(r.stderr).toMatch(/^admin: [^\n]+\n$/);
        expect(r.stderr.slice("admin: ".length)).toMatch(stderr);
      }
    });
    expect(await dump()).toBe(before);
  });
});

describe("admin ops", () => {
  it("suspends users, archives repos and upserts collaborators", async () => {
    const { prisma } = db;
    await ops.createUser(prisma, { login: "carol" });
    const s = await ops.suspendUser(prisma, "carol");
    expect(s).toMatchObject({ login: "carol", suspended_at: expect.any(String) });
    await expect(ops.suspendUser(prisma, "nobody")).rejects.toThrow(ops.AdminError);
    await expect(ops.createUser(prisma, { login: "-bad" })).rejects.toThrow(/login must be/);

    await ops.createRepo(prisma, { owner: "carol", name: "lib" });
    await expect(ops.createRepo(prisma, { owner: "carol", name: "lib" })).rejects.toThrow("repository carol/lib already exists");
    await expect(ops.createRepo(prisma, { owner: "carol", name: "a/b" })).rejects.toThrow(/repository name/);
    expect(await ops.archiveRepo(prisma, "carol/lib")).toMatchObject({ full_name: "carol/lib", archived: true });
    await expect(ops.archiveRepo(prisma, "carol")).rejects.toThrow(/OWNER\/NAME/);

    await ops.addCollaborator(prisma, { repo: "alice/demo", user: "carol", role: "read" });
    expect(await ops.addCollaborator(prisma, { repo: "alice/demo", user: "carol", role: "write" })).toEqual({ repo: "alice/demo", user: "carol", role: "write" });
    const rows = await db.pool.query("SELECT role FROM repo_collaborators c JOIN users u ON u.id = c.user_id WHERE u.login = 'carol'");
    expect(rows.rows).toEqual([{ role: "write" }]);
  });

  it("validates token requests and revokes idempotently", async () => {
    const { prisma } = db;
    await expect(ops.createToken(prisma, { user: "alice", scopes: [] })).rejects.toThrow(/none given/);
    await expect(ops.createToken(prisma, { user: "alice", scopes: ["repo:read"], expiresInDays: 0 })).rejects.toThrow(/expires-in-days/);
    await expect(ops.createToken(prisma, { user: "alice", scopes: ["repo:read"], repo: "alice/nope" })).rejects.toThrow(/no repository/);
    await expect(ops.createToken(prisma, { user: "nobody", scopes: ["repo:read"] })).rejects.toThrow(/no user nobody/);
    const t = await ops.createToken(prisma, { user: "alice", scopes: ["repo:read", "repo:read"] });
    expect(t).toMatchObject({ scopes: ["repo:read"], expires_at: null });
    expect(await ops.revokeToken(prisma, t.id)).toEqual({ id: t.id, revoked: true });
    expect(await ops.revokeToken(prisma, t.id)).toEqual({ id: t.id, revoked: true });
    await expect(ops.revokeToken(prisma, 999_999)).rejects.toThrow("no token 999999");
    await expect(ops.revokeToken(prisma, Number.NaN)).rejects.toThrow(ops.AdminError);
  });

  it("stores workflow sources once and creates runs from them", async () => {
    const { prisma } = db;
    const push = { repo: "alice/demo", file: ".shithub/workflows/ci.yml", sha: SHA, content: CI };
    expect(await ops.pushWorkflow(prisma, push)).toMatchObject({ created: false });
    expect(await ops.pushWorkflow(prisma, { ...push, sha: "abcdef1" })).toMatchObject({ created: true });
    await expect(ops.pushWorkflow(prisma, { ...push, sha: "XYZ" })).rejects.toThrow(/--sha must be/);
    await expect(ops.pushWorkflow(prisma, { ...push, repo: "alice/nope", sha: "XYZ" })).rejects.toThrow("no repository alice/nope");
    await expect(ops.createRunFromSource(prisma, { repo: "alice/nope", workflowFile: push.file, headSha: "XYZ" })).rejects.toThrow("no repository alice/nope");
    await expect(ops.createRunFromSource(prisma, { repo: "alice/demo", workflowFile: push.file, headSha: "XYZ" })).rejects.toThrow(/^--head-sha must be/);
    await expect(ops.pushWorkflow(prisma, { ...push, file: "ci.yml" })).rejects.toThrow(/--file/);
    // A push is a commit: it may hold an invalid workflow, which a run then refuses.
    await ops.pushWorkflow(prisma, { ...push, file: ".shithub/workflows/bad.yml", content: BAD });

    const run = await ops.createRunFromSource(prisma, { repo: "alice/demo", workflowFile: push.file, headSha: "abcdef1", event: "workflow_dispatch" });
    expect(run).toMatchObject({ run_index: 2, job_ids: [expect.any(Number), expect.any(Number)] });
    const row = await db.pool.query("SELECT event, head_ref, workflow_name FROM workflow_runs WHERE id = $1", [run.run_id]);
    expect(row.rows[0]).toEqual({ event: "workflow_dispatch", head_ref: "refs/heads/main", workflow_name: "CI" });
    await expect(ops.createRunFromSource(prisma, { repo: "alice/demo", workflowFile: push.file, headSha: "abcdef2" })).rejects.toThrow(/no workflow source/);
    await expect(ops.createRunFromSource(prisma, { repo: "alice/demo", workflowFile: ".shithub/workflows/bad.yml", headSha: SHA })).rejects.toThrow(/invalid workflow/);
  });

  it("registers runners with valid labels and changes their state", async () => {
    const { prisma } = db;
    await expect(ops.registerRunner(prisma, { name: "r1", labels: ["linux"], capacity: 1 })).rejects.toThrow("runner r1 already exists");
    await expect(ops.registerRunner(prisma, { name: "r2", labels: ["ubuntu latest"], capacity: 1 })).rejects.toThrow(/bad runner label/);
    await expect(ops.registerRunner(prisma, { name: "r2", labels: ["linux"], capacity: 0 })).rejects.toThrow(/capacity/);
    const r2 = await ops.registerRunner(prisma, { name: "r2", labels: ["linux", "linux", "x64"], capacity: 1 });
    expect((await prisma.runner.findUniqueOrThrow({ where: { name: "r2" } })).labels).toEqual(["linux", "x64"]);
    expect(await ops.setRunnerState(prisma, "r2", "drain")).toEqual({ id: r2.id, name: "r2", draining: true, revoked: false });
    expect(await ops.setRunnerState(prisma, "r2", "undrain")).toEqual({ id: r2.id, name: "r2", draining: false, revoked: false });
    expect(await ops.setRunnerState(prisma, "r2", "revoke")).toMatchObject({ revoked: true });
    await expect(ops.setRunnerState(prisma, "r9", "drain")).rejects.toThrow("no runner r9");
  });
});
