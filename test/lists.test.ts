import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as ops from "../admin/ops.ts";
import type { Prisma } from "../infra/generated/prisma/client.ts";
import { render } from "../infra/sqlf.ts";
import { runsPageSql } from "../domain/data/lists.ts";
import { parseListQuery } from "../domain/data/list-query.ts";
import { expectInvariants } from "./setup/invariants.ts";
import { createTestDb, type TestDb } from "./setup/db.ts";
import { startStack, type Stack } from "./setup/stack.ts";
import { buildWorld, call, ONE_JOB, pushAndRun } from "./setup/world.ts";

// The native lists against the real stack (docs/api.md, "Lists"). The listed repository's
// runs are written straight into workflow_runs (a read does not care how a run came to be,
// and this way every filter has runs that match and runs that do not); the answers are
// compared with what Prisma finds for the same conditions.

let db: TestDb;
let stack: Stack;
let world: Awaited<ReturnType<typeof buildWorld>>;
let repoId: bigint;
let bigRepoId: bigint;
let readOnly: string;
let noRepoScope: string;
const SEEDED = 120;

/** Runs i = 1..n: pairs share a created_at (id breaks the tie), two a day from `start`. */
async function seed(repo: bigint, n: number, start = "2026-01-01", offset = 0) {
  await db.pool.query(
    `INSERT INTO workflow_runs (repo_id, run_index, workflow_file, workflow_name, head_sha, head_ref, event, actor_user_id,
       status, conclusion, completed_at, created_at)
     SELECT $1::bigint, $4::int + i, '.shithub/workflows/ci.yml', 'CI', lpad(to_hex(i), 40, '0'),
       (ARRAY['refs/heads/main', 'main', 'feature', 'feature'])[1 + i % 4],
       CASE WHEN i % 5 = 0 THEN 'workflow_dispatch' ELSE 'push' END,
       (SELECT id FROM users WHERE login = CASE WHEN i % 2 = 0 THEN 'alice' ELSE 'bob' END),
       (ARRAY['completed', 'queued', 'running'])[1 + i % 3]::run_status,
       CASE WHEN i % 3 = 0 THEN (CASE WHEN i % 2 = 0 THEN 'success' ELSE 'failure' END)::conclusion END,
       CASE WHEN i % 3 = 0 THEN $3::timestamptz + (i / 2) * interval '12 hours' + interval '1 minute' END,
       $3::timestamptz + (i / 2) * interval '12 hours'
     FROM generate_series(1, $2::int) i`,
    [repo.toString(), n, start, offset],
  );
}

beforeAll(async () => {
  db = await createTestDb("lists");
  stack = await startStack(db);
  world = await buildWorld(db.prisma);
  repoId = BigInt((await ops.createRepo(db.prisma, { owner: "alice", name: "lists" })).id);
  bigRepoId = BigInt((await ops.createRepo(db.prisma, { owner: "alice", name: "big" })).id);
  readOnly = (await ops.createToken(db.prisma, { user: "carol", scopes: ["repo:read"] })).token;
  noRepoScope = (await ops.createToken(db.prisma, { user: "alice", scopes: ["user:read"] })).token;
  await seed(repoId, SEEDED);
});

afterAll(async () => {
  // The synthetic runs have no jobs, which the lifecycle invariants rightly refuse: their
  // repositories go (with their runs) before the check of what the real paths made.
  if (db) {
    await db.pool.query(`DELETE FROM repos WHERE id = ANY($1::bigint[])`, [[repoId.toString(), bigRepoId.toString()]]);
    await expectInvariants(db);
  }
  await stack?.stop();
  await db?.drop();
});

const LIST = "/api/v1/repos/alice/lists/actions/runs";
const get = (path: string, token: string | undefined = readOnly) => call(stack.url, "GET", path, { token });
const qs = (q: Record<string, string>) => new URLSearchParams(q).toString();

