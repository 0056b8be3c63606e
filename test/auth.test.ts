import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as ops from "../admin/ops.ts";
import { expectInvariants } from "./setup/invariants.ts";
import { createTestDb, type TestDb } from "./setup/db.ts";
import { fingerprint } from "./setup/fingerprint.ts";
import { startStack, type Stack } from "./setup/stack.ts";
import { buildWorld, call, ONE_JOB, pushAndRun } from "./setup/world.ts";

let db: TestDb;
let stack: Stack;
let world: Awaited<ReturnType<typeof buildWorld>>;
let pubJob: number;
let privJob: number;
let otherRepoJob: number;
let archivedJob: number;
let pubRun: number;

beforeAll(async () => {
  db = await createTestDb("auth");
  stack = await startStack(db);
  world = await buildWorld(db.prisma);
  const pub = await pushAndRun(db.prisma, "alice/demo", ONE_JOB, "aaaa0001");
  const priv = await pushAndRun(db.prisma, "alice/secret", ONE_JOB, "aaaa0002");
  const arch = await pushAndRun(db.prisma, "alice/old", ONE_JOB, "aaaa0003");
  pubJob = pub.job_ids[0]!;
  pubRun = pub.run_id;
  privJob = priv.job_ids[0]!;
  archivedJob = arch.job_ids[0]!;
  await ops.archiveRepo(db.prisma, "alice/old");
  otherRepoJob = pubJob;
});
afterAll(async () => {
  // Whatever the tests did, the database must still satisfy every invariant.
  if (db) await expectInvariants(db);
  await stack?.stop();
  await db?.drop();
});

const cancel = (id: number | string, o: Parameters<typeof call>[3] = {}) => call(stack.url, "POST", `/api/v1/jobs/${id}/cancel`, o);

async function unchanged(f: () => Promise<void>) {
  const before = await fingerprint(db.pool);
  await f();
  expect(await fingerprint(db.pool)).toBe(before);
}

describe("authentication", () => {
  it("answers 401 unauthenticated without credentials", () =>
    unchanged(async () => {
      const r = await cancel(pubJob);
      expect(r).toMatchObject({ status: 401, body: { error: "unauthenticated" } });
      expect(r.headers.get("www-authenticate")).toBe('Bearer realm="shithub"');
    }));

  it.each([
    ["garbage", "Bearer not-a-token", "invalid token"],
    ["unknown well-formed", `Bearer shithub_pat_${"A".repeat(32)}`, "invalid token"],
    ["unknown scheme", "Digest abc", "invalid token"],
  ])("answers 401 for a %s token", (_n, header, reason) =>
    unchanged(async () => {
      const r = await cancel(pubJob, { headers: { authorization: header } });
      expect(r).toMatchObject({ status: 401, body: { error: reason } });
      expect(r.headers.get("www-authenticate")).toContain('error="invalid_token"');
    }));

  it("answers 401 for revoked, expired and suspended", async () => {
    const revoked = await ops.createToken(db.prisma, { user: "bob", scopes: ["repo:write"] });
    await ops.revokeToken(db.prisma, revoked.id);
    const expired = await ops.createToken(db.prisma, { user: "bob", scopes: ["repo:write"], expiresInDays: 1 });
    await db.prisma.personalAccessToken.update({ where: { id: BigInt(expired.id) }, data: { expiresAt: new Date(Date.now() - 1000) } });
    const suspended = await ops.createToken(db.prisma, { user: "mallory", scopes: ["repo:write"] });
    await ops.suspendUser(db.prisma, "mallory");
    await unchanged(async () => {
      for (const [token, reason] of [[revoked.token, "token revoked"], [expired.token, "token expired"], [suspended.token, "account suspended"]] as const) {
        const r = await cancel(pubJob, { token });
        expect(r).toMatchObject({ status: 401, body: { error: reason } });
        expect(r.headers.get("www-authenticate")).toContain('error="invalid_token"');
      }
    });
  });

  it("accepts Bearer, token and Basic forms", async () => {
    const read = (h: string) => call(stack.url, "GET", `/api/v1/runs/${pubRun}`, { headers: { authorization: h } });
    const t = world.tokens.bob;
    expect((await read(`Bearer ${t}`)).status).toBe(200);
    expect((await read(`token ${t}`)).status).toBe(200);
    expect((await read(`Basic ${Buffer.from(`bob:${t}`).toString("base64")}`)).status).toBe(200);
  });
});

