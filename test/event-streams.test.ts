import type { AddressInfo } from "node:net";
import type { Server } from "node:http";
import { Writable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { inject } from "vitest";
import { pino } from "pino";
import { createApp } from "../api/app.ts";
import { EventHub, type HubDeps } from "../api/events/hub.ts";
import type { EventStreamOptions } from "../api/events/routes.ts";
import { createLimiter } from "../api/ratelimit.ts";
import { createLogger } from "../infra/logger.ts";
import { connectRedis, type Redis } from "../infra/redis.ts";
import { poolSql } from "../infra/sql.ts";
import { createTestDb, waitFor, type TestDb } from "./setup/db.ts";
import { SseClient } from "./setup/sse.ts";
import { buildWorld, call, ONE_JOB, pushAndRun } from "./setup/world.ts";

// The live event streams (docs/event-streams.md) on a real Postgres and Redis: the
// dispatcher is played by the test, which writes dispatched rows into `events` and
// publishes the hint on `<prefix>:events` as the dispatcher will.

const silent = createLogger("test", { level: "silent", pretty: false });
const prefix = `ev${process.pid}${Math.random().toString(36).slice(2, 7)}`;
const channel = `${prefix}:events`;

let db: TestDb;
let world: Awaited<ReturnType<typeof buildWorld>>;
let publisher: Redis;
const closers: (() => Promise<void>)[] = [];

interface Api {
  url: string;
  hub: EventHub;
  server: Server;
}

/** An API with its own hub; a hub without `redis` reads on its timer only. */
async function startApi(hub: Partial<HubDeps>, streams: EventStreamOptions = {}): Promise<Api> {
  const sql = poolSql(db.pool);
  const log = hub.log ?? silent;
  const events = await EventHub.start({ sql, log, channel, ...hub });
  const producer = connectRedis(inject("redisUrl"), "producer");
  const app = createApp({
    prisma: db.prisma, sql, intents: {} as never, log, readiness: async () => null,
    tokenLimiter: createLimiter(producer, `${prefix}:rl:token`, 100_000), ipLimiter: createLimiter(producer, `${prefix}:rl:ip`, 100_000),
    events, eventStreams: streams,
  });
  const server: Server = await new Promise((resolve) => {
    const s = app.listen(0, "127.0.0.1", () => resolve(s));
  });
  closers.push(async () => {
    await events.stop();
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
    producer.disconnect();
  });
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, hub: events, server };
}

type Kind = "workflow_job" | "workflow_run" | "intent";

/** One dispatched event, as the dispatcher writes it; the hint is published unless told not to. */
async function emit(run: { id: number; repoId: bigint }, type: Kind, action: string, o: { hint?: boolean; pad?: number } = {}): Promise<number> {
  const payload = { action, workflow_run: { id: run.id }, note: "two\nlines", pad: "x".repeat(o.pad ?? 0) };
  const { rows } = await db.pool.query<{ id: string }>(
    `INSERT INTO events (id, type, action, repo_id, run_id, snapshot, payload, dispatched_at)
     VALUES (nextval('events_dispatch_seq'), $1::event_type, $2, $3::bigint, $4::bigint, '{}'::jsonb, $5::jsonb, now()) RETURNING id::text`,
    [type, action, run.repoId.toString(), String(run.id), JSON.stringify(payload)],
  );
  const id = Number(rows[0]!.id);
  if (o.hint ?? true) await publisher.publish(channel, String(id));
  return id;
}

async function newRun(repo: string): Promise<{ id: number; repoId: bigint }> {
  const r = await pushAndRun(db.prisma, repo, ONE_JOB, Math.random().toString(16).slice(2, 10).padEnd(8, "0"));
  const run = await db.prisma.workflowRun.findUniqueOrThrow({ where: { id: BigInt(r.run_id) }, select: { repoId: true } });
  return { id: r.run_id, repoId: run.repoId };
}

const runPath = (id: number) => `/api/v1/runs/${id}/events`;

let main: Api;
beforeAll(async () => {
  db = await createTestDb("evstreams");
  world = await buildWorld(db.prisma);
  publisher = connectRedis(inject("redisUrl"), "worker", "test-hints");
  const hints = connectRedis(inject("redisUrl"), "subscriber");
  closers.push(async () => hints.disconnect());
  // Hints and a slow timer; "the hub" below reads on hints alone, the last describe on its timer alone.
  main = await startApi({ redis: hints, pollMs: 2_000 });
  await waitFor("the hub's subscription", async () => (await publisher.pubsub("NUMSUB", channel))[1] === 1);
});
afterAll(async () => {
  for (const c of closers.reverse()) await c();
  publisher?.disconnect();
  await db?.drop();
});

