import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { Queue } from "bullmq";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import * as ops from "../admin/ops.ts";
import { dashboardUrl } from "../admin/dashboard.ts";
import { DELIVERY_QUEUE, MAINTENANCE_QUEUE, QUEUE_NAME } from "../domain/contracts.ts";
import { connectRedis, type Redis } from "../infra/redis.ts";
import { sha256 } from "../domain/tokens.ts";
import { createTestDb, waitFor, type TestDb } from "./setup/db.ts";
import { spawnService, type Service } from "./setup/stack.ts";
import { call } from "./setup/world.ts";

// The operators' queue dashboard, on a real API process: who sees it, who may act on it,
// the one-use browser link and its session, and what metrics and /readyz say about it.

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const Q = `/admin/queues/api/queues/${QUEUE_NAME}`;

let db: TestDb;
let api: Service;
let url: string;
let redis: Redis;
let intents: Queue;
let maintenance: Queue;
const tokens: Record<string, string> = {};
const prefix = `d${process.pid}`;

beforeAll(async () => {
  db = await createTestDb("dash");
  await ops.createUser(db.prisma, { login: "root", siteAdmin: true });
  await ops.createUser(db.prisma, { login: "demoted", siteAdmin: true });
  await ops.createUser(db.prisma, { login: "benched", siteAdmin: true });
  await ops.createUser(db.prisma, { login: "plain" });
  tokens.admin = (await ops.createToken(db.prisma, { user: "root", scopes: ["admin:read"] })).token;
  tokens.writer = (await ops.createToken(db.prisma, { user: "root", scopes: ["admin:write"] })).token;
  tokens.adminNoScope = (await ops.createToken(db.prisma, { user: "root", scopes: ["repo:write"] })).token;
  tokens.plain = (await ops.createToken(db.prisma, { user: "plain", scopes: ["admin:read"] })).token;
  tokens.plainWriter = (await ops.createToken(db.prisma, { user: "plain", scopes: ["admin:write"] })).token;
  api = spawnService("api/server.ts", { DATABASE_URL: db.url, REDIS_URL: inject("redisUrl"), QUEUE_PREFIX: prefix, PORT: "0", HOST: "127.0.0.1" });
  await api.waitForLine(/api listening/);
  url = `http://127.0.0.1:${/"port":(\d+)/.exec(api.output())![1]}`;
  // The Redis side, as an operator with full access sees it: what the dashboard did or did not change.
  redis = connectRedis(inject("redisUrl"), "producer");
  intents = new Queue(QUEUE_NAME, { connection: redis, prefix });
  maintenance = new Queue(MAINTENANCE_QUEUE, { connection: redis, prefix });
});
afterAll(async () => {
  await api?.kill("SIGTERM");
  // Teardown is best effort: the queues' prefix is this file's own.
  await intents?.obliterate({ force: true }).catch(() => {});
  await maintenance?.obliterate({ force: true }).catch(() => {});
  await intents?.close();
  await maintenance?.close();
  redis?.disconnect();
  await db?.drop();
});

const cookieFor = (value: string) => ({ cookie: `actions_dashboard=${value}` });

/** Opens the link as a browser would, without following the redirect; the session cookie's value and its header. */
async function login(link: string) {
  const res = await fetch(link, { redirect: "manual" });
  const setCookie = res.headers.get("set-cookie");
  const value = setCookie ? /^actions_dashboard=([^;]+)/.exec(setCookie)?.[1] : undefined;
  return { status: res.status, location: res.headers.get("location"), setCookie, value, body: await res.text() };
}

async function session(user: string, scope: "admin:read" | "admin:write") {
  const link = await dashboardUrl(db.prisma, { user, scope, apiUrl: url });
  const s = await login(link.url);
  expect(s.status).toBe(303);
  return s.value!;
}

