import { rmSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { Redis } from "ioredis";
import * as ops from "../admin/ops.ts";
import { DELIVERY_QUEUE } from "../domain/contracts.ts";
import { waitFor } from "./setup/db.ts";
import { systemSuite } from "./setup/system.ts";
import { describeOf, runOf, startReceiver, type Received, type Receiver, type Respond } from "./setup/receiver.ts";
import { call } from "./setup/world.ts";

// Webhook deliveries under faults (docs/events.md, "Delivery"): a receiver that is down,
// that answers 500, that hangs; a worker killed with SIGKILL in the middle; Redis restarted,
// and Redis that lost every queued delivery. Every event still reaches the receiver, in
// order per run, and a second copy is only ever a retry of the same X-GitHub-Delivery.

const SECRET = "fault-hook-secret-51d2";
const ENV = {
  WEBHOOK_ALLOW_PRIVATE: "true", WEBHOOK_BACKOFF_MS: "100", WEBHOOK_MAX_ATTEMPTS: "12", WEBHOOK_TIMEOUT_MS: "800", EVENTS_POLL_MS: "20",
  WORKER_LOCK_DURATION_MS: "2000", WORKER_STALLED_INTERVAL_MS: "1000",
};
const s = systemSuite("hookfaults", {}, ENV);
let sha = 0;

/** A run of `n` jobs no runner serves: it stays queued until cancelled, so its events are known in advance. */
async function parkedRun(n: number) {
  const jobs = Array.from({ length: n }, (_, i) => `  j${i}:\n    runs-on: nobody-serves-this\n    steps:\n      - run: echo ${i}\n`).join("");
  return ops.createRunFromSource(s.db.prisma, {
    repo: "alice/demo", workflowFile: ".shithub/workflows/parked.yml", headSha: (++sha).toString(16).padStart(40, "b"), source: `name: Parked\non: push\njobs:\n${jobs}`,
  });
}

async function withHook<T>(respond: Respond, f: (rec: Receiver, hookId: number, token: string) => Promise<T>): Promise<T> {
  const token = (await ops.createToken(s.db.prisma, { user: "alice", scopes: ["repo:write", "admin:repo_hook"] })).token;
  const rec = await startReceiver(SECRET, respond);
  const created = await call(s.api, "POST", "/api/v1/repos/alice/demo/hooks", { token, body: { url: rec.url, secret: SECRET } });
  expect(created.status).toBe(201);
  try {
    return await f(rec, created.body.id, token);
  } finally {
    await call(s.api, "PATCH", `/api/v1/repos/alice/demo/hooks/${created.body.id}`, { token, body: { active: false } });
    await rec.close();
  }
}

const cancelRun = async (token: string, runId: number) => expect((await call(s.api, "POST", `/api/v1/runs/${runId}/cancel`, { token, body: {} })).status).toBe(202);

async function transitions(runId: number): Promise<string[]> {
  const { rows } = await s.db.pool.query<{ type: string; action: string; job_id: string | null }>(
    `SELECT type::text, action, job_id::text FROM events WHERE run_id = $1 AND type <> 'intent' AND id IS NOT NULL ORDER BY id`, [runId]);
  return rows.map((e) => `${e.type}.${e.action}${e.type === "workflow_job" ? `#${e.job_id}` : ""}`);
}

/**
 * Waits until the receiver accepted every event of the run, then checks: in event order,
 * each event under one guid, and any second copy the same guid.
 */
async function expectWholeRun(rec: Receiver, runId: number, transitionsExpected: number): Promise<Map<string, Received[]>> {
  await waitFor(`${transitionsExpected} events of run ${runId} dispatched`, async () => (await transitions(runId)).length === transitionsExpected, 20_000);
  const want = await transitions(runId);
  const firsts = () => {
    const seen = new Map<string, Received>();
    for (const r of rec.accepted()) if (runOf(r) === runId && !seen.has(r.guid)) seen.set(r.guid, r);
    return [...seen.values()];
  };
  await waitFor(`run ${runId}: all ${want.length} events accepted`, async () => firsts().length >= want.length, 45_000);
  expect(firsts().map(describeOf)).toEqual(want);
  const byEvent = new Map<string, Received[]>();
  for (const r of rec.received.filter((x) => runOf(x) === runId)) byEvent.set(describeOf(r), [...(byEvent.get(describeOf(r)) ?? []), r]);
  for (const [ev, copies] of byEvent) expect(new Set(copies.map((c) => c.guid)).size, `${ev}: one guid for all its copies`).toBe(1);
  return byEvent;
}

const deliveriesOf = async (hookId: number) => (await s.db.pool.query<{ attempts: number; state: string; status_code: number | null }>(
  `SELECT attempts, state::text AS state, status_code FROM hook_deliveries WHERE hook_id = $1 ORDER BY event_id`, [hookId])).rows;

describe("webhook deliveries under faults", () => {
  it("a receiver down for a while: the run's first delivery is retried until it is up, the rest wait their turn, all arrive in order", async () => {
    await withHook(() => 200, async (rec, hookId, token) => {
      await rec.down();
      const r = await parkedRun(2);
      await cancelRun(token, r.run_id);
      await waitFor("two refused attempts", async () => (await deliveriesOf(hookId)).some((d) => d.attempts >= 2 && d.state === "retrying"), 20_000);
      await rec.reopen();
      await expectWholeRun(rec, r.run_id, 6);
      const ds = await waitFor("every delivery recorded as delivered", async () => {
        const d = await deliveriesOf(hookId);
        return d.length === 6 && d.every((x) => x.state === "delivered") ? d : null;
      }, 10_000);
      expect(ds[0]!.attempts).toBeGreaterThanOrEqual(3);
      // The others waited behind it instead of failing on their own.
      expect(ds.slice(1).map((d) => d.attempts)).toEqual([1, 1, 1, 1, 1]);
      expect(rec.received.length).toBe(6);
    });
  }, 60_000);

  it("a receiver that answers 500 twice, then 200: three attempts of one guid, one acceptance", async () => {
    await withHook((n) => (n <= 2 ? 500 : 200), async (rec, hookId, token) => {
      const r = await parkedRun(1);
      await cancelRun(token, r.run_id);
      const byEvent = await expectWholeRun(rec, r.run_id, 4);
      expect(byEvent.get("workflow_run.requested")!.length).toBe(3);
      const detail = await waitFor("the first delivery delivered", async () => (await deliveriesOf(hookId))[0]?.state === "delivered" ? (await deliveriesOf(hookId))[0] : null, 10_000);
      expect(detail).toMatchObject({ attempts: 3, status_code: 200 });
    });
  }, 60_000);

  it("a receiver that hangs: the attempt is cut at WEBHOOK_TIMEOUT_MS and retried under the same guid", async () => {
    await withHook((n) => (n === 1 ? "hang" : 200), async (rec, hookId, token) => {
      const r = await parkedRun(1);
      await cancelRun(token, r.run_id);
      const byEvent = await expectWholeRun(rec, r.run_id, 4);
      const copies = byEvent.get("workflow_run.requested")!;
      expect(copies.length).toBe(2);
      expect(copies[1]!.at - copies[0]!.at).toBeGreaterThanOrEqual(800);
      const { rows } = await s.db.pool.query(`SELECT attempts, error FROM hook_deliveries WHERE hook_id = $1 ORDER BY event_id LIMIT 1`, [hookId]);
      expect(rows[0].attempts).toBe(2);
    });
  }, 60_000);

  it("a worker killed with SIGKILL in the middle of delivering: a new worker delivers the rest, nothing lost, a repeat only under the same guid", async () => {
    await withHook(() => ({ status: 200, delayMs: 40 }), async (rec, _hookId, token) => {
      const r = await parkedRun(20);
      await cancelRun(token, r.run_id);
      await waitFor("some deliveries accepted", async () => rec.accepted().filter((x) => runOf(x) === r.run_id).length >= 5, 20_000);
      await s.workerProc.kill("SIGKILL");
      s.workerProc = s.start("worker/main.ts", { WORKER_PORT: "0", ...ENV });
      await s.workerProc.waitForLine(/worker ready/);
      await expectWholeRun(rec, r.run_id, 42);
    });
  }, 90_000);

  it("Redis restarted, and Redis that lost every queued delivery: the sweep queues them again from Postgres", async () => {
    let failing = true;
    await withHook(() => (failing ? 503 : 200), async (rec, hookId, token) => {
      const r = await parkedRun(2);
      await cancelRun(token, r.run_id);
      await waitFor("a delivery retrying", async () => (await deliveriesOf(hookId)).some((d) => d.state === "retrying"), 20_000);
      const jobKeys = async () => {
        const admin = new Redis(s.redisUrl);
        try {
          return await admin.keys(`${s.redis.prefix}:${DELIVERY_QUEUE}:delivery-*`);
        } finally {
          admin.disconnect();
        }
      };
      expect((await jobKeys()).length).toBeGreaterThan(0);
      // A restart that keeps its data, then one that lost it all (the append-only file gone).
      await s.redis.server.stop("SIGTERM");
      await s.redis.server.start();
      await s.redis.server.stop("SIGKILL");
      rmSync(path.join(s.redis.server.dir, "appendonlydir"), { recursive: true, force: true });
      await s.redis.server.start();
      // The queue's jobs are gone (BullMQ's own bookkeeping keys come back as its clients reconnect).
      expect(await jobKeys()).toEqual([]);
      failing = false;
      await expectWholeRun(rec, r.run_id, 6);
    });
  }, 90_000);
});
