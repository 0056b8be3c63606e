import { Worker, UnrecoverableError, type Job } from "bullmq";
import { QUEUE_NAME, intentPayload, type IntentName, type IntentResult } from "../core/contracts.ts";
import type { Redis } from "../core/redis.ts";
import { resultLabel, type IntentResultLabel } from "../core/metrics.ts";
import type { ProcessorDeps } from "./intent.ts";
import { PROCESSORS } from "./processors/index.ts";

export interface WorkerOptions {
  connection: Redis;
  prefix: string;
  concurrency: number;
  lockDurationMs: number;
  stalledIntervalMs: number;
}

function route(deps: ProcessorDeps) {
  return async (job: Job): Promise<IntentResult> => {
    const parsed = intentPayload.safeParse(job.data);
    if (!parsed.success) throw new UnrecoverableError(`malformed intent payload: ${parsed.error.message}`);
    const name = job.name as IntentName;
    const log = deps.log.child({ intent: parsed.data.intentUid, kind: name, request_id: parsed.data.requestId, attempt: job.attemptsMade + 1 });
    const started = performance.now();
    const processor = PROCESSORS[name];
    if (!processor) throw new UnrecoverableError(`unknown intent ${job.name}`);
    const result = await processor({ ...deps, log }, parsed.data);
    log.info({ ok: result.ok, error: result.ok ? undefined : result.error, ms: +(performance.now() - started).toFixed(2) }, "intent applied");
    return result;
  };
}

/** Told about every intent attempt: its result (`error` when it threw) and how long it took. */
export type IntentObserver = (kind: string, result: IntentResultLabel, seconds: number) => void;

function observed(processor: (job: Job) => Promise<IntentResult>, observe: IntentObserver) {
  return async (job: Job): Promise<IntentResult> => {
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

export function createIntentWorker(deps: ProcessorDeps, opts: WorkerOptions, observe?: IntentObserver): Worker {
  return new Worker(QUEUE_NAME, observe ? observed(route(deps), observe) : route(deps), {
    connection: opts.connection,
    prefix: opts.prefix,
    concurrency: opts.concurrency,
    lockDuration: opts.lockDurationMs,
    stalledInterval: opts.stalledIntervalMs,
    // A job that stalls (its worker died) goes back to the queue rather than failing.
    maxStalledCount: 5,
  });
}