/** Every Bull Board request that changes something, with a body where it needs one. */
function writes(jobId: string): [string, string, unknown][] {
  return [
    ["POST", `${Q}/add`, { name: "force-cancel-run", data: { intentUid: "forged-1", targetId: 1, actorUserId: 1, tokenId: null, idempotencyKey: null, requestId: null }, options: {} }],
    ["PUT", `${Q}/pause`, undefined],
    ["PUT", "/admin/queues/api/queues/pause", undefined],
    ["PUT", `${Q}/clean/delayed`, undefined],
    ["PUT", `${Q}/retry/failed`, undefined],
    ["PUT", `${Q}/promote`, undefined],
    ["PUT", `${Q}/empty`, undefined],
    ["PUT", `${Q}/obliterate`, {}],
    ["PUT", `${Q}/concurrency`, { concurrency: 1 }],
    ["PUT", `${Q}/${jobId}/promote`, undefined],
    ["PUT", `${Q}/${jobId}/clean`, undefined],
    ["PUT", `${Q}/${jobId}/retry`, undefined],
    ["PATCH", `${Q}/${jobId}/update-data`, { data: { changed: true } }],
    ["DELETE", `${Q}/${jobId}`, undefined],
  ];
}

describe("queue dashboard", () => {
  it("shows the queues read-only to a site admin with an admin:read token", async () => {
    const page = await call(url, "GET", "/admin/queues", { token: tokens.admin });
    expect(page.status).toBe(200);
    expect(page.headers.get("content-type")).toMatch(/text\/html/);
    expect(page.headers.get("x-powered-by")).toBeNull();
    const queues = await call(url, "GET", "/admin/queues/api/queues", { token: tokens.admin });
    expect(queues.status).toBe(200);
    expect(queues.body.queues.map((q: { name: string }) => q.name)).toEqual(expect.arrayContaining([QUEUE_NAME, MAINTENANCE_QUEUE, DELIVERY_QUEUE]));
    // Bull Board's own read-only mode: its UI shows no action buttons.
    for (const q of queues.body.queues) expect(q).toMatchObject({ readOnlyMode: true, allowRetries: false });
    const writable = await call(url, "GET", "/admin/queues/api/queues", { token: tokens.writer });
    for (const q of writable.body.queues) expect(q.readOnlyMode).toBe(false);
  });

  it.each([
    ["no credentials", undefined],
    ["a site admin's token without admin scopes", "adminNoScope"],
    ["a non-admin's admin:read token", "plain"],
    ["a non-admin's admin:write token", "plainWriter"],
    ["a garbage token", "garbage"],
  ])("does not exist for %s (404)", async (_what, who) => {
    const token = who === undefined ? undefined : (tokens[who] ?? "shithub_pat_garbage");
    for (const path of ["/admin/queues", "/admin/queues/api/queues"]) {
      expect(await call(url, "GET", path, { token })).toMatchObject({ status: 404, body: { error: "route not found" } });
    }
    expect(await call(url, "PUT", `${Q}/pause`, { token })).toMatchObject({ status: 404, body: { error: "route not found" } });
  });

  it("refuses every action to admin:read (403) and leaves the queues as they were", async () => {
    const probe = await intents.add("cancel-job", { probe: true }, { delay: 3_600_000 });
    const before = await intents.getJobCounts();
    for (const [method, path, body] of writes(probe.id!)) {
      const res = await call(url, method, path, { token: tokens.admin, body });
      expect({ method, path, status: res.status, error: res.body?.error }).toEqual({ method, path, status: 403, error: "dashboard actions need admin:write" });
    }
    expect(await intents.isPaused()).toBe(false);
    expect(await maintenance.isPaused()).toBe(false);
    expect(await intents.getJobCounts()).toEqual(before);
    expect(await intents.getJobs(["waiting", "prioritized", "delayed", "active"])).toEqual([expect.objectContaining({ id: probe.id })]);
    const kept = (await intents.getJob(probe.id!))!;
    expect(await kept.getState()).toBe("delayed");
    expect(kept.data).toEqual({ probe: true });
    expect(await intents.getGlobalConcurrency()).toBeNull();
    await kept.remove();
  });

  it("lets admin:write pause and resume a queue", async () => {
    expect((await call(url, "PUT", `${Q}/pause`, { token: tokens.writer })).status).toBe(200);
    expect(await intents.isPaused()).toBe(true);
    expect((await call(url, "PUT", `${Q}/resume`, { token: tokens.writer })).status).toBe(200);
    expect(await intents.isPaused()).toBe(false);
  });
});