describe("a run's event stream", () => {
  it("sends SSE messages; a client that disconnects and resumes with Last-Event-ID gets every event exactly once, in order", async () => {
    const run = await newRun("alice/demo");
    const all = [await emit(run, "workflow_run", "requested"), await emit(run, "workflow_job", "queued"), await emit(run, "intent", "cancel_run")];
    const a = await SseClient.open(main.url, runPath(run.id), { token: world.tokens.carol });
    expect(a.status).toBe(200);
    expect(a.headers["content-type"]).toBe("text/event-stream");
    expect(a.headers["cache-control"]).toBe("no-store");
    expect(a.headers["x-accel-buffering"]).toBe("no");
    // The backlog: the run's events from its first, without the intent.
    await a.waitFor(2);
    expect(a.ids).toEqual([all[0], all[1]]);
    all.pop();
    all.push(await emit(run, "workflow_job", "in_progress"), await emit(run, "workflow_run", "in_progress"));
    await a.waitFor(4);
    expect(a.raw.startsWith(`id: ${all[0]}\nevent: workflow_run\ndata: {`)).toBe(true);
    expect(a.messages.map((m) => m.event)).toEqual(["workflow_run", "workflow_job", "workflow_job", "workflow_run"]);
    expect(JSON.parse(a.messages[1]!.data)).toMatchObject({ action: "queued", workflow_run: { id: run.id }, note: "two\nlines" });
    a.close();
    await waitFor("the stream to leave the hub", async () => main.hub.size === 0);

    for (let i = 0; i < 3; i++) all.push(await emit(run, "workflow_job", "in_progress"));
    const b = await SseClient.open(main.url, runPath(run.id), { token: world.tokens.carol, headers: { "Last-Event-ID": String(a.ids.at(-1)) } });
    await b.waitFor(3);
    all.push(await emit(run, "workflow_job", "completed"));
    await b.waitFor(4);
    expect([...a.ids, ...b.ids]).toEqual(all);
    b.close();
  });

  it("misses nothing and repeats nothing for clients that join while events keep coming", async () => {
    const run = await newRun("alice/demo");
    const ids: number[] = [];
    const writing = (async () => {
      for (let i = 0; i < 150; i++) ids.push(await emit(run, "workflow_job", "in_progress", { hint: i % 3 !== 0 }));
    })();
    const clients: { from: number; c: SseClient }[] = [];
    for (let i = 0; i < 6; i++) {
      await waitFor("more events written", async () => ids.length >= i * 20);
      const from = i % 2 === 0 ? 0 : ids[ids.length - 1]!;
      const headers: Record<string, string> = from === 0 ? {} : { "Last-Event-ID": String(from) };
      clients.push({ from, c: await SseClient.open(main.url, runPath(run.id), { token: world.tokens.bob, headers }) });
    }
    await writing;
    // The hint-less tail is caught by the next hint; one more closes the last gap.
    ids.push(await emit(run, "workflow_job", "completed"));
    for (const { from, c } of clients) {
      const want = ids.filter((id) => id > from);
      await c.waitFor(want.length).catch(() => {});
      expect(c.ids, `from ${from}: missing ${want.filter((i) => !c.ids.includes(i))}`).toEqual(want);
      c.close();
    }
  });

  it("takes ?last_event_id= too; the header wins when both are given", async () => {
    const run = await newRun("alice/demo");
    const ids = [await emit(run, "workflow_job", "queued"), await emit(run, "workflow_job", "in_progress"), await emit(run, "workflow_job", "completed")];
    const q = await SseClient.open(main.url, `${runPath(run.id)}?last_event_id=${ids[0]}`, { token: world.tokens.bob });
    await q.waitFor(2);
    expect(q.ids).toEqual([ids[1], ids[2]]);
    const both = await SseClient.open(main.url, `${runPath(run.id)}?last_event_id=${ids[0]}`, { token: world.tokens.bob, headers: { "Last-Event-ID": String(ids[1]) } });
    await both.waitFor(1);
    const later = await emit(run, "workflow_run", "in_progress");
    await both.waitFor(2);
    expect(both.ids).toEqual([ids[2], later]);
    q.close();
    both.close();
  });

  it("refuses a Last-Event-ID that is not a non-negative integer (400)", async () => {
    const run = await newRun("alice/demo");
    for (const bad of ["abc", "-1", "1.5", "", "99999999999999999999", "1 2", "0x10"]) {
      const r = await SseClient.open(main.url, runPath(run.id), { token: world.tokens.bob, headers: { "Last-Event-ID": bad } });
      expect(r.status, `Last-Event-ID ${JSON.stringify(bad)}`).toBe(400);
      expect(await r.body()).toEqual({ error: "Last-Event-ID must be a non-negative integer (the id of the last event received)" });
    }
    const q = await call(main.url, "GET", `${runPath(run.id)}?last_event_id=x`, { token: world.tokens.bob });
    expect(q.status).toBe(400);
    expect(q.body.error).toMatch(/^last_event_id must be a non-negative integer/);
    expect(main.hub.size).toBe(0);
  });

  it("is 404 for a private run to an outsider, as GET /runs/{id} is, and 401 for a bad token", async () => {
    const run = await newRun("alice/secret");
    await emit(run, "workflow_run", "requested");
    for (const path of [runPath(run.id), `/api/v1/runs/${run.id}`]) {
      const r = await call(main.url, "GET", path, { token: world.tokens.dave });
      expect(r.status, path).toBe(404);
      expect(r.body).toEqual({ error: "run not found" });
    }
    expect((await call(main.url, "GET", runPath(999_999), { token: world.tokens.dave })).status).toBe(404);
    expect((await call(main.url, "GET", "/api/v1/repos/alice/secret/actions/events", { token: world.tokens.dave })).status).toBe(404);
    const bad = await call(main.url, "GET", runPath(run.id), { token: `${world.tokens.dave.slice(0, -1)}${world.tokens.dave.endsWith("a") ? "b" : "a"}` });
    expect(bad.status).toBe(401);
    expect((await call(main.url, "GET", runPath(run.id))).status).toBe(401);
    const owner = await SseClient.open(main.url, runPath(run.id), { token: world.tokens.alice });
    expect(owner.status).toBe(200);
    await owner.waitFor(1);
    owner.close();
  });

  it("ends after the run's workflow_run completed event; past it, 204", async () => {
    const run = await newRun("alice/demo");
    const live = await SseClient.open(main.url, runPath(run.id), { token: world.tokens.bob });
    const ids = [await emit(run, "workflow_job", "completed"), await emit(run, "workflow_run", "completed")];
    await live.waitDone();
    expect(live.ended).toBe(true);
    expect(live.ids).toEqual(ids);
    // Whatever came later for the run is not part of its stream.
    await emit(run, "workflow_job", "completed");
    const late = await SseClient.open(main.url, runPath(run.id), { token: world.tokens.bob });
    await late.waitDone();
    expect(late.ids).toEqual(ids);
    const after = await SseClient.open(main.url, runPath(run.id), { token: world.tokens.bob, headers: { "Last-Event-ID": String(ids[1]) } });
    expect(after.status).toBe(204);
    await waitFor("every stream to leave the hub", async () => main.hub.size === 0);
  });
});