/** What the list must answer: the same conditions through Prisma, newest first. */
async function expected(where: Prisma.WorkflowRunWhereInput, repo = repoId): Promise<number[]> {
  const rows = await db.prisma.workflowRun.findMany({ where: { repoId: repo, ...where }, orderBy: [{ createdAt: "desc" }, { id: "desc" }], select: { id: true } });
  return rows.map((r) => Number(r.id));
}

const nextLink = (link: string | null) => /<([^>]+)>; rel="next"/.exec(link ?? "")?.[1] ?? null;

/** Every page, following rel="next"; `between` runs after each page is read. */
async function allPages(first: string, between: () => Promise<void> = async () => {}) {
  const pages: number[][] = [];
  for (let path: string | null = first; path !== null;) {
    const res = await get(path);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.headers.get("link")).toMatch(/rel="first"/);
    pages.push(res.body.runs.map((r: { id: number }) => r.id));
    path = nextLink(res.headers.get("link"));
    expect(res.body.next_cursor === null).toBe(path === null);
    if (path !== null) await between();
    if (pages.length > 200) throw new Error("more pages than runs");
  }
  return pages;
}

describe("GET /api/v1/repos/{owner}/{repo}/actions/runs", () => {
  it("lists newest first, 30 a page by default, as GET /runs/{id} shows each run (without jobs)", async () => {
    const res = await get(LIST);
    expect(res.status).toBe(200);
    const all = await expected({});
    expect(res.body.runs.map((r: { id: number }) => r.id)).toEqual(all.slice(0, 30));
    const one = res.body.runs[0];
    const { jobs, ...shown } = (await get(`/api/v1/runs/${one.id}`)).body;
    expect(jobs).toEqual([]);
    expect(one).toEqual(shown);
  });

  it("filters each alone and combined, as the database says", async () => {
    const alice = await db.prisma.user.findUniqueOrThrow({ where: { login: "alice" } });
    const main = { headRef: { in: ["main", "refs/heads/main"] } };
    const cases: [Record<string, string>, Prisma.WorkflowRunWhereInput][] = [
      [{ status: "queued" }, { status: "queued" }],
      [{ status: "completed" }, { status: "completed" }],
      [{ conclusion: "failure" }, { conclusion: "failure" }],
      [{ branch: "main" }, main],
      [{ branch: "refs/heads/main" }, main],
      [{ branch: "feature" }, { headRef: { in: ["feature", "refs/heads/feature"] } }],
      [{ event: "workflow_dispatch" }, { event: "workflow_dispatch" }],
      [{ head_sha: "000000000000000000000000000000000000002A" }, { headSha: "000000000000000000000000000000000000002a" }],
      [{ actor: "alice" }, { actorUserId: alice.id }],
      [{ actor: "nobody-by-that-name" }, { id: -1n }],
      [{ status: "completed", conclusion: "success", branch: "main", actor: "alice" }, { status: "completed", conclusion: "success", ...main, actorUserId: alice.id }],
      [{ event: "push", status: "running", created: "<2026-01-20" }, { event: "push", status: "running", createdAt: { lt: new Date("2026-01-20T00:00:00Z") } }],
    ];
    for (const [query, where] of cases) {
      const want = await expected(where);
      const got = (await allPages(`${LIST}?${qs({ ...query, per_page: "100" })}`)).flat();
      expect(got, JSON.stringify(query)).toEqual(want);
      if (!("actor" in query && query.actor.startsWith("nobody"))) expect(want.length, JSON.stringify(query)).toBeGreaterThan(0);
      expect(want.length, JSON.stringify(query)).toBeLessThan(SEEDED);
    }
  });

  it("takes created ranges in GitHub's syntax", async () => {
    const at = (s: string) => new Date(`${s}T00:00:00Z`);
    const cases: [string, Prisma.DateTimeFilter][] = [
      ["2026-01-10", { gte: at("2026-01-10"), lt: at("2026-01-11") }],
      [">=2026-01-25", { gte: at("2026-01-25") }],
      [">2026-01-25", { gte: at("2026-01-26") }],
      ["<2026-01-05", { lt: at("2026-01-05") }],
      ["<=2026-01-05", { lt: at("2026-01-06") }],
      ["2026-01-10..2026-01-12", { gte: at("2026-01-10"), lt: at("2026-01-13") }],
      ["*..2026-01-03", { lt: at("2026-01-04") }],
      ["2026-01-10T12:00:00Z", { gte: new Date("2026-01-10T12:00:00Z"), lte: new Date("2026-01-10T12:00:00Z") }],
    ];
    for (const [created, filter] of cases) {
      const want = await expected({ createdAt: filter });
      expect(want.length, created).toBeGreaterThan(0);
      expect(want.length, created).toBeLessThan(SEEDED);
      expect((await allPages(`${LIST}?${qs({ created, per_page: "100" })}`)).flat(), created).toEqual(want);
    }
  });

  it("pages by Link while runs are added: no duplicates, no gaps, in order", async () => {
    const before = await expected({});
    let added = 0;
    // A new run between page fetches (what a busy repository does), some backdated into
    // what is yet to be read: neither shifts nor repeats what the client reads.
    const addRun = async () => {
      added++;
      await seed(repoId, 1, added % 2 === 0 ? "2026-01-15" : new Date().toISOString(), 10_000 + added);
    };
    const pages = await allPages(`${LIST}?per_page=7&event=push`, addRun);
    const ids = pages.flat();
    expect(pages.length).toBeGreaterThan(2);
    expect(pages.slice(0, -1).every((p) => p.length === 7)).toBe(true);
    expect(new Set(ids).size).toBe(ids.length);
    const pushBefore = new Set(await expected({ event: "push", id: { in: before.map(BigInt) } }));
    expect(ids.filter((id) => pushBefore.has(id))).toEqual([...pushBefore]);
    // The order holds across page boundaries too: every id is where the database puts it.
    const now = await expected({ event: "push", id: { in: ids.map(BigInt) } });
    expect(ids).toEqual(now);
    expect(added).toBe(pages.length - 1);
  });

  it("keeps the filters in the links, and a first link back to the start", async () => {
    const res = await get(`${LIST}?status=completed&per_page=5`);
    const link = res.headers.get("link")!;
    expect(link).toBe(`<${LIST}?status=completed&per_page=5&cursor=${res.body.next_cursor}>; rel="next", <${LIST}?status=completed&per_page=5>; rel="first"`);
    const last = await get(`${LIST}?status=completed&per_page=100`);
    expect(last.headers.get("link")).toBe(`<${LIST}?status=completed&per_page=100>; rel="first"`);
    expect(last.body.next_cursor).toBeNull();
  });

  it("refuses bad filters and cursors with 400 naming the parameter", async () => {
    const cursor = (await get(`${LIST}?per_page=2`)).body.next_cursor as string;
    const cases: [string, RegExp][] = [
      ["status=done", /^status: expected one of queued, running, completed/],
      ["conclusion=ok", /^conclusion: /],
      ["created=yesterday", /^created: expected a date/],
      ["created=2026-02-01..2026-01-01", /^created: the range ends before it starts$/],
      ["per_page=0", /^per_page: /],
      ["per_page=1000", /^per_page: /],
      ["head_sha=zz", /^head_sha: /],
      ["status=queued&status=running", /^status: give it once/],
      ["page=2", /^page: unknown parameter/],
      ["cursor=not-a-cursor", /^cursor: not a cursor this API gave out/],
      [`cursor=${cursor.slice(0, -2)}`, /^cursor: /],
      [`cursor=${Buffer.from("1.-5").toString("base64url")}`, /^cursor: /],
    ];
    for (const [q, message] of cases) {
      const res = await get(`${LIST}?${q}`);
      expect(res.status, q).toBe(400);
      expect(Object.keys(res.body)).toEqual(["error"]);
      expect(res.body.error, q).toMatch(message);
    }
  });

  it("hides a private repository the caller cannot see exactly as a missing one", async () => {
    const priv = await pushAndRun(db.prisma, "alice/secret", ONE_JOB, "5ec0e7aa");
    const missing = await get("/api/v1/repos/alice/no-such-repo/actions/runs", world.tokens.dave);
    expect(missing).toMatchObject({ status: 404, body: { error: "repository not found" } });
    for (const token of [world.tokens.dave, world.tokens.bob, world.tokens.aliceBoundOther]) {
      const hidden = await get("/api/v1/repos/alice/secret/actions/runs", token);
      expect({ status: hidden.status, body: hidden.body }).toEqual({ status: missing.status, body: missing.body });
      // A bad filter changes nothing: what the caller may see is decided first.
      expect((await get("/api/v1/repos/alice/secret/actions/runs?status=bad", token)).status).toBe(404);
    }
    const own = await get("/api/v1/repos/alice/secret/actions/runs", world.tokens.alice);
    expect(own.status).toBe(200);
    expect(own.body.runs.map((r: { id: number }) => r.id)).toEqual([priv.run_id]);
    // The public repository's list does not carry the private one's runs.
    expect((await allPages(`${LIST}?per_page=100`)).flat()).not.toContain(priv.run_id);
  });

  it("answers 401 without a valid token and 403 without repo:read", async () => {
    expect((await get(LIST, "")).status).toBe(401);
    expect((await get(LIST, "shithub_pat_notAValidTokenAtAll")).status).toBe(401);
    expect(await get(LIST, noRepoScope)).toMatchObject({ status: 403, body: { error: "token lacks required scope: repo:read" } });
  });
});

