import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { inject } from "vitest";
import { RunnerWaiters, runnerPolling, type RunnerPolling } from "../api/runner-polling.ts";
import { reap } from "../domain/data/reaper.ts";
import { runnerSeenKey, runnerSeenReader } from "../domain/runner-seen.ts";
import { createLogger } from "../infra/logger.ts";
import { connectRedis, type Redis } from "../infra/redis.ts";
import { poolSql, type PoolSql } from "../infra/sql.ts";
import { startDispatcher, type Dispatcher } from "../worker/events/dispatcher.ts";
import { waitFor } from "./setup/db.ts";
import { worldSuite, type WorldSuite } from "./setup/suite.ts";
import { call, claim, pushAndRun, registerTestRunner, TWO_JOBS } from "./setup/world.ts";

// Long-polling heartbeats and idle heartbeats that stay out of Postgres (docs/scaling.md,
// "Runner long-polling"): the stack's API gets a waiter hub on the dispatcher's hints, and
// the test runs the dispatcher, as a worker process does.

const SEEN_WRITE_MS = 60_000;
const log = createLogger("test", { level: "silent", pretty: false });
const conns: Redis[] = [];
let waiters: RunnerWaiters;
let polling: RunnerPolling;
let dispatcher: Dispatcher;
/** Statements the API ran that write a runner row. */
let runnerWrites = 0;

const counting = (sql: PoolSql): PoolSql => ({
  rows: (text, params) => {
    if (/^\s*UPDATE runners\b/.test(text)) runnerWrites++;
    return sql.rows(text, params);
  },
  tx: (fn, ms) => sql.tx(fn, ms),
});

const s: WorldSuite = worldSuite("runner-polling", {
  wrapSql: counting,
  runnerPolling: (prefix) => {
    const redisUrl = inject("redisUrl");
    const [store, sub] = [connectRedis(redisUrl, "producer"), connectRedis(redisUrl, "subscriber")];
    conns.push(store, sub);
    waiters = new RunnerWaiters({ sql: poolSql(s.db.pool), log, subscriber: sub, channel: `${prefix}:events` });
    polling = runnerPolling({ store, prefix, seenWriteMs: SEEN_WRITE_MS, heartbeatWindowMs: 60_000, waiters, log });
    return polling;
  },
});

beforeAll(async () => {
  const publisher = connectRedis(s.stack.redisUrl, "publisher");
  conns.push(publisher);
  dispatcher = startDispatcher({
    pool: s.db.pool, log, origin: "http://127.0.0.1", enqueue: async () => {}, pollMs: 20, retentionMs: 3_600_000,
    announce: (lastId) => publisher.publish(`${s.stack.prefix}:events`, lastId.toString()),
  });
});

afterAll(async () => {
  waiters?.close();
  await dispatcher?.close();
  for (const c of conns) c.disconnect();
});

const beat = (token: string, query = "", signal?: AbortSignal) =>
  fetch(`${s.stack.url}/api/v1/runners/heartbeat${query}`, {
    method: "POST", headers: { authorization: `Bearer ${token}`, "content-type": "application/json" }, body: "{}", ...(signal ? { signal } : {}),
  });

const rowSeen = async (runnerId: number) =>
  (await s.db.pool.query<{ at: Date }>("SELECT last_heartbeat_at AS at FROM runners WHERE id = $1", [runnerId])).rows[0]!.at.getTime();