describe("the hub", () => {
  it("reads on a hint: with no timer to speak of, a hinted event arrives", async () => {
    const hints = connectRedis(inject("redisUrl"), "subscriber");
    closers.push(async () => hints.disconnect());
    const hinted = await startApi({ redis: hints, pollMs: 3_600_000 });
    await waitFor("the second hub's subscription", async () => (await publisher.pubsub("NUMSUB", channel))[1] === 2);
    const run = await newRun("alice/demo");
    const s = await SseClient.open(hinted.url, runPath(run.id), { token: world.tokens.bob });
    const id = await emit(run, "workflow_job", "queued");
    await s.waitFor(1);
    expect(s.ids).toEqual([id]);
    s.close();
    await hinted.hub.stop();
  });
});

describe("a repository's event stream", () => {
  it("starts now and carries that repository's events only", async () => {
    const demo = await newRun("alice/demo");
    const other = await newRun("alice/other");
    const before = await emit(demo, "workflow_run", "requested");
    // "Now" is what the hub has read: wait until it read this one.
    await waitFor("the hub to read the event", async () => main.hub.position >= BigInt(before));
    const s = await SseClient.open(main.url, "/api/v1/repos/alice/demo/actions/events", { token: world.tokens.carol });
    expect(s.status).toBe(200);
    const mine = [await emit(demo, "workflow_job", "queued")];
    await emit(other, "workflow_job", "queued");
    const second = await newRun("alice/demo");
    mine.push(await emit(second, "workflow_run", "requested"));
    await emit(demo, "intent", "cancel_run");
    mine.push(await emit(demo, "workflow_run", "completed"));
    await s.waitFor(3);
    const marker = await emit(other, "workflow_run", "completed");
    mine.push(await emit(second, "workflow_run", "completed"));
    await s.waitFor(4);
    expect(s.ids).toEqual(mine);
    expect(s.ids).not.toContain(marker);
    // A repository's stream outlives its runs' ends.
    expect(s.done).toBe(false);
    s.close();
  });
});

