// Redis ACL roles (docs/security.md, "Redis roles"), on private redis-servers with the users applied: the
// operator CLI that writes them, what each user can do through the service's own code
// paths, what the runner user cannot, and a real runner-sim fleet on the runner user alone.
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { Job, Queue, QueueEvents, Worker } from "bullmq";
import { BullMQAdapter } from "@bull-board/api/bullMQAdapter";
import type { Response } from "express";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { createLimiter } from "../api/ratelimit.ts";
import { runnerPolling } from "../api/runner-polling.ts";
import { runnerSeenReader } from "../domain/runner-seen.ts";
import { freePort, PrivateRedis } from "../chaos/infra.ts";
import { cancelChannel, MAINTENANCE_QUEUE, QUEUE_NAME } from "../domain/contracts.ts";
import { readQueue } from "../infra/metrics.ts";
import { connectRedis, Redis } from "../infra/redis.ts";
import { ACL_USER, urlForUser } from "../infra/redis-acl.ts";
import { sha256 } from "../domain/tokens.ts";
import { createLogger } from "../infra/logger.ts";
import { startMaintenance } from "../worker/maintenance.ts";
import { anonymousAnswers, startAclRedis, type AclRedis } from "./setup/acl-redis.ts";
import { createTestDb, waitFor, type TestDb } from "./setup/db.ts";
import { spawnService, type Service } from "./setup/stack.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const PASSWORDS = { REDIS_ACL_API_PASSWORD: "api-secret-0123456789abc", REDIS_ACL_WORKER_PASSWORD: "worker-secret-0123456789abc", REDIS_ACL_RUNNER_PASSWORD: "runner-secret-0123456789abc" };
const REG = "registration-secret-for-acl-tests";
const prefix = `acl${process.pid}${Math.random().toString(36).slice(2, 7)}`;
const log = createLogger("test", { level: "silent", pretty: false });

let acl: AclRedis;
let admin: Redis;
let db: TestDb;
const conns: Redis[] = [];
const services: Service[] = [];
/** A connection as `role`'s user, once ready (a producer refuses commands before). */
async function as(role: keyof AclRedis["urls"], kind: Parameters<typeof connectRedis>[1] = "worker"): Promise<Redis> {
  const c = connectRedis(acl.urls[role], kind, `test-${role}`);
  conns.push(c);
  if (c.status !== "ready") await new Promise((resolve) => c.once("ready", resolve));
  return c;
}

beforeAll(async () => {
  acl = await startAclRedis(prefix);
  admin = new Redis(acl.adminUrl);
  db = await createTestDb("redisacl");
});
afterEach(() => {
  for (const c of conns.splice(0)) c.disconnect();
});
afterAll(async () => {
  for (const s of services) await s.kill("SIGTERM");
  admin?.disconnect();
  await acl?.stop();
  await db?.drop();
});

async function cli(args: string[], env: Record<string, string>) {
  const started = Date.now();
  try {
    const r = await promisify(execFile)(process.execPath, ["--import", "tsx", "admin/cli.ts", ...args], {
      cwd: ROOT, env: { ...process.env, DATABASE_URL: "postgresql://nobody@127.0.0.1:1/none", ...env }, timeout: 30_000,
    });
    return { code: 0, stdout: r.stdout, stderr: r.stderr, ms: Date.now() - started };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, stdout: err.stdout, stderr: err.stderr, ms: Date.now() - started };
  }
}

/**
 * Redis' default user lets nobody in: no command without AUTH, and a failed AUTH leaves the
 * connection unauthenticated rather than served as an open default user.
 */
async function expectDefaultClosed(port: number): Promise<void> {
  const WRONG = "a-wrong-password-0123456789";
  expect(await anonymousAnswers(port, [["PING"], ["ACL", "WHOAMI"], ["GET", "x"]])).toEqual([
    expect.stringMatching(/^NOAUTH/), expect.stringMatching(/^NOAUTH/), expect.stringMatching(/^NOAUTH/),
  ]);
  for (const auth of [["AUTH", WRONG], ["AUTH", "default", WRONG], ["AUTH", ACL_USER.api, WRONG], ["AUTH", ACL_USER.runner, WRONG]]) {
    expect(await anonymousAnswers(port, [auth, ["PING"]])).toEqual([expect.stringMatching(/^WRONGPASS/), expect.stringMatching(/^NOAUTH/)]);
  }
}