describe("GET /api/v1/runs/{id}/jobs", () => {
  it("lists a run's jobs as GET /runs/{id} does, and hides what the caller cannot see", async () => {
    const pub = await pushAndRun(db.prisma, "alice/demo", ONE_JOB, "10b50001");
    const res = await get(`/api/v1/runs/${pub.run_id}/jobs`);
    expect(res.status).toBe(200);
    const run = (await get(`/api/v1/runs/${pub.run_id}`)).body;
    expect(res.body).toEqual({ run_id: pub.run_id, jobs: run.jobs });
    expect(res.body.jobs.map((j: { id: number }) => j.id)).toEqual(pub.job_ids);

    const priv = await pushAndRun(db.prisma, "alice/secret", ONE_JOB, "10b50002");
    const hidden = await get(`/api/v1/runs/${priv.run_id}/jobs`, world.tokens.dave);
    const missing = await get(`/api/v1/runs/987654321/jobs`, world.tokens.dave);
    expect(hidden).toMatchObject({ status: 404, body: { error: "run not found" } });
    expect({ status: hidden.status, body: hidden.body }).toEqual({ status: missing.status, body: missing.body });
    expect((await get(`/api/v1/runs/${priv.run_id}/jobs`, world.tokens.alice)).body.jobs).toHaveLength(1);
    expect((await get(`/api/v1/runs/${pub.run_id}/jobs`, "")).status).toBe(401);
    expect((await get(`/api/v1/runs/${pub.run_id}/jobs`, noRepoScope)).status).toBe(403);
  });
});