describe("without hints, limits, and shutdown", () => {
  let lines: string[];
  let quiet: Api;
  beforeAll(async () => {
    lines = [];
    const sink = new Writable({ write: (c, _e, cb) => (lines.push(String(c)), cb()) });
    const gone = connectRedis(inject("redisUrl"), "subscriber");
    gone.disconnect();
    // A Redis connection that is gone: the subscription fails, the timer still reads.
    quiet = await startApi({ redis: gone, pollMs: 100, log: pino({ level: "info" }, sink) }, { keepAliveMs: 50, maxQueuedBytes: 256 * 1024, stallMs: 2_000, maxStreamsPerUser: 2 });
  });

  it("reads events on its timer when no hint comes, and says once that Redis is not there", async () => {
    await waitFor("the Redis line", async () => lines.some((l) => /Redis subscription failed/.test(l)));
    expect(lines.filter((l) => /Redis/.test(l))).toHaveLength(1);
    const run = await newRun("alice/demo");
    const s = await SseClient.open(quiet.url, runPath(run.id), { token: world.tokens.bob });
    const ids = [await emit(run, "workflow_job", "queued", { hint: false }), await emit(run, "workflow_job", "in_progress", { hint: false })];
    await s.waitFor(2);
    expect(s.ids).toEqual(ids);
    s.close();
  });

  it("sends keep-alive comments", async () => {
    const run = await newRun("alice/demo");
    const s = await SseClient.open(quiet.url, runPath(run.id), { token: world.tokens.bob });
    await waitFor("two keep-alive comments", async () => s.comments.filter((c) => c === "keep-alive").length >= 2);
    expect(s.raw).toMatch(/^: keep-alive\n\n/);
    s.close();
  });

  it("caps a user's open streams (429) and gives the slot back when one closes", async () => {
    const run = await newRun("alice/demo");
    const open = [await SseClient.open(quiet.url, runPath(run.id), { token: world.tokens.bob }), await SseClient.open(quiet.url, runPath(run.id), { token: world.tokens.bobRead })];
    const third = await call(quiet.url, "GET", runPath(run.id), { token: world.tokens.bob });
    expect(third.status).toBe(429);
    expect(third.body).toEqual({ error: "too many open event streams: at most 2 per user; close one first" });
    open.push(await SseClient.open(quiet.url, runPath(run.id), { token: world.tokens.carol }));
    expect(open[2]!.status).toBe(200);
    open[0]!.close();
    await waitFor("bob's slot back", async () => {
      const again = await SseClient.open(quiet.url, runPath(run.id), { token: world.tokens.bob });
      if (again.status === 200) open.push(again);
      return again.status === 200;
    });
    for (const c of open) c.close();
    await waitFor("every stream to leave the hub", async () => quiet.hub.size === 0);
  });

  it("cuts a client that stops reading; the server goes on serving the others", async () => {
    const run = await newRun("alice/demo");
    expect(quiet.hub.size).toBe(0);
    const slow = await SseClient.open(quiet.url, runPath(run.id), { token: world.tokens.carol });
    const fine = await SseClient.open(quiet.url, runPath(run.id), { token: world.tokens.bob });
    slow.pause();
    const ids: number[] = [];
    // Big events fill the socket buffers until the server's writes are refused and its bound is passed.
    await waitFor("the slow client to be cut", async () => {
      ids.push(await emit(run, "workflow_job", "in_progress", { pad: 256 * 1024, hint: false }));
      return quiet.hub.size === 1;
    }, 30_000, 0);
    expect(lines.some((l) => /event stream cut/.test(l))).toBe(true);
    await fine.waitFor(ids.length, 30_000);
    expect(fine.ids).toEqual(ids);
    fine.close();
  });

  it("ends open streams when the hub stops, so the server can close", async () => {
    const run = await newRun("alice/demo");
    const s = await SseClient.open(quiet.url, runPath(run.id), { token: world.tokens.bob });
    const id = await emit(run, "workflow_job", "queued", { hint: false });
    await s.waitFor(1);
    const closed = new Promise((r) => quiet.server.close(r));
    await quiet.hub.stop();
    await s.waitDone();
    expect(s.ended).toBe(true);
    expect(s.ids).toEqual([id]);
    await closed;
    expect(quiet.hub.size).toBe(0);
  });
});
