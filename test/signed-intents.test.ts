import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Job, Queue } from "bullmq";
import * as ops from "../admin/ops.ts";
import { IntentClient, intentUid, type ResultRejectReason } from "../api/intents.ts";
import { createApiMetrics, instrumentIntents } from "../api/metrics.ts";
import { QUEUE_NAME, type IntentPayload } from "../domain/contracts.ts";
import { connectRedis, type Redis } from "../infra/redis.ts";
import { signFailure, signIntent, signResult, verifyResult } from "../infra/signing.ts";
import { waitFor } from "./setup/db.ts";
import { fingerprint } from "./setup/fingerprint.ts";
import { SIGNING_KEY, spawnService, type Service } from "./setup/stack.ts";
import { worldSuite } from "./setup/suite.ts";
import { call, ONE_JOB, pushAndRun, tokenIdOf } from "./setup/world.ts";

// The intent queue is a door anyone with Redis write access can knock on (docs/security.md,
// "Signed intents"). A worker process applies only what the API signed, and re-checks the
// token and the role inside the intent's own transaction.

// No in-process worker: the worker is a real process, so its /metrics can be read.
const apiMetrics = createApiMetrics();
const s = worldSuite("signed", { withWorker: false, resultTimeoutMs: 400, wrapIntents: (c) => instrumentIntents(c, apiMetrics) });
let worker: Service;
let workerUrl: string;
let redis: Redis;
let queue: Queue;

beforeAll(async () => {
  worker = spawnService("worker/main.ts", { DATABASE_URL: s.db.url, REDIS_URL: s.stack.redisUrl, QUEUE_PREFIX: s.stack.prefix, WORKER_PORT: "0" });
  await worker.waitForLine(/"msg":"worker ready"/);
  workerUrl = `http://127.0.0.1:${/"port":(\d+)[^\n]*"msg":"worker http listening"/.exec(worker.output())![1]}`;
  redis = connectRedis(s.stack.redisUrl, "producer", "signed-test-attacker");
  queue = new Queue(QUEUE_NAME, { connection: redis, prefix: s.stack.prefix });
});
afterAll(async () => {
  await queue?.close();
  redis?.disconnect();
  await worker?.kill("SIGTERM");
});

async function rejectedCount(reason: string): Promise<number> {
  const text = await (await fetch(`${workerUrl}/metrics`)).text();
  const m = new RegExp(`^actions_intents_rejected_total\\{reason="${reason}"\\} (\\d+)$`, "m").exec(text);
  return m ? Number(m[1]) : NaN;
}

/** Adds a queue job as an attacker with Redis access would, and waits for the worker's verdict. */
async function forge(name: string, data: unknown): Promise<Job> {
  const job = await queue.add(name, data, { jobId: `forged-${Math.random().toString(36).slice(2)}`, attempts: 1 });
  return waitFor(`forged job ${job.id} to be settled`, async () => {
    const j = await Job.fromId(queue, job.id!);
    return j?.finishedOn !== undefined ? j : null;
  }, 15_000);
}