describe("the page query's plan", () => {
  interface PlanNode { "Node Type": string; "Index Name"?: string; "Relation Name"?: string; Plans?: PlanNode[] }
  const nodes = (n: PlanNode): PlanNode[] => [n, ...(n.Plans ?? []).flatMap(nodes)];

  it("reads an index range in order, never sorting a repository's runs, for the common filters", async () => {
    // Enough runs that the planner's choice is the one it makes at scale (on a few
    // hundred rows a sequential scan and a sort are cheaper, and it would take those).
    await seed(bigRepoId, 50_000, "2025-01-01");
    await db.pool.query("ANALYZE workflow_runs");
    const cursor = (await get(`/api/v1/repos/alice/big/actions/runs?per_page=5`)).body.next_cursor as string;
    const queries: Record<string, string>[] = [
      {}, { cursor }, { status: "running" }, { status: "completed", cursor }, { conclusion: "failure" }, { branch: "main" },
      { actor: "alice" }, { event: "push" }, { head_sha: "000000000000000000000000000000000000beef" }, { created: "2025-03-01..2025-03-31" },
      { status: "queued", branch: "feature", created: ">=2025-06-01" },
    ];
    for (const q of queries) {
      const parsed = parseListQuery(q);
      if (!parsed.ok) throw new Error(parsed.message);
      const { text, values } = render(runsPageSql(bigRepoId, parsed.value));
      const { rows } = await db.pool.query(`EXPLAIN (FORMAT JSON) ${text}`, values);
      const plan = nodes(rows[0]["QUERY PLAN"][0].Plan as PlanNode);
      const where = `${JSON.stringify(q)}: ${plan.map((n) => `${n["Node Type"]}${n["Index Name"] ? ` ${n["Index Name"]}` : ""}`).join(" > ")}`;
      expect(plan.some((n) => /Sort/.test(n["Node Type"])), where).toBe(false);
      const runs = plan.filter((n) => n["Relation Name"] === "workflow_runs");
      expect(runs.length, where).toBe(1);
      expect(runs[0]!["Node Type"], where).toMatch(/^Index (Only )?Scan$/);
      expect(runs[0]!["Index Name"], where).toMatch(/^workflow_runs_repo_id_(status_|head_sha_)?created_at_id_idx$/);
    }
  });
});

