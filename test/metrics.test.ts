import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import type { Response } from "express";
import { Queue } from "bullmq";
import { createApiMetrics, httpMetrics, instrumentIntents, metricsRouter, observeCancelPropagation, type ApiMetrics } from "../api/metrics.ts";
import { IntentClient } from "../api/intents.ts";
import { QUEUE_NAME } from "../domain/contracts.ts";
import { inTx } from "../infra/db.ts";
import { reportJobTx } from "../domain/data/jobs.ts";
import { createRegistry, registerQueueMetrics } from "../infra/metrics.ts";
import { connectRedis } from "../infra/redis.ts";
import { expectInvariants } from "./setup/invariants.ts";
import { createTestDb, waitFor, type TestDb } from "./setup/db.ts";
import { SIGNING_KEY, spawnService, startStack, type Service, type Stack } from "./setup/stack.ts";
import { buildWorld, call, claimJob, ONE_JOB, pushAndRun, registerTestRunner, tokenIdOf } from "./setup/world.ts";
import { prismaSql } from "../infra/sql.ts";

// Prometheus metrics: /metrics on an in-process API after real requests, and /metrics,
// /healthz and /readyz on a real worker process.

let db: TestDb;
let stack: Stack;
let metrics: ApiMetrics;
let world: Awaited<ReturnType<typeof buildWorld>>;
const services: Service[] = [];

