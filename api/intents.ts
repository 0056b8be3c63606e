import { randomUUID, createHash } from "node:crypto";
import { Job, Queue, QueueEvents } from "bullmq";
import {
  INTENT_JOB_OPTIONS, QUEUE_NAME, intentResult,
  type IntentName, type IntentPayload, type IntentResult,
} from "../domain/contracts.ts";
import type { Redis } from "../infra/redis.ts";
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

/**
 * Enqueues intents and waits for their results through one QueueEvents listener that
 * settles pending requests by job id (one listener scales; per-request waits do not).
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
    readonly queue: Queue,
    private readonly events: QueueEvents,
    private readonly timeoutMs: number,
    /** INTENT_SIGNING_KEY: workers apply only what it signed. */
    private readonly signingKey: string,
    /** INTENT_SIGNING_KEY_PREVIOUS, during a rotation. */
    previousKey?: string | null,
  ) {
    this.resultKeys = previousKey ? [signingKey, previousKey] : [signingKey];
    events.on("completed", ({ jobId, returnvalue }) => this.settleWithResult(jobId, returnvalue));
    events.on("failed", ({ jobId, failedReason }) => this.settleWithFailure(jobId, failedReason));
  }

  static create(producer: Redis, eventsConn: Redis, prefix: string, timeoutMs: number, signingKey: string, previousKey?: string | null): IntentClient {
    const queue = new Queue(QUEUE_NAME, { connection: producer, prefix });
    const events = new QueueEvents(QUEUE_NAME, { connection: eventsConn, prefix });
    // Without listeners BullMQ prints every connection error (a refused AUTH's arguments
    // included) with console.error; api/server.ts reports a lost Redis once instead.
    queue.on("error", () => {});
    events.on("error", () => {});
    return new IntentClient(queue, events, timeoutMs, signingKey, previousKey);
  }

  ready(): Promise<unknown> {
    return Promise.all([this.queue.waitUntilReady(), this.events.waitUntilReady()]);
  }

  async close(): Promise<void> {
    for (const uid of [...this.waiters.keys()]) this.settle(uid, { kind: "timeout", intentUid: uid });
    await this.events.close();
    await this.queue.close();
  }

  async submit(name: IntentName, payload: IntentPayload): Promise<Outcome> {
    const uid = payload.intentUid;
    const settled = this.wait(uid);
    try {
      const signed = signIntent(this.signingKey, name, { ...payload, issuedAt: Date.now() });
      await this.queue.add(name, signed, { ...INTENT_JOB_OPTIONS, jobId: uid });
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
    if (payload.idempotencyKey !== null) await this.checkExisting(uid, payload).catch(() => {});
    return settled;
  }

  /** A keyed job may predate this request: compare targets, and take its result if finished. */
  private async checkExisting(uid: string, payload: IntentPayload): Promise<void> {
    const job = await Job.fromId(this.queue, uid);
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