describe("long-poll heartbeats", () => {
  it("refuses a wait that is not 0-60 whole seconds (422), before recording anything", async () => {
    const r = await registerTestRunner(s.db.prisma, "poll-bad", ["poll-bad"]);
    for (const q of ["?wait=61", "?wait=-1", "?wait=abc", "?wait=1.5", "?wait=", "?wait=1&wait=2"]) {
      expect((await beat(r.token, q)).status, q).toBe(422);
    }
    expect((await beat(r.token, "?wait=0")).status).toBe(204);
  });

  it("answers 204 at the end of the wait when nothing comes", async () => {
    const r = await registerTestRunner(s.db.prisma, "poll-empty", ["poll-empty"]);
    const started = performance.now();
    const res = await beat(r.token, "?wait=1");
    expect(res.status).toBe(204);
    expect(performance.now() - started).toBeGreaterThanOrEqual(950);
    expect(waiters.size).toBe(0);
  });

  it("answers with the job soon after one it can take is queued", async () => {
    const r = await registerTestRunner(s.db.prisma, "poll-quick", ["ubuntu-latest"]);
    const pending = beat(r.token, "?wait=30");
    await waitFor("the heartbeat to wait", async () => waiters.size === 1, 5_000, 5);
    const queuedAt = performance.now();
    const run = await pushAndRun(s.db.prisma, "alice/secret", TWO_JOBS, "9b9b0001");
    const res = await pending;
    const ms = performance.now() - queuedAt;
    expect(res.status).toBe(200);
    expect(((await res.json()) as { job: { id: number } }).job.id).toBe(run.job_ids[0]);
    // The dispatcher polls every 20 ms here; 30 s would mean the hint never woke it.
    expect(ms).toBeLessThan(2_000);
    expect(waiters.size).toBe(0);
  });

  it("frees the waiter of a client that goes away mid-wait, and claims nothing for it", async () => {
    const r = await registerTestRunner(s.db.prisma, "poll-gone", ["poll-gone"]);
    const ac = new AbortController();
    const pending = beat(r.token, "?wait=30", ac.signal).catch((e: unknown) => e);
    await waitFor("the heartbeat to wait", async () => waiters.size === 1, 5_000, 5);
    ac.abort();
    expect(await pending).toBeInstanceOf(Error);
    await waitFor("the waiter to be freed", async () => waiters.size === 0, 5_000, 5);
  });
});

describe("idle heartbeats", () => {
  it("write the runner row once per RUNNER_SEEN_WRITE_MS, and Redis every time", async () => {
    const r = await registerTestRunner(s.db.prisma, "idle-1", ["idle-1"]);
    await s.db.pool.query("UPDATE runners SET last_heartbeat_at = now() - interval '2 minutes', status = 'idle' WHERE id = $1", [r.id]);
    const before = runnerWrites;
    for (let i = 0; i < 20; i++) expect((await claim(s.stack.url, r.token)).status).toBe(204);
    expect(runnerWrites - before).toBe(1);
    expect(Date.now() - (await rowSeen(r.id))).toBeLessThan(30_000);
    const inRedis = Number(await s.stack.redis.get(runnerSeenKey(s.stack.prefix, r.id)));
    expect(Date.now() - inRedis).toBeLessThan(5_000);
    // Something the row says changes: written at once.
    expect((await call(s.stack.url, "POST", "/api/v1/runners/heartbeat", { token: r.token, body: { capacity: 3 } })).status).toBe(204);
    expect(runnerWrites - before).toBe(2);
  });

  it("keep a runner that beats only to Redis from the reaper, which still reaps one that stopped", async () => {
    await pushAndRun(s.db.prisma, "alice/secret", TWO_JOBS, "9b9b0002");
    await pushAndRun(s.db.prisma, "alice/secret", TWO_JOBS, "9b9b0003");
    const [alive, gone] = [await registerTestRunner(s.db.prisma, "reap-alive", ["ubuntu-latest"]), await registerTestRunner(s.db.prisma, "reap-gone", ["ubuntu-latest"])];
    const jobs = [] as number[];
    for (const r of [alive, gone]) {
      const c = await claim(s.stack.url, r.token);
      expect(c.status).toBe(200);
      jobs.push(c.body.job.id as number);
    }
    // Both rows 45 s old: past a 30 s window, within RUNNER_SEEN_WRITE_MS, so a beat goes to Redis only;
    // the stopped runner's last-seen in Redis has expired.
    await s.db.pool.query("UPDATE runners SET last_heartbeat_at = now() - interval '45 seconds' WHERE id = ANY($1::bigint[])", [[alive.id, gone.id]]);
    await s.stack.redis.del(runnerSeenKey(s.stack.prefix, gone.id));
    const [rowBefore, writes] = [await rowSeen(alive.id), runnerWrites];
    expect((await claim(s.stack.url, alive.token)).status).toBe(204);
    expect(runnerWrites).toBe(writes);
    expect(await rowSeen(alive.id)).toBe(rowBefore);
    const policy = { heartbeatWindowMs: 30_000, timeoutSlackMs: 60_000, cancelDeadlineMs: 300_000, judgeRunnerLoss: true };
    const reaped = await reap(s.db.prisma, policy, new Date(), 50, runnerSeenReader(s.stack.redis, s.stack.prefix));
    expect(reaped?.map((x) => Number(x.jobId))).toEqual([jobs[1]]);
    const status = async (id: number) => (await s.db.prisma.workflowJob.findUniqueOrThrow({ where: { id: BigInt(id) } })).status;
    expect(await status(jobs[0]!)).toBe("running");
  });
});