beforeAll(async () => {
  db = await createTestDb("metrics");
  metrics = createApiMetrics({ prisma: db.prisma });
  stack = await startStack(db, {
    before: [httpMetrics(metrics)],
    routers: [metricsRouter(metrics.registry)],
    wrapIntents: (c) => {
      registerQueueMetrics(metrics.registry, c.queue);
      return instrumentIntents(c, metrics);
    },
  });
  world = await buildWorld(db.prisma);
});
afterAll(async () => {
  for (const s of services) await s.kill("SIGKILL");
  if (db) await expectInvariants(db);
  await stack?.stop();
  await db?.drop();
});

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** The samples of a Prometheus text exposition. */
function parse(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) throw new Error(`unparsable exposition line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? "").matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!;
    out.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return out;
}

async function scrape(url: string): Promise<{ text: string; samples: Sample[]; contentType: string | null }> {
  const res = await fetch(`${url}/metrics`);
  expect(res.status).toBe(200);
  const text = await res.text();
  return { text, samples: parse(text), contentType: res.headers.get("content-type") };
}

/** The value of the one sample with this name and (at least) these labels; undefined if none. */
function value(samples: Sample[], name: string, labels: Record<string, string> = {}): number | undefined {
  const hits = samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  if (hits.length > 1) throw new Error(`${name} ${JSON.stringify(labels)} matches ${hits.length} samples`);
  return hits[0]?.value;
}

describe("the API's /metrics", () => {
  it("times requests by route template and status, and counts intents by kind and outcome", async () => {
    const r = await pushAndRun(db.prisma, "alice/demo", ONE_JOB, "c1c1c1c1");
    const jobId = r.job_ids[0]!;
    const bob = world.tokens.bob;
    expect((await call(stack.url, "POST", `/api/v1/jobs/${jobId}/cancel`, { token: bob })).status).toBe(202);
    expect((await call(stack.url, "POST", `/api/v1/jobs/${jobId}/cancel`, { token: bob })).status).toBe(202);
    expect((await call(stack.url, "POST", `/api/v1/runs/${r.run_id}/rerun`, { token: bob })).status).toBe(201);
    const open = await pushAndRun(db.prisma, "alice/demo", ONE_JOB, "c2c2c2c2");
    expect((await call(stack.url, "POST", `/api/v1/runs/${open.run_id}/rerun`, { token: bob })).status).toBe(409);
    expect((await call(stack.url, "POST", `/api/v1/jobs/987654321/cancel`, { token: bob })).status).toBe(404);
    expect((await call(stack.url, "GET", `/api/v1/no/such/${jobId}`, { token: bob })).status).toBe(404);
    expect((await call(stack.url, "GET", `/api/v1/jobs/${jobId}`, { token: bob })).status).toBe(200);

    const { samples, text, contentType } = await scrape(stack.url);
    expect(contentType).toMatch(/^text\/plain; version=0\.0\.4/);
    const count = (route: string, status: string, method = "POST") =>
      value(samples, "actions_http_request_duration_seconds_count", { method, route, status });
    expect(count("/api/v1/jobs/:id/cancel", "202")).toBe(2);
    expect(count("/api/v1/runs/:id/rerun", "201")).toBe(1);
    expect(count("/api/v1/runs/:id/rerun", "409")).toBe(1);
    expect(count("/api/v1/jobs/:id/cancel", "404")).toBe(1);
    expect(count("unmatched", "404", "GET")).toBe(1);
    expect(count("/api/v1/jobs/:id", "200", "GET")).toBe(1);
    // A histogram: cumulative buckets up to +Inf, and a plausible sum.
    const inf = value(samples, "actions_http_request_duration_seconds_bucket", { route: "/api/v1/jobs/:id/cancel", status: "202", le: "+Inf" });
    expect(inf).toBe(2);
    const sum = value(samples, "actions_http_request_duration_seconds_sum", { route: "/api/v1/jobs/:id/cancel", status: "202" })!;
    expect(sum).toBeGreaterThan(0);
    expect(sum).toBeLessThan(20);
    // Never a raw URL: no label carries an id.
    const routes = new Set(samples.filter((s) => s.name.startsWith("actions_http_request_duration_seconds")).map((s) => s.labels.route));
    for (const route of routes) expect(route).toMatch(/^(unmatched|(\/[a-z0-9_.:-]*)+)$/);
    expect(text).not.toContain(`jobs/${jobId}`);
    expect(text).not.toContain("987654321");

    expect(value(samples, "actions_intents_total", { kind: "cancel-job", outcome: "applied" })).toBe(2);
    expect(value(samples, "actions_intents_total", { kind: "rerun-run", outcome: "applied" })).toBe(1);
    expect(value(samples, "actions_intents_total", { kind: "rerun-run", outcome: "not_rerunnable" })).toBe(1);
    // The 404 was decided before any intent was queued.
    expect(samples.filter((s) => s.name === "actions_intents_total").reduce((n, s) => n + s.value, 0)).toBe(4);

    // The worker applied everything: nothing waits.
    expect(value(samples, "actions_queue_waiting_intents")).toBe(0);
    expect(value(samples, "actions_queue_oldest_waiting_seconds")).toBe(0);
    expect(value(samples, "actions_metrics_collector_up", { collector: "queue" })).toBe(1);
    // Default process metrics are in the same registry.
    expect(value(samples, "process_cpu_seconds_total")).toBeGreaterThan(0);
    expect(text).toContain("# TYPE nodejs_eventloop_lag_seconds gauge");
    expect(text).toContain("# TYPE actions_cancel_propagation_seconds histogram");
  });

  it("reports runners by status and the oldest heartbeat, and the cancel propagation time", async () => {
    const r = await pushAndRun(db.prisma, "alice/demo", ONE_JOB, "c3c3c3c3");
    const jobId = r.job_ids[0]!;
    const runner = await registerTestRunner(db.prisma, "metrics-runner");
    await registerTestRunner(db.prisma, "metrics-never-seen");
    await claimJob(stack.url, runner.token, jobId);
    let { samples } = await scrape(stack.url);
    expect(value(samples, "actions_runners", { status: "active" })).toBe(1);
    expect(value(samples, "actions_runners", { status: "offline" })).toBe(1);
    expect(value(samples, "actions_runners", { status: "idle" })).toBe(0);
    expect(value(samples, "actions_runners", { status: "revoked" })).toBe(0);
    const age = value(samples, "actions_runner_oldest_heartbeat_age_seconds", { status: "active" })!;
    expect(age).toBeGreaterThanOrEqual(0);
    expect(age).toBeLessThan(30);
    // The runner that never heartbeated has no age.
    expect(value(samples, "actions_runner_oldest_heartbeat_age_seconds", { status: "offline" })).toBeUndefined();
    expect(value(samples, "actions_metrics_collector_up", { collector: "runners" })).toBe(1);

    const res = await call(stack.url, "POST", `/api/v1/jobs/${jobId}/cancel`, { token: world.tokens.bob });
    expect(res.body).toMatchObject({ changed_jobs: 1, run_completed: false });
    const requestedAt = (await db.prisma.workflowJob.findUniqueOrThrow({ where: { id: BigInt(jobId) } })).cancelRequestedAt!;
    await new Promise((r) => setTimeout(r, 60));
    // What api/routes/runner.ts does with a runner's terminal report (the hook it calls).
    const now = new Date();
    const out = await inTx(db.prisma, (tx) => reportJobTx(prismaSql(tx), BigInt(jobId), { status: "cancelled" }, now));
    expect(out).toMatchObject({ kind: "ok", changed: true, cancelRequestedAt: requestedAt });
    observeCancelPropagation({ locals: { metrics } } as unknown as Response, out, now);
    // A repeated report changes nothing and is not observed again.
    const again = await inTx(db.prisma, (tx) => reportJobTx(prismaSql(tx), BigInt(jobId), { status: "cancelled" }, new Date()));
    expect(again).toEqual({ kind: "ok", changed: false, runCompleted: false });
    observeCancelPropagation({ locals: { metrics } } as unknown as Response, again);

    ({ samples } = await scrape(stack.url));
    expect(value(samples, "actions_cancel_propagation_seconds_count")).toBe(1);
    const seconds = value(samples, "actions_cancel_propagation_seconds_sum")!;
    expect(seconds).toBeCloseTo((now.getTime() - requestedAt.getTime()) / 1000, 3);
    expect(seconds).toBeGreaterThanOrEqual(0.05);
    expect(seconds).toBeLessThan(30);
  });

  it("reads the queue depth and the oldest waiting intent, and never hangs when Redis is away", async () => {
    // A queue of its own that no worker consumes.
    const conn = connectRedis(inject("redisUrl"), "producer");
    const prefix = `${stack.prefix}q`;
    const queue = new Queue(QUEUE_NAME, { connection: conn, prefix });
    const registry = createRegistry({ defaultMetrics: false });
    registerQueueMetrics(registry, queue);
    try {
      await queue.add("cancel-job", { never: "applied" }, { timestamp: Date.now() - 5_000 });
      await queue.add("cancel-job", { never: "applied" });
      const samples = parse(await registry.metrics());
      expect(value(samples, "actions_queue_waiting_intents")).toBe(2);
      const oldest = value(samples, "actions_queue_oldest_waiting_seconds")!;
      expect(oldest).toBeGreaterThanOrEqual(5);
      expect(oldest).toBeLessThan(60);
    } finally {
      await queue.obliterate({ force: true });
      await queue.close();
      conn.disconnect();
    }

    const dead = connectRedis("redis://127.0.0.1:1", "producer");
    const deadQueue = new Queue(QUEUE_NAME, { connection: dead, prefix });
    deadQueue.on("error", () => {});
    const deadRegistry = createRegistry({ defaultMetrics: false });
    registerQueueMetrics(deadRegistry, deadQueue, { timeoutMs: 300 });
    try {
      const started = Date.now();
      const samples = parse(await deadRegistry.metrics());
      expect(Date.now() - started).toBeLessThan(2_000);
      expect(value(samples, "actions_queue_waiting_intents")).toBeNaN();
      expect(value(samples, "actions_metrics_collector_up", { collector: "queue" })).toBe(0);
    } finally {
      dead.disconnect();
      await Promise.race([deadQueue.close(), new Promise((r) => setTimeout(r, 1000))]);
    }
  });
});

describe("a worker process's HTTP side", () => {
  function startWorker(extra: Record<string, string>): Service {
    const s = spawnService("worker/main.ts", { DATABASE_URL: db.url, REDIS_URL: inject("redisUrl"), QUEUE_PREFIX: stack.prefix, WORKER_PORT: "0", ...extra });
    services.push(s);
    return s;
  }
  async function portOf(s: Service): Promise<string> {
    await s.waitForLine(/"msg":"worker http listening"/);
    return `http://127.0.0.1:${/"port":(\d+)[^\n]*"msg":"worker http listening"/.exec(s.output())![1]}`;
  }

  it("serves /healthz, /readyz and /metrics with queue, reaper and intent metrics, and closes in its shutdown", async () => {
    // A queue prefix of its own: no in-process worker competes for the intent below. The
    // reaper works on Postgres, whatever the prefix.
    const prefix = `${stack.prefix}w`;
    const w = startWorker({ QUEUE_PREFIX: prefix, REAPER_INTERVAL_MS: "200", RUNNER_HEARTBEAT_WINDOW_MS: "500" });
    const url = await portOf(w);
    expect(await call(url, "GET", "/healthz")).toMatchObject({ status: 200, body: { status: "ok" } });
    await w.waitForLine(/"msg":"worker ready"/);
    expect(await call(url, "GET", "/readyz")).toMatchObject({ status: 200, body: { status: "ready" } });
    expect((await call(url, "GET", "/nope")).status).toBe(404);

    let { samples, text } = await scrape(url);
    for (const name of ["actions_queue_waiting_intents", "actions_queue_oldest_waiting_seconds", "actions_reaper_ended_jobs_total", "actions_worker_intent_duration_seconds"]) {
      expect(text).toContain(`# TYPE ${name} `);
    }
    for (const reason of ["timed_out", "cancel_unanswered"]) {
      expect(value(samples, "actions_reaper_ended_jobs_total", { reason })).toBe(0);
    }
    expect(value(samples, "process_cpu_seconds_total")).toBeGreaterThan(0);

    // A runner claims a job and goes silent: the worker's reaper ends it. (Earlier tests'
    // runners left jobs running too: the counter must agree with the worker's log lines.)
    const lost = await pushAndRun(db.prisma, "alice/demo", ONE_JOB, "c4c4c4c4");
    const runner = await registerTestRunner(db.prisma, "metrics-silent");
    await claimJob(stack.url, runner.token, lost.job_ids[0]!);
    await waitFor("the reaper to end the lost runner's job", async () =>
      (await db.prisma.workflowJob.findUniqueOrThrow({ where: { id: BigInt(lost.job_ids[0]!) } })).status === "completed", 15_000, 100);
    const logged = () => w.output().split("\n").filter((l) => l.includes('"msg":"reaper ended job"') && l.includes('"reason":"runner_lost"')).length;
    ({ samples } = await scrape(url));
    expect(logged()).toBeGreaterThanOrEqual(1);
    expect(value(samples, "actions_reaper_ended_jobs_total", { reason: "runner_lost" })).toBe(logged());

    // An intent this process applies.
    const producer = connectRedis(inject("redisUrl"), "producer");
    const events = connectRedis(inject("redisUrl"), "subscriber");
    const client = IntentClient.create(producer, events, prefix, 10_000, SIGNING_KEY);
    try {
      await client.ready();
      const r = await pushAndRun(db.prisma, "alice/demo", ONE_JOB, "c5c5c5c5");
      const bob = await db.prisma.user.findUniqueOrThrow({ where: { login: "bob" } });
      const outcome = await client.submit("cancel-job", {
        intentUid: `cancel-job-metrics-${Date.now()}`, targetId: r.job_ids[0]!, actorUserId: Number(bob.id), tokenId: await tokenIdOf(db.prisma, world.tokens.bob), idempotencyKey: null, requestId: null,
      });
      expect(outcome).toMatchObject({ kind: "result", result: { ok: true } });
    } finally {
      await client.close();
      producer.disconnect();
      events.disconnect();
    }
    ({ samples } = await scrape(url));
    expect(value(samples, "actions_worker_intent_duration_seconds_count", { kind: "cancel-job", result: "applied" })).toBe(1);
    const took = value(samples, "actions_worker_intent_duration_seconds_sum", { kind: "cancel-job", result: "applied" })!;
    expect(took).toBeGreaterThan(0);
    expect(took).toBeLessThan(10);
    expect(value(samples, "actions_queue_waiting_intents")).toBe(0);
    expect(value(samples, "actions_metrics_collector_up", { collector: "queue" })).toBe(1);

    expect(await w.kill("SIGTERM")).toBe(0);
    expect(w.output()).toMatch(/"phase":"close http server","msg":"shutdown phase done"/);
    await expect(fetch(`${url}/healthz`)).rejects.toThrow();
  });

  it("answers /readyz 503 with the reason when Postgres becomes unreachable, while /healthz stays 200", async () => {
    // A database of its own that stops taking connections after the worker is ready
    // (start-up refuses a database that is away, so it must go away later).
    const lost = await createTestDb("readyz");
    const w = startWorker({ DATABASE_URL: lost.url, QUEUE_PREFIX: `${stack.prefix}r` });
    try {
      const url = await portOf(w);
      await w.waitForLine(/"msg":"worker ready"/);
      expect((await call(url, "GET", "/readyz")).status).toBe(200);
      await db.pool.query(`ALTER DATABASE "${lost.name}" ALLOW_CONNECTIONS false`);
      await db.pool.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", [lost.name]);
      const res = await waitFor("/readyz to answer 503", async () => {
        const r = await call(url, "GET", "/readyz");
        return r.status === 503 ? r : null;
      }, 20_000, 100);
      expect(res.body).toMatchObject({ error: "not ready" });
      expect(res.body.reason).toMatch(/^postgres unreachable/);
      expect(await call(url, "GET", "/healthz")).toMatchObject({ status: 200, body: { status: "ok" } });
      await w.kill("SIGTERM");
    } finally {
      // Best-effort cleanup: the test's verdict is already made, and the database is a throwaway.
      await db.pool.query(`ALTER DATABASE "${lost.name}" ALLOW_CONNECTIONS true`).catch(() => {});
      await lost.drop().catch(() => {});
    }
  });
});