describe("a worker applies only intents the API signed", () => {
  it("drops forged queue jobs — unsigned, re-targeted, re-kinded — and counts each by reason, changing nothing", async () => {
    // The victim: a queued job of alice's private repository.
    const victim = await pushAndRun(s.db.prisma, "alice/secret", ONE_JOB, "5e5e5e5e");
    const alice = await s.db.prisma.user.findUniqueOrThrow({ where: { login: "alice" } });
    // A real, signed cancel by bob in the public repository leaves its signed payload in Redis.
    const own = await pushAndRun(s.db.prisma, "alice/demo", ONE_JOB, "5e5e5e5f");
    // 202, or 503 when the just-started worker takes longer than the suite's short wait: either way it is applied.
    expect([202, 503]).toContain((await call(s.stack.url, "POST", `/api/v1/jobs/${own.job_ids[0]}/cancel`, { token: s.world.tokens.bob })).status);
    const seen = await waitFor("bob's cancel to be applied", async () =>
      (await queue.getJobs(["completed"])).find((j) => (j.data as IntentPayload).targetId === own.job_ids[0]));
    const signed = seen!.data as IntentPayload;
    expect(signed.signature).toMatch(/^v1=[0-9a-f]{64}$/);

    const before = await fingerprint(s.db.pool);
    const counts = { unsigned: await rejectedCount("unsigned"), bad: await rejectedCount("bad_signature") };
    const plain: IntentPayload = {
      intentUid: intentUid("force-cancel-run", Number(alice.id), null), targetId: victim.run_id, actorUserId: Number(alice.id),
      tokenId: await tokenIdOf(s.db.prisma, s.world.tokens.alice), idempotencyKey: null, requestId: null, reason: null, params: null, issuedAt: Date.now(),
    };
    const forged: [string, string, unknown, string][] = [
      ["unsigned, as the victim", "force-cancel-run", plain, "unsigned"],
      ["a signature made with a guessed key", "force-cancel-run", signIntent("not-the-key-".repeat(4), "force-cancel-run", plain), "bad_signature"],
      ["bob's signed cancel pointed at alice's job", "cancel-job", { ...signed, targetId: victim.job_ids[0] }, "bad_signature"],
      ["bob's signed cancel as alice", "cancel-job", { ...signed, actorUserId: Number(alice.id) }, "bad_signature"],
      ["bob's signed cancel of a job replayed as a force-cancel of a run", "force-cancel-run", { ...signed, targetId: victim.run_id }, "bad_signature"],
    ];
    for (const [what, name, data, reason] of forged) {
      const job = await forge(name, data);
      expect(job.failedReason, what).toBe(`intent rejected: ${reason}`);
      expect(job.returnvalue, what).toBeFalsy();
    }
    expect(await rejectedCount("unsigned")).toBe(counts.unsigned + 1);
    expect(await rejectedCount("bad_signature")).toBe(counts.bad + 4);
    expect(await fingerprint(s.db.pool)).toBe(before);
    expect(worker.output()).toMatch(/"reason":"bad_signature"[^\n]*"msg":"intent rejected"/);
  });

  it("answers an exact replay of a signed intent with its first result, and changes nothing more", async () => {
    const r = await pushAndRun(s.db.prisma, "alice/demo", ONE_JOB, "5e5e5e60");
    const first = await call(s.stack.url, "POST", `/api/v1/jobs/${r.job_ids[0]}/cancel`, { token: s.world.tokens.bob });
    expect(first).toMatchObject({ status: 202, body: { changed_jobs: 1 } });
    const original = (await queue.getJobs(["completed"])).find((j) => (j.data as IntentPayload).targetId === r.job_ids[0])!;
    const before = await fingerprint(s.db.pool);
    const replayed = await forge("cancel-job", original.data);
    expect(replayed.failedReason).toBeFalsy();
    // The same result, each signed for its own queue job.
    expect(verifyResult([SIGNING_KEY], replayed.id!, replayed.returnvalue)).toEqual(verifyResult([SIGNING_KEY], original.id!, original.returnvalue));
    expect(verifyResult([SIGNING_KEY], original.id!, original.returnvalue).ok).toBe(true);
    expect(await fingerprint(s.db.pool)).toBe(before);
  });
});