describe("authorization", () => {
  it("refuses a read-only token with 403 before looking anything up", () =>
    unchanged(async () => {
      for (const id of [pubJob, 999999]) {
        const r = await cancel(id, { token: world.tokens.bobRead });
        expect(r).toMatchObject({ status: 403, body: { error: "token lacks required scope: repo:write" } });
        expect(r.headers.get("x-accepted-oauth-scopes")).toBe("repo:write");
      }
    }));

  it("answers 403 to a reader of a public repository, and on an archived one", () =>
    unchanged(async () => {
      expect(await cancel(pubJob, { token: world.tokens.carol })).toMatchObject({ status: 403, body: { error: "write permission required" } });
      expect(await cancel(pubJob, { token: world.tokens.dave })).toMatchObject({ status: 403, body: { error: "write permission required" } });
      expect(await cancel(archivedJob, { token: world.tokens.bob })).toMatchObject({ status: 403, body: { error: "write permission required" } });
    }));

  it("hides a private repository and a repository the token is not bound to (404, as for a missing id)", () =>
    unchanged(async () => {
      const missing = await cancel(987654321, { token: world.tokens.dave });
      expect(missing).toMatchObject({ status: 404, body: { error: "job not found" } });
      const hidden = await cancel(privJob, { token: world.tokens.dave });
      expect(hidden.status).toBe(404);
      expect(hidden.body).toEqual(missing.body);
      expect((await cancel(otherRepoJob, { token: world.tokens.aliceBoundOther })).body).toEqual(missing.body);
      expect((await call(stack.url, "GET", `/api/v1/jobs/${privJob}`, { token: world.tokens.dave })).status).toBe(404);
      expect((await call(stack.url, "POST", `/api/v1/runs/${pubRun}/rerun`, { token: world.tokens.aliceBoundOther })).body).toEqual({ error: "run not found" });
    }));

  it.each(["0", "-1", "abc", "1e3", "99999999999999999999", "9007199254740992", "1%20", "%27%20OR%201=1--"])("treats id %s as unknown (404)", (id) =>
    unchanged(async () => {
      expect(await cancel(id, { token: world.tokens.alice })).toMatchObject({ status: 404, body: { error: "job not found" } });
      expect((await call(stack.url, "POST", `/api/v1/runs/${id}/rerun`, { token: world.tokens.alice })).status).toBe(404);
      expect((await call(stack.url, "GET", `/api/v1/runs/${id}`, { token: world.tokens.alice })).status).toBe(404);
    }));
});

describe("bad input", () => {
  it("answers 413 to an oversized body, 400 to broken JSON and unknown fields", () =>
    unchanged(async () => {
      const big = await cancel(pubJob, { token: world.tokens.alice, raw: JSON.stringify({ pad: "x".repeat(300 * 1024) }) });
      expect(big).toMatchObject({ status: 413, body: { error: "request body too large" } });
      expect(await cancel(pubJob, { token: world.tokens.alice, raw: "{nope" })).toMatchObject({ status: 400, body: { error: "malformed JSON body" } });
      expect(await cancel(pubJob, { token: world.tokens.alice, body: { force: true } })).toMatchObject({ status: 400, body: { error: "unknown field: force" } });
      expect(await cancel(pubJob, { token: world.tokens.alice, raw: "[1,2]" })).toMatchObject({ status: 400 });
    }));

  it("answers unknown routes with a JSON 404", async () => {
    expect(await call(stack.url, "GET", "/api/v1/nope", {})).toMatchObject({ status: 404, body: { error: "route not found" } });
  });
});

describe("read endpoints", () => {
  it("show the run, the job with steps, and the logs", async () => {
    const run = await call(stack.url, "GET", `/api/v1/runs/${pubRun}`, { token: world.tokens.dave });
    expect(run.status).toBe(200);
    expect(run.body).toMatchObject({ id: pubRun, repo_id: world.repos.pub.id, run_index: expect.any(Number), status: "queued", conclusion: null, parent_run_id: null, started_at: null });
    expect(run.body.jobs[0]).toMatchObject({ id: pubJob, job_key: "only", runs_on: "ubuntu-latest", needs: [], status: "queued", cancel_requested: false });
    expect(run.body.jobs[0].steps).toBeUndefined();
    const job = await call(stack.url, "GET", `/api/v1/jobs/${pubJob}`, { token: world.tokens.dave });
    expect(job.body.steps.map((s: { index: number; status: string }) => [s.index, s.status])).toEqual([[0, "queued"], [1, "queued"]]);
    const logs = await call(stack.url, "GET", `/api/v1/jobs/${pubJob}/logs`, { token: world.tokens.dave });
    expect(logs.status).toBe(200);
    expect(logs.headers.get("content-type")).toMatch(/^text\/plain/);
  });
});

describe("rate limit", () => {
  it("counts per token, sets the headers on every response and answers 429 past the limit", async () => {
    const limited = await startStack(db, { ratePerHour: 3, withWorker: false });
    try {
      const t = (await ops.createToken(db.prisma, { user: "dave", scopes: ["repo:read"] })).token;
      const seen = [];
      for (let i = 0; i < 4; i++) seen.push(await call(limited.url, "GET", `/api/v1/runs/${pubRun}`, { token: t }));
      expect(seen.map((r) => r.status)).toEqual([200, 200, 200, 429]);
      expect(seen.map((r) => r.headers.get("x-ratelimit-remaining"))).toEqual(["2", "1", "0", "0"]);
      expect(seen.every((r) => r.headers.get("x-ratelimit-limit") === "3")).toBe(true);
      expect(Number(seen[3]!.headers.get("x-ratelimit-reset"))).toBeGreaterThan(Date.now() / 1000);
      expect(Number(seen[3]!.headers.get("retry-after"))).toBeGreaterThan(0);
      expect(seen[3]!.body).toEqual({ error: "rate limit exceeded" });
      // Another token has its own budget.
      expect((await call(limited.url, "GET", `/api/v1/runs/${pubRun}`, { token: world.tokens.dave })).status).toBe(200);
    } finally {
      await limited.stop();
    }
  });
});
