import { Worker, UnrecoverableError, type Job } from "bullmq";
import { QUEUE_NAME, intentPayload, type IntentName, type IntentPayload, type IntentResult } from "../domain/contracts.ts";
import type { Redis } from "../infra/redis.ts";
import { resultLabel, type IntentResultLabel, type RejectReason } from "../infra/metrics.ts";
import { signFailure, signResult, verifyIntent, type Signed } from "../infra/signing.ts";
import { shardPrefix } from "../domain/queue-shards.ts";
import type { ProcessorDeps } from "./intent.ts";
import { PROCESSORS, type Processor } from "./processors/index.ts";

export interface WorkerOptions {
  connection: Redis;
  prefix: string;
  concurrency: number;
  lockDurationMs: number;
  stalledIntervalMs: number;
  /** INTENT_SIGNING_KEY, and during a rotation the previous key too. */
  intentKeys: readonly string[];
  /** Told about every queue job refused before it reached a processor. */
  onRejected?: (reason: RejectReason) => void;
}

type Admission = { ok: true; payload: IntentPayload; processor: Processor; key: string } | { ok: false; reason: RejectReason; detail: string };

/** What the queue hands over is a claim: only a well-formed, signed, fresh intent goes on. */
function admit(job: Job, keys: readonly string[], nowMs: number): Admission {
  const parsed = intentPayload.safeParse(job.data);
  if (!parsed.success) return { ok: false, reason: "malformed", detail: parsed.error.issues.map((i) => i.path.join(".") || "payload").join(", ") };
  const processor = PROCESSORS[job.name as IntentName];
  if (!processor) return { ok: false, reason: "unknown_intent", detail: "no processor for this name" };
  const v = verifyIntent(keys, job.name, parsed.data, nowMs);
  if (!v.ok) return { ok: false, reason: v.reason, detail: "signature check failed" };
  return { ok: true, payload: parsed.data, processor, key: keys[v.keyIndex]! };
}

function route(deps: ProcessorDeps, opts: WorkerOptions) {
  return async (job: Job): Promise<Signed<IntentResult>> => {
    const a = admit(job, opts.intentKeys, Date.now());
    if (!a.ok) {
      // Dropped with nothing written: the job fails for good and stays visible in the failed set.
      opts.onRejected?.(a.reason);
      deps.log.warn({ queue_job: String(job.id).slice(0, 200), name: String(job.name).slice(0, 100), reason: a.reason, detail: a.detail }, "intent rejected");
      throw new UnrecoverableError(`intent rejected: ${a.reason}`);
    }
    const p = a.payload;
    const name = job.name as IntentName;
    const log = deps.log.child({ intent: p.intentUid, kind: name, request_id: p.requestId, attempt: job.attemptsMade + 1 });
    const started = performance.now();
    const result = await a.processor({ ...deps, log }, p).catch((e: unknown) => {
      // Signed like a result: the API believes a failure only from a worker (infra/signing.ts).
      // The same error object goes on, so BullMQ's retry rules see its class.
      const err = e instanceof Error ? e : new Error(String(e));
      err.message = signFailure(a.key, String(job.id), err.message);
      throw err;
    });
    log.info({ ok: result.ok, error: result.ok ? undefined : result.error, ms: +(performance.now() - started).toFixed(2) }, "intent applied");
    // The API believes only a result signed for this job id (docs/security.md, "Signed
    // results"), with the key that signed the intent: during a rotation an API that knows only
    // one of the keys reads the results of its own intents.
    return signResult(a.key, String(job.id), result);
  };
}

/** Told about every intent attempt: its result (`error` when it threw) and how long it took. */
export type IntentObserver = (kind: string, result: IntentResultLabel, seconds: number) => void;

function observed<R extends IntentResult>(processor: (job: Job) => Promise<R>, observe: IntentObserver) {
  return async (job: Job): Promise<R> => {
    const started = performance.now();
    const seconds = () => (performance.now() - started) / 1000;
    try {
      const result = await processor(job);
      observe(job.name, resultLabel(result), seconds());
      return result;
    } catch (e) {
      observe(job.name, "error", seconds());
      throw e;
    }
  };
}

/**
 * One worker per queue shard served (domain/queue-shards.ts), sharing `opts.connection` for
 * commands (BullMQ gives each its own blocking connection). `concurrency` is the process's,
 * split over its shards (rounded up): shards spread Redis, they do not multiply the intent
 * transactions a worker holds open on its Postgres pool.
 */
export function createIntentWorkers(
  deps: ProcessorDeps, opts: WorkerOptions & { shards: number; served: readonly number[] }, observe?: IntentObserver,
): Worker[] {
  const concurrency = Math.max(1, Math.ceil(opts.concurrency / opts.served.length));
  return opts.served.map((n) => createIntentWorker(deps, { ...opts, concurrency, prefix: shardPrefix(opts.prefix, n, opts.shards) }, observe));
}

export function createIntentWorker(deps: ProcessorDeps, opts: WorkerOptions, observe?: IntentObserver): Worker {
  return new Worker(QUEUE_NAME, observe ? observed(route(deps, opts), observe) : route(deps, opts), {
    connection: opts.connection,
    prefix: opts.prefix,
    concurrency: opts.concurrency,
    lockDuration: opts.lockDurationMs,
    stalledInterval: opts.stalledIntervalMs,
    // A job that stalls (its worker died) goes back to the queue rather than failing.
    maxStalledCount: 5,
  });
}
