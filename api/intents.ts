import { randomUUID, createHash } from "node:crypto";
import { Job, Queue, QueueEvents } from "bullmq";
import {
  INTENT_JOB_OPTIONS, QUEUE_NAME, intentResult,
  type IntentName, type IntentPayload, type IntentResult,
} from "../domain/contracts.ts";
import { duplicateRedis, type Redis } from "../infra/redis.ts";
import { allShards, shardOf, shardPrefix } from "../domain/queue-shards.ts";
import { signIntent, verifyFailure, verifyResult, type ResultVerdict } from "../infra/signing.ts";

export type Outcome =
  | { kind: "result"; result: IntentResult }
  /** The worker tier did not answer in time; the intent stays queued. */
  | { kind: "timeout"; intentUid: string }
  /** Redis refused the intent: nothing was queued. */
  | { kind: "unavailable" }
  /** Redis went away after the intent was sent and before it answered: it may be queued. */
  | { kind: "uncertain"; intentUid: string }
  | { kind: "failed"; intentUid: string }
  | { kind: "idempotency_conflict" };

type Waiter = (o: Outcome) => void;

/** Why a result read from Redis was not believed (actions_intent_results_rejected_total{reason}). */
export type ResultRejectReason = Exclude<ResultVerdict, { ok: true }>["reason"];

// ioredis (no offline queue) refuses a command it never sent with this message: only then
// is it certain that nothing was queued. Any other failure may come after Redis ran the
// add and before its answer arrived (seen when Redis stops mid-request, chaos suite).
const NOT_SENT = /Stream isn't writeable/;

/**
 * The BullMQ job id is the fast idempotency filter: a request carrying an
 * Idempotency-Key maps to the same job id every time, so a retry finds the job (and
 * its result) instead of queueing a second one. Postgres holds the durable record.
 */
export function intentUid(name: IntentName, actorUserId: number, idempotencyKey: string | null): string {
  if (idempotencyKey === null) return `${name}-${randomUUID()}`;
  const k = createHash("sha256").update(idempotencyKey).digest("hex").slice(0, 40);
  return `${name}-u${actorUserId}-k${k}`;
}

/** What an intent is routed by: its repository (one repository's intents share a queue shard, so keep their order). */
export interface IntentRoute {
  repoId: bigint | number;
}

/**
 * Enqueues intents and waits for their results through one QueueEvents listener per queue
 * shard that settles pending requests by job id (one listener scales; per-request waits do
 * not). With QUEUE_SHARDS=K a repository's intents go to shard hash(repo) mod K
 * (domain/queue-shards.ts); job ids are unique across shards, so one waiter map serves all.
 */
export class IntentClient {
  private readonly waiters = new Map<string, Set<Waiter>>();
  /** Intents whose add failed after it was sent: if no result comes in time, say "maybe". */
  private readonly maybeQueued = new Set<string>();
  /** The keys a worker's result may be signed with: the current one, and during a rotation the previous. */
  private readonly resultKeys: readonly string[];
  /** Told about every result for a pending intent that was not believed (api/metrics.ts counts them). */
  onResultRejected: (reason: ResultRejectReason) => void = () => {};

  constructor(
    /** One per shard, shard n at index n. */
    readonly queues: readonly Queue[],
    private readonly events: readonly QueueEvents[],
    private readonly timeoutMs: number,
    /** INTENT_SIGNING_KEY: workers apply only what it signed. */
    private readonly signingKey: string,
    /** INTENT_SIGNING_KEY_PREVIOUS, during a rotation. */
    previousKey?: string | null,
  ) {
    this.resultKeys = previousKey ? [signingKey, previousKey] : [signingKey];
    for (const e of events) {
      e.on("completed", ({ jobId, returnvalue }) => this.settleWithResult(jobId, returnvalue));
      e.on("failed", ({ jobId, failedReason }) => this.settleWithFailure(jobId, failedReason));
    }
  }

  /**
   * `shards` queues under the prefixes shardPrefix gives (one shard: `prefix` itself). Each
   * shard's QueueEvents blocks on its own stream: shard 0 uses `eventsConn`, the others a
   * duplicate of it (closed with the client).
   */
  static create(producer: Redis, eventsConn: Redis, prefix: string, timeoutMs: number, signingKey: string, previousKey?: string | null, shards = 1): IntentClient {
    const queues = allShards(shards).map((n) => new Queue(QUEUE_NAME, { connection: producer, prefix: shardPrefix(prefix, n, shards) }));
    const conns = allShards(shards).map((n) => (n === 0 ? eventsConn : duplicateRedis(eventsConn)));
    const events = conns.map((connection, n) => new QueueEvents(QUEUE_NAME, { connection, prefix: shardPrefix(prefix, n, shards) }));
    // Without listeners BullMQ prints every connection error (a refused AUTH's arguments
    // included) with console.error; api/server.ts reports a lost Redis once instead.
    for (const q of queues) q.on("error", () => {});
    for (const e of events) e.on("error", () => {});
    const client = new IntentClient(queues, events, timeoutMs, signingKey, previousKey);
    client.ownedConns = conns.slice(1);
    return client;
  }

  /** Shard 0's queue (the only one with QUEUE_SHARDS=1). */
  get queue(): Queue {
    return this.queues[0]!;
  }

