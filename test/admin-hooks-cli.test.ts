// Integration: `admin hook list` and `admin hook deliveries` as automation runs them (a
// child process against a real database, as in test/admin-cli.test.ts): the JSON contract,
// the human lines, newest-first and the filters, and the refusals with their exit codes.
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as ops from "../admin/ops.ts";
import { createTestDb, type TestDb } from "./setup/db.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
/** Stands in for what SecretBox stores: it must never reach the output. */
const SEALED = "sealed-secret-must-not-leak";

let db: TestDb;
const hooks: Record<"signed" | "plain" | "other", number> = { signed: 0, plain: 0, other: 0 };
const deliveries: Record<string, number> = {};

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

function cli(args: string[]): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", "admin/cli.ts", ...args], {
      cwd: ROOT,
      env: { ...process.env, ADMIN_DEBUG: "", DATABASE_URL: db.url },
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

async function hook(repo: string, url: string, secret: string | null, events: string[], active = true): Promise<number> {
  const { rows: [r] } = await db.pool.query<{ id: string }>(
    `INSERT INTO repo_hooks (repo_id, url, secret_encrypted, events, active)
     SELECT r.id, $2, $3, $4, $5 FROM repos r JOIN users u ON u.id = r.owner_id WHERE u.login || '/' || r.name = $1 RETURNING id::text`,
    [repo, url, secret, events, active]);
  return Number(r!.id);
}

/** A delivery row as the worker leaves it; `ageS` seconds old, so "newest first" is not the insert order by accident. */
async function delivery(hookId: number, d: { action: string; state: string; attempts: number; status?: number; error?: string; ms?: number; ageS: number }): Promise<number> {
  const { rows: [r] } = await db.pool.query<{ id: string }>(
    `INSERT INTO hook_deliveries (hook_id, guid, event_id, run_id, event, action, state, attempts, status_code, error, duration_ms, created_at, updated_at)
     VALUES ($1, gen_random_uuid(), 1, 1, 'workflow_job', $2, $3::delivery_state, $4, $5, $6, $7, now() - make_interval(secs => $8), now() - make_interval(secs => $8))
     RETURNING id::text`,
    [hookId, d.action, d.state, d.attempts, d.status ?? null, d.error ?? null, d.ms ?? null, d.ageS]);
  return Number(r!.id);
}

beforeAll(async () => {
  db = await createTestDb("adminhooks");
  await ops.createUser(db.prisma, { login: "alice" });
  await ops.createRepo(db.prisma, { owner: "alice", name: "demo" });
  await ops.createRepo(db.prisma, { owner: "alice", name: "other" });
  await ops.createRepo(db.prisma, { owner: "alice", name: "bare" });
  hooks.signed = await hook("alice/demo", "https://hooks.example.test/a", SEALED, ["workflow_job", "workflow_run"]);
  hooks.plain = await hook("alice/demo", "https://hooks.example.test/b", null, ["workflow_run"], false);
  hooks.other = await hook("alice/other", "https://hooks.example.test/c", null, ["workflow_job"]);
  deliveries.first = await delivery(hooks.signed, { action: "queued", state: "delivered", attempts: 1, status: 200, ms: 12, ageS: 30 });
  deliveries.second = await delivery(hooks.signed, { action: "in_progress", state: "failed", attempts: 3, status: 500, error: "HTTP 500", ms: 40, ageS: 20 });
  deliveries.third = await delivery(hooks.signed, { action: "completed", state: "retrying", attempts: 1, error: "connect ECONNREFUSED", ms: 3, ageS: 10 });
  deliveries.fourth = await delivery(hooks.signed, { action: "completed", state: "waiting", attempts: 0, ageS: 5 });
});

afterAll(async () => {
  await db?.drop();
});