describe("the API believes only results a worker signed for that intent", () => {
  const fakeSuccess = { ok: true, body: { job_id: 1, run_id: 1, repo_id: 1, changed_jobs: 1, run_completed: false, run_conclusion: "" } };
  const rejectedResults = async (reason: ResultRejectReason) =>
    (await apiMetrics.resultsRejected.get()).values.find((v) => v.labels.reason === reason)?.value ?? 0;
  /** A genuine signed result, of another intent, as left in Redis. */
  async function someSignedResult(): Promise<{ id: string; value: unknown }> {
    const [done] = (await queue.getJobs(["completed"])).filter((j) => verifyResult([SIGNING_KEY], j.id!, j.returnvalue).ok);
    return { id: done!.id!, value: done!.returnvalue };
  }

  it("answers 503 (queued), not 202, when a finished job with a forged result sits under a keyed request's id, and cancels nothing", async () => {
    const bob = await s.db.prisma.user.findUniqueOrThrow({ where: { login: "bob" } });
    const other = await someSignedResult();
    const forgeries: [string, unknown, ResultRejectReason][] = [
      ["an unsigned success", fakeSuccess, "unsigned"],
      ["another intent's signed result", other.value, "bad_signature"],
      ["a success signed with a guessed key", signResult("not-the-key-".repeat(4), "x", fakeSuccess), "bad_signature"],
    ];
    for (const [i, [what, returnvalue, reason]] of forgeries.entries()) {
      const r = await pushAndRun(s.db.prisma, "alice/demo", ONE_JOB, `5e5e5e7${i}`);
      const key = `forged-result-${i}-${process.pid}`;
      const uid = intentUid("cancel-job", Number(bob.id), key);
      // Written straight into Redis, as an attacker would: BullMQ's add finds the id taken and adds nothing.
      await redis.hset(`${s.stack.prefix}:${QUEUE_NAME}:${uid}`, {
        name: "cancel-job", data: JSON.stringify({ targetId: r.job_ids[0] }), opts: "{}", timestamp: String(Date.now()),
        processedOn: String(Date.now()), finishedOn: String(Date.now()), returnvalue: JSON.stringify(returnvalue),
      });
      const before = await rejectedResults(reason);
      const res = await call(s.stack.url, "POST", `/api/v1/jobs/${r.job_ids[0]}/cancel`, { token: s.world.tokens.bob, headers: { "Idempotency-Key": key } });
      expect(res.status, what).toBe(503);
      expect(res.body.intent_id, what).toBe(uid);
      expect(await rejectedResults(reason), what).toBe(before + 1);
      const job = await s.db.prisma.workflowJob.findUniqueOrThrow({ where: { id: BigInt(r.job_ids[0]!) } });
      expect(job, what).toMatchObject({ status: "queued", cancelRequested: false });
    }
  });

  it("ignores forged completed events for a pending intent and answers with the worker's own result", async () => {
    const victim = await pushAndRun(s.db.prisma, "alice/secret", ONE_JOB, "5e5e5e80");
    const bob = await s.db.prisma.user.findUniqueOrThrow({ where: { login: "bob" } });
    const producer = connectRedis(s.stack.redisUrl, "producer", "signed-test-api");
    const events = connectRedis(s.stack.redisUrl, "subscriber", "signed-test-events");
    const client = IntentClient.create(producer, events, s.stack.prefix, 20_000, SIGNING_KEY);
    const heard: ResultRejectReason[] = [];
    client.onResultRejected = (reason) => heard.push(reason);
    const other = await someSignedResult();
    try {
      await client.ready();
      // Held in the queue until the forgeries were heard, so they come first.
      await queue.pause();
      const uid = intentUid("cancel-job", Number(bob.id), null);
      const outcome = client.submit("cancel-job", {
        intentUid: uid, targetId: victim.job_ids[0]!, actorUserId: Number(bob.id), tokenId: await tokenIdOf(s.db.prisma, s.world.tokens.bob),
        idempotencyKey: null, requestId: null, reason: null, params: null,
      });
      await waitFor("the intent to be queued", async () => (await Job.fromId(queue, uid)) ?? null);
      const stream = `${s.stack.prefix}:${QUEUE_NAME}:events`;
      // Sent again until heard: QueueEvents reads only what is added after it began to listen.
      await waitFor("the client to hear both forged completed events", async () => {
        for (const v of [fakeSuccess, other.value]) await redis.xadd(stream, "*", "event", "completed", "jobId", uid, "returnvalue", JSON.stringify(v), "prev", "active");
        return new Set(heard).size === 2;
      });
      expect(new Set(heard)).toEqual(new Set(["unsigned", "bad_signature"]));
      await queue.resume();
      // bob may not see alice/secret: the worker's own check refuses it, and that is the answer.
      expect(await outcome).toEqual({ kind: "result", result: { ok: false, error: "not_found", message: "job not found" } });
      const job = await s.db.prisma.workflowJob.findUniqueOrThrow({ where: { id: BigInt(victim.job_ids[0]!) } });
      expect(job).toMatchObject({ status: "queued", cancelRequested: false });
    } finally {
      await queue.resume();
      await client.close();
      producer.disconnect();
      events.disconnect();
    }
  });
});