describe("admin redis-acl", () => {
  it("--json prints exactly the users, with password hashes and no password, and needs no database", async () => {
    const r = await cli(["redis-acl", "--json"], { ...PASSWORDS, QUEUE_PREFIX: "acme" });
    expect(r).toMatchObject({ code: 0, stderr: "" });
    const out = JSON.parse(r.stdout) as { users: { name: string; rules: string[] }[] };
    expect(Object.keys(out)).toEqual(["users"]);
    expect(out.users.map((u) => Object.keys(u))).toEqual([["name", "rules"], ["name", "rules"], ["name", "rules"]]);
    expect(out.users.map((u) => u.name)).toEqual([ACL_USER.api, ACL_USER.worker, ACL_USER.runner]);
    expect(out.users[2]!.rules).toEqual(expect.arrayContaining([`#${sha256(PASSWORDS.REDIS_ACL_RUNNER_PASSWORD)}`, "&acme:signals:*"]));
    for (const pw of Object.values(PASSWORDS)) expect(r.stdout).not.toContain(pw);
  });

  it("refuses without a password, in one line naming the variable", async () => {
    const r = await cli(["redis-acl"], { ...PASSWORDS, REDIS_ACL_WORKER_PASSWORD: "" });
    expect(r).toMatchObject({ code: 1, stdout: "", stderr: "admin: REDIS_ACL_WORKER_PASSWORD is not set (the worker user's Redis password)\n" });
  });

  it("with --json, says a refusal as {\"error\"} on stderr", async () => {
    const r = await cli(["redis-acl", "--json"], { ...PASSWORDS, REDIS_ACL_WORKER_PASSWORD: "" });
    expect(r).toMatchObject({ code: 1, stdout: "", stderr: `${JSON.stringify({ error: "REDIS_ACL_WORKER_PASSWORD is not set (the worker user's Redis password)" })}\n` });
  });

  it("--apply sets the users on REDIS_URL's server and saves them; applying twice gives the same users", async () => {
    const server = await PrivateRedis.create();
    const other = new Redis(server.url);
    try {
      const env = { ...PASSWORDS, REDIS_URL: server.url, QUEUE_PREFIX: "acme" };
      const first = await cli(["redis-acl", "--apply", "--json"], env);
      expect(first).toMatchObject({ code: 0, stderr: "" });
      expect(JSON.parse(first.stdout)).toEqual(JSON.parse((await cli(["redis-acl", "--json"], env)).stdout));
      const users = async () => (await other.call("ACL", "LIST") as string[]).filter((l) => l.startsWith("user actions-"));
      const once = await users();
      expect(once).toHaveLength(3);
      const second = await cli(["redis-acl", "--apply"], env);
      expect(second.stdout).toMatch(/^set ACL users actions-api, actions-worker, actions-runner for prefix acme on redis:\/\/default@127\.0\.0\.1:\d+; saved to the server's aclfile/);
      expect(await users()).toEqual(once);
      // The users log in with their passwords.
      const runner = new Redis(server.url.replace(/\/\/[^@]+@/, `//${ACL_USER.runner}:${PASSWORDS.REDIS_ACL_RUNNER_PASSWORD}@`), { enableReadyCheck: false });
      expect(await runner.ping()).toBe("PONG");
      runner.disconnect();
      // Restarted, the server still has them: they were saved to its aclfile (Redis lists
      // a user's commands in no fixed order).
      await server.stop();
      await server.start();
      const sorted = (lines: string[]) => lines.map((l) => l.split(" ").sort().join(" "));
      expect(sorted(await users())).toEqual(sorted(once));
    } finally {
      other.disconnect();
      await server.dispose();
    }
  });

  it("refuses --apply while Redis' default user is open, changing nothing; --lock-default gives it REDIS_URL's password", async () => {
    const server = await PrivateRedis.create();
    const other = new Redis(server.url);
    try {
      // As a fresh server has it: any password, or none, logs in as default with every right.
      await other.call("ACL", "SETUSER", "default", "nopass");
      expect(await anonymousAnswers(server.port, [["ACL", "WHOAMI"]])).toEqual(["served: default"]);
      const base = `redis://127.0.0.1:${server.port}`;
      const env = { ...PASSWORDS, QUEUE_PREFIX: "acme" };
      const before = await other.call("ACL", "LIST");
      const refused = await cli(["redis-acl", "--apply"], { ...env, REDIS_URL: base });
      expect(refused.code).toBe(1);
      expect(refused.stderr).toMatch(/^admin: Redis' default user at redis:\/\/127\.0\.0\.1:\d+ is on with no password: any client without AUTH, or with a wrong one, gets every right, .* run again with --lock-default \(nothing changed\)\n$/);
      const noPassword = await cli(["redis-acl", "--apply", "--lock-default"], { ...env, REDIS_URL: base });
      expect(noPassword.code).toBe(1);
      expect(noPassword.stderr).toMatch(/^admin: --lock-default needs a password for Redis' default user: put it in REDIS_URL/);
      expect(await other.call("ACL", "LIST")).toEqual(before);

      const adminPassword = "the-admin-password-0123456789";
      const adminUrl = urlForUser(base, "default", adminPassword);
      // The printed plan ends with the default user's line.
      const plan = await cli(["redis-acl", "--lock-default"], { ...env, REDIS_URL: adminUrl });
      expect(plan.stdout.trim().split("\n").at(-1)).toBe(`ACL SETUSER default on resetpass #${sha256(adminPassword)}`);
      const locked = await cli(["redis-acl", "--apply", "--lock-default"], { ...env, REDIS_URL: adminUrl });
      expect(locked).toMatchObject({ code: 0, stderr: "" });
      expect(locked.stdout).toMatch(/; saved to the server's aclfile \(ACL SAVE\); default user: needs REDIS_URL's password now\n$/);
      expect(locked.stdout).not.toContain(adminPassword);
      await expectDefaultClosed(server.port);
      // The admin's URL still logs in, and --apply needs no flag any more.
      const again = new Redis(adminUrl);
      expect(await again.call("ACL", "WHOAMI")).toBe("default");
      again.disconnect();
      expect((await cli(["redis-acl", "--apply"], { ...env, REDIS_URL: adminUrl })).stdout).toMatch(/; default user: already closed/);
    } finally {
      other.disconnect();
      await server.dispose();
    }
  });

  it("--lock-default through another admin user switches the default user off, and that user still administers", async () => {
    const server = await PrivateRedis.create();
    const other = new Redis(server.url);
    try {
      const opsPassword = "ops-password-0123456789abc";
      await other.call("ACL", "SETUSER", "ops", "on", `>${opsPassword}`, "~*", "&*", "+@all");
      await other.call("ACL", "SETUSER", "default", "nopass");
      const opsUrl = urlForUser(`redis://127.0.0.1:${server.port}`, "ops", opsPassword);
      const r = await cli(["redis-acl", "--apply", "--lock-default", "--json"], { ...PASSWORDS, REDIS_URL: opsUrl });
      expect(r).toMatchObject({ code: 0, stderr: "" });
      expect((JSON.parse(r.stdout) as { users: unknown[] }).users.at(-1)).toEqual({ name: "default", rules: ["reset", "resetchannels"] });
      await expectDefaultClosed(server.port);
      // Not even the password that used to work opens it.
      const oldDefault = /:([^:@/]+)@/.exec(server.url)![1]!;
      expect(await anonymousAnswers(server.port, [["AUTH", "default", oldDefault]])).toEqual([expect.stringMatching(/^WRONGPASS/)]);
      const ops = new Redis(opsUrl);
      expect(await ops.call("ACL", "WHOAMI")).toBe("ops");
      expect(String(await ops.call("ACL", "LIST"))).toMatch(/user default off /);
      ops.disconnect();
    } finally {
      other.disconnect();
      await server.dispose();
    }
  });

  it("refuses --apply, --lock-default too, while another user is on with nopass, changing nothing", async () => {
    const server = await PrivateRedis.create();
    const other = new Redis(server.url);
    try {
      // An admin user any password logs in as: the roles would separate nothing.
      await other.call("ACL", "SETUSER", "ops", "on", "nopass", "~*", "&*", "+@all");
      await other.call("ACL", "SETUSER", "default", "nopass");
      const opsUrl = urlForUser(`redis://127.0.0.1:${server.port}`, "ops", "any-password-at-all-0123");
      const before = await other.call("ACL", "LIST");
      for (const flags of [["--apply"], ["--apply", "--lock-default"]]) {
        const r = await cli(["redis-acl", ...flags], { ...PASSWORDS, REDIS_URL: opsUrl });
        expect(r.code).toBe(1);
        expect(r.stderr).toMatch(/^admin: Redis user ops at redis:\/\/ops@127\.0\.0\.1:\d+ is on with no password \(nopass\): .* \(nothing changed\)\n$/);
      }
      expect(await other.call("ACL", "LIST")).toEqual(before);
      // Given a password, the same run goes through and no user is left open.
      await other.call("ACL", "SETUSER", "ops", "resetpass", ">ops-password-0123456789abc");
      const ok = await cli(["redis-acl", "--apply", "--lock-default"], { ...PASSWORDS, REDIS_URL: urlForUser(`redis://127.0.0.1:${server.port}`, "ops", "ops-password-0123456789abc") });
      expect(ok).toMatchObject({ code: 0, stderr: "" });
      await expectDefaultClosed(server.port);
      expect(await anonymousAnswers(server.port, [["AUTH", "ops", "any-password-at-all-0123"]])).toEqual([expect.stringMatching(/^WRONGPASS/)]);
    } finally {
      other.disconnect();
      await server.dispose();
    }
  });

  it("leaves the system suites' private Redis (startAclRedis) no open default user", async () => {
    await expectDefaultClosed(acl.server.port);
    // Each refused AUTH is in ACL LOG: clear them for the checks below.
    await admin.call("ACL", "LOG", "RESET");
  });

  it("changes nothing when REDIS_URL names a user that is not an admin", async () => {
    const before = await admin.call("ACL", "LIST");
    const r = await cli(["redis-acl", "--apply"], { ...PASSWORDS, REDIS_URL: acl.urls.worker });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^admin: ACL USERS failed at redis:\/\/actions-worker@127\.0\.0\.1:\d+: NOPERM .*; REDIS_URL must name an admin user \(nothing changed\)\n$/);
    expect(await admin.call("ACL", "LIST")).toEqual(before);
    await admin.call("ACL", "LOG", "RESET");
  });

  it("names REDIS_URL, without its password, when Redis is unreachable, and gives up in bounded time", async () => {
    const r = await cli(["redis-acl", "--apply"], { ...PASSWORDS, REDIS_URL: `redis://admin:hunter2-secret@127.0.0.1:${await freePort()}` });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^admin: Redis unreachable at redis:\/\/admin@127\.0\.0\.1:\d+ \(REDIS_URL\): connect ECONNREFUSED [^\n]+; start Redis or point REDIS_URL at it\n$/);
    expect(r.stderr).not.toContain("hunter2");
    expect(r.ms).toBeLessThan(15_000);
  });
});

const res = { set() {} } as unknown as Response;
const denied = async (p: Promise<unknown>) => (await p.then(() => "allowed", (e: Error) => e.message)).split(" ")[0];

describe("the api user", () => {
  it("runs the API's queue operations: add, look up, counts, Bull Board's reads, the rate limiter", async () => {
    const queue = new Queue(QUEUE_NAME, { connection: await as("api", "producer"), prefix });
    const maintenance = new Queue(MAINTENANCE_QUEUE, { connection: await as("api", "producer"), prefix });
    const events = new QueueEvents(QUEUE_NAME, { connection: await as("api", "subscriber"), prefix });
    try {
      await Promise.all([queue.waitUntilReady(), events.waitUntilReady(), maintenance.waitUntilReady()]);
      await queue.add("cancel-job", { n: 1 }, { jobId: "api-1", attempts: 2, backoff: { type: "exponential", delay: 100 }, removeOnComplete: { age: 60, count: 10 } });
      const job = await Job.fromId(queue, "api-1");
      expect(job?.data).toEqual({ n: 1 });
      expect((await readQueue(queue)).waiting).toBe(1);
      for (const q of [queue, maintenance]) {
        const board = new BullMQAdapter(q, { readOnlyMode: true });
        await board.getJobCounts();
        await board.getJobs(["waiting", "active", "completed", "failed", "delayed"], 0, 9);
        expect(String(await board.getRedisInfo())).toMatch(/redis_version:7/);
        await Promise.all([board.isPaused(), board.getJobSchedulersCount(), board.getGlobalConcurrency(), board.getJob("api-1")]);
      }
      const limiter = createLimiter(await as("api", "producer"), `${prefix}:rl:token`, 10);
      await limiter.consume("some-token", res);
      // The budget is in Redis, not in the in-process stand-in the limiter falls back to.
      expect(await admin.exists(`${prefix}:rl:token:some-token`)).toBe(1);
      // Runners' last-seen (RUNNER_SEEN_WRITE_MS): the api writes it, the worker's reaper reads it.
      const polling = runnerPolling({ store: await as("api", "producer"), prefix, seenWriteMs: 15_000, heartbeatWindowMs: 60_000, waiters: null, log });
      expect(await polling.seen(7n, 1234)).toBe(true);
      expect(await runnerSeenReader(await as("worker", "publisher"), prefix)(7n)).toBe(1234);
      await job!.remove();
      expect(await acl.denials()).toEqual([]);
    } finally {
      await events.close();
      await queue.close();
      await maintenance.close();
    }
  });
});

describe("the worker user", () => {
  it("takes intents the api user added, recovers a stalled one, runs the reaper's schedule and publishes a signal", async () => {
    const queue = new Queue(QUEUE_NAME, { connection: await as("api", "producer"), prefix });
    const events = new QueueEvents(QUEUE_NAME, { connection: await as("api", "subscriber"), prefix });
    await events.waitUntilReady();
    const completed = new Set<string>();
    const failed = new Set<string>();
    events.on("completed", ({ jobId }) => completed.add(jobId));
    events.on("failed", ({ jobId }) => failed.add(jobId));
    // A worker that takes a job and dies with it: the live worker's stalled check hands it back.
    const doomedConn = await as("worker");
    const doomed = new Worker(QUEUE_NAME, () => new Promise(() => {}), { connection: doomedConn, prefix, lockDuration: 1000, stalledInterval: 500 });
    doomed.on("error", () => {}); // its connection is cut on purpose: lock renewals fail
    await queue.add("cancel-job", { n: 2 }, { jobId: "stalls" });
    await waitFor("the doomed worker to take the job", async () => (await Job.fromId(queue, "stalls"))?.processedOn);
    doomedConn.disconnect();
    let flaky = 0;
    const processor = async (j: Job) => {
      if (j.id === "flaky" && flaky++ === 0) throw new Error("fails once");
      return { ok: true, id: j.id };
    };
    const worker = new Worker(QUEUE_NAME, processor, { connection: await as("worker"), prefix, lockDuration: 1000, stalledInterval: 500, maxStalledCount: 5 });
    const publisher = await as("worker", "publisher");
    const reaper = await startMaintenance({ prisma: db.prisma, publish: (c, m) => publisher.publish(c, m), log, queuePrefix: prefix },
      { queue: await as("worker"), worker: await as("worker") }, { intervalMs: 200, policy: { heartbeatWindowMs: 60_000, timeoutSlackMs: 60_000, cancelDeadlineMs: 300_000 } });
    try {
      await queue.add("cancel-job", { n: 3 }, { jobId: "plain" });
      await queue.add("cancel-job", { n: 4 }, { jobId: "flaky", attempts: 1 });
      // As api/intents.ts does when a keyed request comes again for a failed intent.
      await waitFor("the flaky intent to fail", async () => failed.has("flaky"));
      await (await Job.fromId(queue, "flaky"))!.retry("failed", { resetAttemptsMade: true, resetAttemptsStarted: true });
      await waitFor("every intent completed, as QueueEvents tells", async () => ["plain", "stalls", "flaky"].every((id) => completed.has(id)), 20_000);
      const ticks = new Queue(MAINTENANCE_QUEUE, { connection: await as("worker", "producer"), prefix });
      await waitFor("a reaper tick to complete", async () => ((await ticks.getJobCounts("completed")).completed ?? 0) > 0, 10_000);
      await ticks.close();
      expect(await publisher.publish(cancelChannel(prefix), "{}")).toBe(0);
      expect(await acl.denials()).toEqual([]);
    } finally {
      await reaper.close();
      await worker.close();
      // Best effort: this queue's connection may already have been cut by the test.
      await doomed.close(true).catch(() => {});
      await events.close();
      await queue.close();
    }
  });
});

describe("the runner user", () => {
  it("may run no key command, no script, no publish, no INFO, nothing about other clients", async () => {
    const runner = await as("runner", "signals");
    const k = `${prefix}:${QUEUE_NAME}:events`;
    const tries: [string, Promise<unknown>][] = [
      ["XADD", runner.xadd(k, "*", "event", "added")],
      ["EVAL", runner.eval("return 1", 0)],
      ["LPUSH", runner.lpush(`${prefix}:${QUEUE_NAME}:wait`, "forged")],
      ["PUBLISH", runner.publish(cancelChannel(prefix), "{}")],
      ["GET", runner.get(k)],
      ["SET", runner.set(`${prefix}:x`, "1")],
      ["KEYS", runner.keys("*")],
      ["INFO", runner.info()],
      ["CLIENT LIST", runner.client("LIST")],
    ];
    const answers = await Promise.all(tries.map(async ([name, p]) => [name, await denied(p)]));
    expect(answers).toEqual(tries.map(([name]) => [name, "NOPERM"]));
    expect(await runner.ping()).toBe("PONG");
    // The operator sees each attempt in ACL LOG, by user.
    expect(new Set((await acl.denials()).map((d) => d.username))).toEqual(new Set([ACL_USER.runner]));
    await admin.call("ACL", "LOG", "RESET");
  });

  it("subscribes to its prefix's signal channel, hears the worker's signal, and may not listen to another prefix", async () => {
    const sub = await as("runner", "signals");
    expect(await denied(sub.subscribe("other:signals:cancel"))).toBe("NOPERM");
    const heard: string[] = [];
    sub.on("message", (_c: string, m: string) => heard.push(m));
    await sub.subscribe(cancelChannel(prefix));
    expect(await (await as("worker", "publisher")).publish(cancelChannel(prefix), '{"job_id":1}')).toBe(1);
    await waitFor("the signal to arrive", async () => heard.length > 0);
    expect(heard).toEqual(['{"job_id":1}']);
    await admin.call("ACL", "LOG", "RESET");
  });
});

describe("no user reaches another prefix", () => {
  it("refuses the api and worker users the keys of another prefix, directly and from a script", async () => {
    await admin.set("other:lifecycle-intents:1", "secret");
    for (const role of ["api", "worker"] as const) {
      const c = await as(role, "producer");
      expect(await denied(c.get("other:lifecycle-intents:1"))).toBe("NOPERM");
      expect(await denied(c.eval("return redis.call('GET', KEYS[1])", 1, "other:lifecycle-intents:1"))).toMatch(/NOPERM/);
      expect(await denied(c.call("SCAN", "0"))).toBe("NOPERM");
      expect(await denied(c.publish("other:signals:cancel", "{}"))).toBe("NOPERM");
    }
    await admin.call("ACL", "LOG", "RESET");
  });
});

describe("the processes on their users", () => {
  it("runs the api on the api user and a runner-sim fleet on the runner user alone", async () => {
    const api = spawnService("api/server.ts", { DATABASE_URL: db.url, REDIS_URL: acl.urls.api, QUEUE_PREFIX: prefix, PORT: "0", HOST: "127.0.0.1", RUNNER_REGISTRATION_TOKEN: REG });
    services.push(api);
    await api.waitForLine(/api listening/);
    const apiUrl = `http://127.0.0.1:${/"port":(\d+)/.exec(api.output())![1]}`;
    const fleet = spawnService("runner-sim/main.ts", {
      DATABASE_URL: "", API_URL: apiUrl, REDIS_URL: acl.urls.runner, QUEUE_PREFIX: prefix, RUNNER_REGISTRATION_TOKEN: REG, RUNNERS: "1", RUNNER_NAME_PREFIX: `acl-${process.pid}`,
    });
    services.push(fleet);
    await fleet.waitForLine(/fleet ready/);
    const clients = String(await admin.client("LIST")).split("\n").filter((l) => / user=actions-/.test(l));
    const byUser = (u: string) => clients.filter((l) => l.includes(` user=${u} `));
    expect(byUser(ACL_USER.runner).map((l) => /\bsub=(\d+)/.exec(l)?.[1])).toEqual(["1"]);
    expect(byUser(ACL_USER.api).length).toBeGreaterThanOrEqual(2);
    expect(await acl.denials()).toEqual([]);
  });
});