describe("GitHub's list of the same runs (/api/v3)", () => {
  const V3 = "/api/v3/repos/alice/lists/actions/runs";
  it("agrees with the native list, and with a filter stops at the first 1,000 matches as GitHub does", async () => {
    const all = await get(`${V3}?per_page=100`);
    expect(all.status).toBe(200);
    expect(all.body.total_count).toBe((await expected({ originalRunId: null })).length);
    expect(all.body.workflow_runs.map((r: { id: number }) => r.id)).toEqual((await expected({ originalRunId: null })).slice(0, 100));
    const push = await get(`${V3}?event=push&per_page=7&page=2`);
    const pushed = await expected({ event: "push", originalRunId: null });
    expect(push.body.total_count).toBe(pushed.length);
    expect(push.body.workflow_runs.map((r: { id: number }) => r.id)).toEqual(pushed.slice(7, 14));

    // Enough runs that a filter matches more than 1,000 of them.
    const capped = BigInt((await ops.createRepo(db.prisma, { owner: "alice", name: "capped" })).id);
    await seed(capped, 1_500, "2025-01-01");
    try {
      const path = "/api/v3/repos/alice/capped/actions/runs";
      const matching = await expected({ event: "push" }, capped);
      expect(matching.length).toBeGreaterThan(1_000);
      expect((await get(`${path}?per_page=100`)).body.total_count).toBe(1_500);
      const first = await get(`${path}?event=push&per_page=100`);
      expect(first.body.total_count).toBe(1_000);
      expect(first.headers.get("link")).toMatch(/[?&]page=10>; rel="last"/);
      const last = await get(`${path}?event=push&per_page=100&page=10`);
      expect(last.body.workflow_runs.map((r: { id: number }) => r.id)).toEqual(matching.slice(900, 1_000));
      expect((await get(`${path}?event=push&per_page=100&page=11`)).body).toEqual({ total_count: 1_000, workflow_runs: [] });
    } finally {
      await db.pool.query(`DELETE FROM repos WHERE id = $1::bigint`, [capped.toString()]);
    }
  });
});