describe("admin hook", { timeout: 180_000 }, () => {
  it("lists a repository's hooks with their last delivery, and never the secret", async () => {
    const out = await json(["hook", "list", "--repo", "alice/demo"]);
    expect(out).toEqual({
      repo: "alice/demo",
      hooks: [
        {
          id: hooks.signed, url: "https://hooks.example.test/a", events: ["workflow_job", "workflow_run"], active: true, has_secret: true,
          // The last finished attempt (a waiting delivery has none yet).
          last_delivery: { state: "retrying", status_code: null, error: "connect ECONNREFUSED" },
        },
        { id: hooks.plain, url: "https://hooks.example.test/b", events: ["workflow_run"], active: false, has_secret: false, last_delivery: null },
      ],
    });
    const human = await cli(["hook", "list", "--repo", "alice/demo"]);
    expect(human).toEqual({
      code: 0,
      stderr: "",
      stdout: `hook ${hooks.signed} https://hooks.example.test/a [workflow_job,workflow_run] active, secret; last retrying (connect ECONNREFUSED)\n`
        + `hook ${hooks.plain} https://hooks.example.test/b [workflow_run] inactive, no secret; no deliveries yet\n`,
    });
    expect(await json(["hook", "list", "--repo", "alice/bare"])).toEqual({ repo: "alice/bare", hooks: [] });
    expect((await cli(["hook", "list", "--repo", "alice/bare"])).stdout).toBe("no hooks on alice/bare\n");
    for (const r of [human, await cli(["hook", "list", "--repo", "alice/demo", "--json"])]) expect(r.stdout).not.toContain(SEALED);
  });

  it("lists a hook's deliveries newest first, limited and filtered by state", async () => {
    const out = await json(["hook", "deliveries", "--repo", "alice/demo", "--hook", String(hooks.signed)]);
    expect(out.repo).toBe("alice/demo");
    expect(out.hook).toBe(hooks.signed);
    const rows = out.deliveries as Record<string, unknown>[];
    expect(rows.map((d) => d.id)).toEqual([deliveries.fourth, deliveries.third, deliveries.second, deliveries.first]);
    expect(Object.keys(rows[0]!)).toEqual(["id", "guid", "event", "action", "state", "attempts", "status_code", "error", "duration_ms", "created_at"]);
    expect(rows[2]).toEqual({
      id: deliveries.second, guid: expect.stringMatching(/^[0-9a-f-]{36}$/), event: "workflow_job", action: "in_progress", state: "failed",
      attempts: 3, status_code: 500, error: "HTTP 500", duration_ms: 40, created_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
    });
    expect(Date.parse(rows[0]!.created_at as string)).toBeGreaterThan(Date.parse(rows[3]!.created_at as string));

    const limited = await json(["hook", "deliveries", "--repo", "alice/demo", "--hook", String(hooks.signed), "--limit", "2"]);
    expect((limited.deliveries as { id: number }[]).map((d) => d.id)).toEqual([deliveries.fourth, deliveries.third]);
    const failed = await json(["hook", "deliveries", "--repo", "alice/demo", "--hook", String(hooks.signed), "--state", "failed"]);
    expect((failed.deliveries as { id: number }[]).map((d) => d.id)).toEqual([deliveries.second]);
    expect((await json(["hook", "deliveries", "--repo", "alice/demo", "--hook", String(hooks.plain)])).deliveries).toEqual([]);

    const human = await cli(["hook", "deliveries", "--repo", "alice/demo", "--hook", String(hooks.signed), "--state", "failed"]);
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(new RegExp(`^delivery ${deliveries.second} [0-9a-f-]{36} workflow_job\\.in_progress failed attempts 3 status 500 40ms \\S+Z error: HTTP 500\\n$`));
  });

  it("names the command in the help listing", async () => {
    const help = await cli(["--help"]);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain("  hook list --repo OWNER/NAME [--json]\n");
    expect(help.stdout).toContain("  hook deliveries --repo OWNER/NAME --hook ID [--limit N] [--state delivered|failed|retrying|queued|waiting] [--json]\n");
  });

  it("refuses unknown repositories and hooks and bad flags with one line, exit 1 or 2, and nothing on stdout", async () => {
    const d = ["hook", "deliveries", "--repo", "alice/demo"];
    const cases: [args: string[], code: number, stderr: RegExp][] = [
      [["hook", "list", "--repo", "alice/nope", "--json"], 1, /^no repository alice\/nope$/],
      [["hook", "list", "--repo", "alice"], 1, /^repository must be OWNER\/NAME, got "alice"$/],
      [["hook", "deliveries", "--repo", "alice/nope", "--hook", String(hooks.signed), "--json"], 1, /^no repository alice\/nope$/],
      [[...d, "--hook", "999999", "--json"], 1, /^no hook 999999 on alice\/demo$/],
      // Another repository's hook is not found through this one.
      [[...d, "--hook", String(hooks.other)], 1, new RegExp(`^no hook ${hooks.other} on alice/demo$`)],
      [[...d, "--hook", "abc", "--json"], 2, /^--hook must be a positive whole number, got "abc"$/],
      [[...d, "--hook", String(hooks.signed), "--state", "lost", "--json"], 1, /^--state must be one of delivered, failed, retrying, queued, waiting, got "lost"$/],
      [[...d, "--hook", String(hooks.signed), "--limit", "ten"], 2, /^--limit must be a whole number, got "ten"$/],
      [[...d, "--hook", String(hooks.signed), "--limit", "0", "--json"], 1, /^--limit must be 1 to 100, got 0$/],
      [[...d, "--json"], 2, /^missing --hook \(usage: hook deliveries /],
      [["hook", "list", "--repo", "alice/demo", "--secret", "--json"], 2, /^Unknown option '--secret' \(usage: hook list /],
      [["hook", "delete", "--repo", "alice/demo"], 2, /^unknown command "hook delete"; see --help$/],
    ];
    const results = await Promise.all(cases.map(([args]) => cli(args)));
    results.forEach((r, i) => {
      const [args, code, stderr] = cases[i]!;
      expect({ args, code: r.code, stdout: r.stdout }).toEqual({ args, code, stdout: "" });
      if (args.includes("--json")) {
        expect(r.stderr, args.join(" ")).toMatch(/^\{[^\n]+\}\n$/);
        const body = JSON.parse(r.stderr) as Record<string, unknown>;
        expect(Object.keys(body)).toEqual(["error"]);
        expect(body.error, args.join(" ")).toMatch(stderr);
      } else {
        expect(r.stderr, args.join(" ")).toMatch(/^admin: [^\n]+\n$/);
        expect(r.stderr.slice("admin: ".length, -1), args.join(" ")).toMatch(stderr);
      }
    });
  });
});