  /** The duplicated connections of shards past 0: closed with the client. */
  private ownedConns: readonly Redis[] = [];

  /** The queue a repository's intents go to; without a route, shard 0. */
  queueFor(route?: IntentRoute): Queue {
    return this.queues[route === undefined ? 0 : shardOf(route.repoId, this.queues.length)]!;
  }

  ready(): Promise<unknown> {
    return Promise.all([...this.queues, ...this.events].map((q) => q.waitUntilReady()));
  }

  async close(): Promise<void> {
    for (const uid of [...this.waiters.keys()]) this.settle(uid, { kind: "timeout", intentUid: uid });
    await Promise.all(this.events.map((e) => e.close()));
    for (const c of this.ownedConns) c.disconnect();
    await Promise.all(this.queues.map((q) => q.close()));
  }

  async submit(name: IntentName, payload: IntentPayload, route?: IntentRoute): Promise<Outcome> {
    const uid = payload.intentUid;
    const settled = this.wait(uid);
    const queue = this.queueFor(route);
    try {
      const signed = signIntent(this.signingKey, name, { ...payload, issuedAt: Date.now() });
      await queue.add(name, signed, { ...INTENT_JOB_OPTIONS, jobId: uid });
    } catch (e) {
      if (NOT_SENT.test((e as Error).message)) this.settle(uid, { kind: "unavailable" });
      // Else keep waiting: if the intent was queued, its result may still come within the wait.
      else this.maybeQueued.add(uid);
      return settled;
    }
    // Ignored on failure (Redis gone just after the add; no logger here): the request then
    // waits like any other, for the events listener or its deadline's 503 (queued), and the
    // client's retry with the same key runs this check again. The worker's Postgres record
    // still refuses a key reused for another target.
    if (payload.idempotencyKey !== null) await this.checkExisting(queue, uid, payload).catch(() => {});
    return settled;
  }

  /** A keyed job may predate this request: compare targets, and take its result if finished. */
  private async checkExisting(queue: Queue, uid: string, payload: IntentPayload): Promise<void> {
    const job = await Job.fromId(queue, uid);
    if (!job) return;
    if ((job.data as IntentPayload).targetId !== payload.targetId) {
      this.settle(uid, { kind: "idempotency_conflict" });
    } else if (job.finishedOn !== undefined && job.failedReason && !job.returnvalue) {
      // A failed intent committed nothing (the transaction rolled back); without this the
      // key would answer 500 for as long as the failed job is kept. The client asked again:
      // try again. Postgres' idempotency record still keeps it to one application.
      await job.retry("failed", { resetAttemptsMade: true, resetAttemptsStarted: true });
    } else if (job.finishedOn !== undefined) {
      this.settleWithResult(uid, job.returnvalue);
    }
  }

  /**
   * A result read from Redis is believed only when a worker signed it for this job id
   * (docs/security.md, "Signed results"). One that does not verify is treated as no result
   * yet: the request keeps waiting for the real one, and without it answers 503 (queued).
   */
  private settleWithResult(uid: string, raw: unknown): void {
    // Every API process hears every completed event: check only those it waits for.
    if (!this.waiters.has(uid)) return;
    const v = verifyResult(this.resultKeys, uid, typeof raw === "string" ? safeJson(raw) : raw);
    if (!v.ok) {
      this.onResultRejected(v.reason);
      return;
    }
    this.settle(uid, toOutcome(v.value, uid));
  }

  /**
   * A failure is believed only when a worker signed it (docs/security.md, "Signed results"):
   * a forged one would answer 500 for an intent that is still applied. Any other, a forged
   * one or BullMQ's own (a job stalled too often), leaves the request waiting: 503 (queued).
   */
  private settleWithFailure(uid: string, failedReason: unknown): void {
    if (!this.waiters.has(uid)) return;
    const v = verifyFailure(this.resultKeys, uid, failedReason);
    if (!v.ok) {
      this.onResultRejected(v.reason);
      return;
    }
    this.settle(uid, { kind: "failed", intentUid: uid });
  }

  private wait(uid: string): Promise<Outcome> {
    return new Promise<Outcome>((resolve) => {
      const timer = setTimeout(() => done({ kind: this.maybeQueued.delete(uid) ? "uncertain" : "timeout", intentUid: uid }), this.timeoutMs);
      const done: Waiter = (o) => {
        clearTimeout(timer);
        this.waiters.get(uid)?.delete(done);
        if (this.waiters.get(uid)?.size === 0) this.waiters.delete(uid);
        resolve(o);
      };
      const set = this.waiters.get(uid) ?? new Set();
      set.add(done);
      this.waiters.set(uid, set);
    });
  }

  private settle(uid: string, o: Outcome): void {
    this.maybeQueued.delete(uid);
    for (const w of [...(this.waiters.get(uid) ?? [])]) w(o);
  }
}

function toOutcome(raw: unknown, uid: string): Outcome {
  const value = typeof raw === "string" ? safeJson(raw) : raw;
  const parsed = intentResult.safeParse(value);
  return parsed.success ? { kind: "result", result: parsed.data } : { kind: "failed", intentUid: uid };
}

function safeJson(s: string): unknown {
  try {
    return JSON.parse(s);
  } catch {
    return undefined;
  }
}