describe("the one-use browser link", () => {
  const cli = (args: string[]) =>
    promisify(execFile)(process.execPath, ["--import", "tsx", "admin/cli.ts", ...args], { cwd: ROOT, env: { ...process.env, DATABASE_URL: db.url, API_URL: url } }).then(
      (r) => ({ code: 0, ...r }),
      (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
    );

  it("prints {url, expires_at}, stores only the ticket's hash, and opens a read-only session once", async () => {
    const out = await cli(["dashboard-url", "--user", "root", "--json"]);
    expect(out).toMatchObject({ code: 0, stderr: "" });
    const printed = JSON.parse(out.stdout) as { url: string; expires_at: string };
    expect(Object.keys(printed).sort()).toEqual(["expires_at", "url"]);
    expect(printed.url).toMatch(new RegExp(`^${url}/admin/queues/login\\?ticket=dbt_r_[0-9A-Za-z]{40}$`));
    const ticket = new URL(printed.url).searchParams.get("ticket")!;
    const ttl = new Date(printed.expires_at).getTime() - Date.now();
    expect(ttl).toBeGreaterThan(9 * 60_000);
    expect(ttl).toBeLessThanOrEqual(10 * 60_000);
    const stored = await db.pool.query("SELECT token_hash FROM dashboard_tickets WHERE token_hash = $1", [sha256(ticket)]);
    expect(stored.rowCount).toBe(1);
    expect((await db.pool.query("SELECT 1 FROM dashboard_tickets WHERE token_hash = $1", [ticket])).rowCount).toBe(0);

    const first = await login(printed.url);
    expect(first).toMatchObject({ status: 303, location: "/admin/queues" });
    expect(first.setCookie).toMatch(/^actions_dashboard=dbs_r_[0-9A-Za-z]{40}; /);
    expect(first.setCookie).toMatch(/; HttpOnly/);
    expect(first.setCookie).toMatch(/; SameSite=Strict/);
    expect(first.setCookie).toMatch(/; Path=\/admin\/queues(;|$)/);
    expect(first.setCookie).toMatch(/; Max-Age=3600(;|$)/);
    expect(first.setCookie).not.toMatch(/Secure/); // plain http here; https adds it (req.secure)
    expect((await db.pool.query("SELECT 1 FROM dashboard_sessions WHERE token_hash = $1", [sha256(first.value!)])).rowCount).toBe(1);

    const page = await call(url, "GET", "/admin/queues", { headers: cookieFor(first.value!) });
    expect(page.status).toBe(200);
    const queues = await call(url, "GET", "/admin/queues/api/queues", { headers: cookieFor(first.value!) });
    expect(queues.status).toBe(200);
    for (const q of queues.body.queues) expect(q.readOnlyMode).toBe(true);
    const pause = await call(url, "PUT", `${Q}/pause`, { headers: { ...cookieFor(first.value!), origin: url, "sec-fetch-site": "same-origin" } });
    expect(pause).toMatchObject({ status: 403, body: { error: "dashboard actions need admin:write" } });
    expect(await intents.isPaused()).toBe(false);

    // One use: the same link again is any unknown path.
    const again = await login(printed.url);
    expect(again).toMatchObject({ status: 404, setCookie: null });
    expect(JSON.parse(again.body)).toEqual({ error: "route not found" });
  });

  it("refuses a user who is not a site admin, or suspended, with exit 1 and one clear line", async () => {
    expect(await cli(["dashboard-url", "--user", "plain", "--json"])).toMatchObject({ code: 1, stdout: "", stderr: '{"error":"user plain is not a site admin"}\n' });
    expect(await cli(["dashboard-url"])).toMatchObject({ code: 2, stderr: expect.stringMatching(/missing --user/) });
    // The rest through the operation the CLI wraps (a spawn costs a second or two).
    await expect(dashboardUrl(db.prisma, { user: "nobody" })).rejects.toThrow(new ops.AdminError("no user nobody"));
    await expect(dashboardUrl(db.prisma, { user: "root", scope: "admin" })).rejects.toThrow(/^--scope must be one of admin:read, admin:write/);
    await expect(dashboardUrl(db.prisma, { user: "root", apiUrl: "ftp://x" })).rejects.toThrow(/^API URL must be/);
    await expect(dashboardUrl(db.prisma, { user: "root", apiUrl: "http://u:p@x" })).rejects.toThrow(/^API URL must be/);
    await ops.createUser(db.prisma, { login: "gone", siteAdmin: true });
    await ops.suspendUser(db.prisma, "gone");
    await expect(dashboardUrl(db.prisma, { user: "gone" })).rejects.toThrow("user gone is suspended");
    expect(await dashboardUrl(db.prisma, { user: "root", apiUrl: "https://actions.example/" })).toMatchObject({ url: expect.stringMatching(/^https:\/\/actions\.example\/admin\/queues\/login\?ticket=/) });
    expect(await db.prisma.dashboardTicket.count({ where: { user: { login: { in: ["plain", "gone"] } } } })).toBe(0);
  });

  it("answers 404 to an expired, unknown, tampered or malformed ticket", async () => {
    const expired = await dashboardUrl(db.prisma, { user: "root", apiUrl: url });
    const hash = sha256(new URL(expired.url).searchParams.get("ticket")!);
    await db.pool.query("UPDATE dashboard_tickets SET expires_at = now() - interval '1 second' WHERE token_hash = $1", [hash]);
    const good = await dashboardUrl(db.prisma, { user: "root", apiUrl: url });
    const forged = good.url.replace("ticket=dbt_r_", "ticket=dbt_w_");
    for (const link of [expired.url, forged, `${url}/admin/queues/login?ticket=dbt_r_${"A".repeat(40)}`, `${url}/admin/queues/login`, `${url}/admin/queues/login?ticket=x&ticket=y`]) {
      expect(await login(link)).toMatchObject({ status: 404, setCookie: null });
    }
    // The forged write ticket did not spend the real one.
    expect((await login(good.url)).status).toBe(303);
    expect((await db.pool.query("SELECT used_at FROM dashboard_tickets WHERE token_hash = $1", [hash])).rows[0].used_at).toBeNull();
  });

  it("of racing uses of one ticket exactly one opens a session", async () => {
    const link = await dashboardUrl(db.prisma, { user: "root", apiUrl: url });
    const before = await db.prisma.dashboardSession.count();
    const statuses = (await Promise.all(Array.from({ length: 8 }, () => login(link.url)))).map((r) => r.status).sort();
    expect(statuses).toEqual([303, 404, 404, 404, 404, 404, 404, 404]);
    expect(await db.prisma.dashboardSession.count()).toBe(before + 1);
  });

  it("a link followed from another site gets a page of ours that navigates on, not a redirect", async () => {
    const link = await dashboardUrl(db.prisma, { user: "root", apiUrl: url });
    const res = await fetch(link.url, { redirect: "manual", headers: { "sec-fetch-site": "cross-site" } });
    expect(res.status).toBe(200);
    expect(res.headers.get("set-cookie")).toMatch(/^actions_dashboard=dbs_r_[0-9A-Za-z]{40}; .*HttpOnly; SameSite=Strict/);
    expect(res.headers.get("referrer-policy")).toBe("no-referrer");
    expect(await res.text()).toContain('<meta http-equiv="refresh" content="0;url=/admin/queues">');
  });

  it("an admin:write session acts only from its own origin", async () => {
    const value = await session("root", "admin:write");
    expect(value).toMatch(/^dbs_w_/);
    const pause = (headers: Record<string, string>) => call(url, "PUT", `${Q}/pause`, { headers: { ...cookieFor(value), ...headers } });
    const refused: Record<string, string>[] = [{}, { origin: "http://evil.example" }, { origin: url, "sec-fetch-site": "cross-site" }, { origin: url, "sec-fetch-site": "same-site" }];
    for (const h of refused) {
      expect(await pause(h)).toMatchObject({ status: 403, body: { error: "cross-site dashboard request refused" } });
    }
    const add = await call(url, "POST", `${Q}/add`, { headers: cookieFor(value), body: writes("1")[0]![2] });
    expect(add.status).toBe(403);
    expect(await intents.isPaused()).toBe(false);
    expect(await intents.count()).toBe(0);

    expect((await pause({ origin: url })).status).toBe(200);
    expect(await intents.isPaused()).toBe(true);
    const resume = await call(url, "PUT", `${Q}/resume`, { headers: { ...cookieFor(value), "sec-fetch-site": "same-origin" } });
    expect(resume.status).toBe(200);
    expect(await intents.isPaused()).toBe(false);
  });

  it("compares Origin with PUBLIC_URL when set, and with Host only when no proxy is trusted", { timeout: 60_000 }, async () => {
    const value = await session("root", "admin:write");
    const spawnApi = async (env: Record<string, string>) => {
      const svc = spawnService("api/server.ts", { DATABASE_URL: db.url, REDIS_URL: inject("redisUrl"), QUEUE_PREFIX: prefix, PORT: "0", HOST: "127.0.0.1", ...env });
      await svc.waitForLine(/api listening/);
      return { svc, url: `http://127.0.0.1:${/"port":(\d+)/.exec(svc.output())![1]}` };
    };
    const PUBLIC = "https://ci.example.test:8443";
    const configured = await spawnApi({ PUBLIC_URL: `${PUBLIC}/dashboard/` });
    const proxied = await spawnApi({ TRUST_PROXY: "true" });
    try {
      const pause = (base: string, headers: Record<string, string>) => call(base, "PUT", `${Q}/pause`, { headers: { ...cookieFor(value), ...headers } });
      const resume = (base: string) => call(base, "PUT", `${Q}/resume`, { headers: { ...cookieFor(value), "sec-fetch-site": "same-origin" } });
      const refused = { status: 403, body: { error: "cross-site dashboard request refused" } };
      // PUBLIC_URL set: an Origin that matches the Host header is not enough, nor a forged Host.
      expect(await pause(configured.url, { origin: configured.url })).toMatchObject(refused);
      expect(await pause(configured.url, { origin: "http://evil.example", host: "evil.example" })).toMatchObject(refused);
      expect(await intents.isPaused()).toBe(false);
      expect((await pause(configured.url, { origin: PUBLIC })).status).toBe(200);
      expect(await intents.isPaused()).toBe(true);
      expect((await resume(configured.url)).status).toBe(200);
      // Behind a trusted proxy without PUBLIC_URL, Host (and X-Forwarded-*) vouch for nothing: only Sec-Fetch-Site passes.
      expect(await pause(proxied.url, { origin: proxied.url })).toMatchObject(refused);
      expect(await pause(proxied.url, { origin: "https://evil.example", "x-forwarded-host": "evil.example", "x-forwarded-proto": "https" })).toMatchObject(refused);
      expect(await intents.isPaused()).toBe(false);
      expect((await pause(proxied.url, { "sec-fetch-site": "same-origin" })).status).toBe(200);
      expect(await intents.isPaused()).toBe(true);
      expect((await resume(proxied.url)).status).toBe(200);
      // An invalid PUBLIC_URL stops the API at start, naming the variable.
      const bad = spawnService("api/server.ts", { DATABASE_URL: db.url, REDIS_URL: inject("redisUrl"), QUEUE_PREFIX: prefix, PORT: "0", HOST: "127.0.0.1", PUBLIC_URL: "ftp://ci.example.test" });
      const code = await new Promise<number | null>((r) => bad.proc.once("close", (c) => r(c)));
      expect(code).not.toBe(0);
      expect(bad.output()).toMatch(/PUBLIC_URL: must be an http\(s\) URL/);
    } finally {
      await configured.svc.kill("SIGTERM");
      await proxied.svc.kill("SIGTERM");
    }
    expect(await intents.isPaused()).toBe(false);
  });

  it("a session ends when its user is no longer a site admin, is suspended, or the cookie is altered", async () => {
    const demoted = await session("demoted", "admin:read");
    const benched = await session("benched", "admin:read");
    const root = await session("root", "admin:read");
    for (const v of [demoted, benched, root]) expect((await call(url, "GET", "/admin/queues/api/queues", { headers: cookieFor(v) })).status).toBe(200);
    await db.prisma.user.update({ where: { login: "demoted" }, data: { isSiteAdmin: false } });
    await ops.suspendUser(db.prisma, "benched");
    for (const v of [demoted, benched, root.replace(/^dbs_r_/, "dbs_w_"), `${root}x`, "dbs_r_"]) {
      expect(await call(url, "GET", "/admin/queues/api/queues", { headers: cookieFor(v) })).toMatchObject({ status: 404, body: { error: "route not found" } });
    }
    await db.pool.query("UPDATE dashboard_sessions SET expires_at = now() - interval '1 second' WHERE token_hash = $1", [sha256(root)]);
    expect((await call(url, "GET", "/admin/queues/api/queues", { headers: cookieFor(root) })).status).toBe(404);
  });
});

describe("what the dashboard leaves outside", () => {
  it("metrics never name a dashboard route", async () => {
    // Some traffic of each kind first: admitted, refused, the login, an unknown ticket.
    await call(url, "GET", `${Q}/1/logs`, { token: tokens.admin });
    await call(url, "PUT", `${Q}/pause`, { token: tokens.admin });
    await call(url, "GET", "/admin/queues/static/nothing.js", { token: tokens.plain });
    await login(`${url}/admin/queues/login?ticket=dbt_r_${"B".repeat(40)}`);
    const text = await (await fetch(`${url}/metrics`)).text();
    expect(text).not.toContain("/admin/queues");
    expect(text).not.toContain("queueName");
    expect(text).toMatch(/actions_http_request_duration_seconds_count\{method="GET",route="dashboard",status="200"\} [1-9]/);
    expect(text).toMatch(/actions_http_request_duration_seconds_count\{method="PUT",route="dashboard",status="403"\} [1-9]/);
    expect(text).toMatch(/actions_http_request_duration_seconds_count\{method="GET",route="unmatched",status="404"\} [1-9]/);
  });

  it("/readyz names the failing dependency, never the driver's message, and logs the detail once", async () => {
    // Start-up refuses a database that is away, so this one goes away after the API is up.
    const lost = await createTestDb("dashready");
    const down = spawnService("api/server.ts", {
      DATABASE_URL: lost.url, REDIS_URL: inject("redisUrl"), QUEUE_PREFIX: `${prefix}r`, PORT: "0", HOST: "127.0.0.1",
    });
    try {
      await down.waitForLine(/api listening/);
      const downUrl = `http://127.0.0.1:${/"port":(\d+)/.exec(down.output())![1]}`;
      await db.pool.query(`ALTER DATABASE "${lost.name}" ALLOW_CONNECTIONS false`);
      await db.pool.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", [lost.name]);
      await waitFor("/readyz to answer 503", async () => (await fetch(`${downUrl}/readyz`)).status === 503, 20_000, 100);
      for (let i = 0; i < 2; i++) {
        const res = await fetch(`${downUrl}/readyz`);
        const text = await res.text();
        expect(res.status).toBe(503);
        expect(JSON.parse(text)).toEqual({ error: "not ready", reason: "postgres unreachable" });
        expect(text).not.toMatch(/127\.0\.0\.1|ECONNREFUSED|Can't reach|5432|does not allow connections/);
      }
      await waitFor("the readiness warning in the log", async () => down.output().includes('"msg":"not ready"'));
      const warnings = down.output().split("\n").filter((l) => l.includes('"msg":"not ready"'));
      expect(warnings).toHaveLength(1);
      expect(JSON.parse(warnings[0]!)).toMatchObject({ level: 40, reason: "postgres unreachable", detail: expect.any(String) });
    } finally {
      await down.kill("SIGTERM");
      // Best-effort cleanup: the test's verdict is already made, and the database is a throwaway.
      await db.pool.query(`ALTER DATABASE "${lost.name}" ALLOW_CONNECTIONS true`).catch(() => {});
      await lost.drop().catch(() => {});
    }
  });
});