describe("the API believes only failures a worker signed", () => {
  it("ignores forged failed events for a pending intent and answers with the worker's own result", async () => {
    const victim = await pushAndRun(s.db.prisma, "alice/demo", ONE_JOB, "5e5e5e90");
    const alice = await s.db.prisma.user.findUniqueOrThrow({ where: { login: "alice" } });
    const producer = connectRedis(s.stack.redisUrl, "producer", "signed-fail-api");
    const events = connectRedis(s.stack.redisUrl, "subscriber", "signed-fail-events");
    const client = IntentClient.create(producer, events, s.stack.prefix, 20_000, SIGNING_KEY);
    const heard: ResultRejectReason[] = [];
    client.onResultRejected = (reason) => heard.push(reason);
    try {
      await client.ready();
      await queue.pause();
      const uid = intentUid("cancel-job", Number(alice.id), null);
      const outcome = client.submit("cancel-job", {
        intentUid: uid, targetId: victim.job_ids[0]!, actorUserId: Number(alice.id), tokenId: await tokenIdOf(s.db.prisma, s.world.tokens.alice),
        idempotencyKey: null, requestId: null, reason: null, params: null,
      });
      await waitFor("the intent to be queued", async () => (await Job.fromId(queue, uid)) ?? null);
      const stream = `${s.stack.prefix}:${QUEUE_NAME}:events`;
      // Before this was checked, the first of these made the API answer 500 while the worker went on to cancel.
      await waitFor("the client to hear both forged failed events", async () => {
        for (const reason of ["boom", signFailure("not-the-key-".repeat(4), uid, "boom")]) {
          await redis.xadd(stream, "*", "event", "failed", "jobId", uid, "failedReason", reason, "prev", "active");
        }
        return new Set(heard).size === 2;
      });
      expect(new Set(heard)).toEqual(new Set(["unsigned", "bad_signature"]));
      await queue.resume();
      expect(await outcome).toMatchObject({ kind: "result", result: { ok: true } });
      const job = await s.db.prisma.workflowJob.findUniqueOrThrow({ where: { id: BigInt(victim.job_ids[0]!) } });
      expect(job.status).toBe("cancelled");
    } finally {
      await queue.resume();
      await client.close();
      producer.disconnect();
      events.disconnect();
    }
  });
});

describe("the worker checks the token and the role again, in the intent's transaction", () => {
  /** Queues a cancel while no worker runs (503: queued), then lets `change` happen before it is applied. */
  async function queuedThen(token: string, sha: string, change: () => Promise<unknown>) {
    await worker.kill("SIGTERM");
    const r = await pushAndRun(s.db.prisma, "alice/demo", ONE_JOB, sha);
    const res = await call(s.stack.url, "POST", `/api/v1/jobs/${r.job_ids[0]}/cancel`, { token });
    expect(res.status).toBe(503);
    await change();
    worker = spawnService("worker/main.ts", { DATABASE_URL: s.db.url, REDIS_URL: s.stack.redisUrl, QUEUE_PREFIX: s.stack.prefix, WORKER_PORT: "0" });
    const intent = await waitFor("the queued intent to be recorded", () =>
      s.db.prisma.lifecycleIntent.findFirst({ where: { uid: res.body.intent_id } }), 20_000);
    const job = await s.db.prisma.workflowJob.findUniqueOrThrow({ where: { id: BigInt(r.job_ids[0]!) } });
    return { intent, job };
  }

  it("refuses an intent whose token was revoked after the API accepted it (the API's 401 answer), and cancels nothing", async () => {
    const token = (await ops.createToken(s.db.prisma, { user: "bob", scopes: ["repo:write"] })).token;
    const id = await tokenIdOf(s.db.prisma, token);
    const { intent, job } = await queuedThen(token, "5e5e5e61", () => ops.revokeToken(s.db.prisma, id));
    expect(intent).toMatchObject({ state: "rejected", result: { ok: false, error: "unauthorized", message: "token revoked" } });
    expect(job).toMatchObject({ status: "queued", cancelRequested: false });
  });

  it("refuses an intent whose user lost write access after the API accepted it (the API's 403 answer)", async () => {
    await ops.createUser(s.db.prisma, { login: "erin" });
    await ops.addCollaborator(s.db.prisma, { repo: "alice/demo", user: "erin", role: "write" });
    const token = (await ops.createToken(s.db.prisma, { user: "erin", scopes: ["repo:write"] })).token;
    const { intent, job } = await queuedThen(token, "5e5e5e62", () =>
      ops.addCollaborator(s.db.prisma, { repo: "alice/demo", user: "erin", role: "read" }));
    expect(intent).toMatchObject({ state: "rejected", result: { ok: false, error: "forbidden", message: "write permission required" } });
    expect(job).toMatchObject({ status: "queued", cancelRequested: false });
    await worker.waitForLine(/"msg":"worker ready"/);
  });
});
