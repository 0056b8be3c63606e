import { Queue, Worker } from "bullmq";
import { cancelChannel, MAINTENANCE_QUEUE, SIGNALS_JOB, signalsJob } from "../domain/contracts.ts";
import type { Redis } from "../infra/redis.ts";
import { isConnectionError } from "../infra/deps.ts";
import { scheduleReaper, type ReaperDeps, type ReaperOptions } from "./reaper.ts";

/**
 * The maintenance queue's worker, one per worker process at concurrency 1: it runs the
 * reaper's ticks (worker/reaper.ts) and publishes the cancel signals the API hands over
 * as `signals` jobs. One worker for both, since a BullMQ worker takes every job name.
 */
export async function startMaintenance(
  deps: ReaperDeps,
  conns: { queue: Redis; worker: Redis },
  opts: ReaperOptions,
): Promise<{ close(): Promise<void> }> {
  const queue = new Queue(MAINTENANCE_QUEUE, { connection: conns.queue, prefix: deps.queuePrefix });
  // Without a listener BullMQ prints each connection error with console.error.
  queue.on("error", () => {});
  const reaperTick = await scheduleReaper(queue, deps, opts);
  const worker = new Worker(MAINTENANCE_QUEUE, (job) => (job.name === SIGNALS_JOB ? publishSignalsJob(deps, job.data) : reaperTick()), {
    connection: conns.worker,
    prefix: deps.queuePrefix,
    concurrency: 1,
  });
  // A lost Redis is reported once by worker/main.ts's watch, not on every retry.
  worker.on("error", (err) => {
    if (!isConnectionError(err)) deps.log.warn({ err: err.message }, "maintenance connection error");
  });
  return {
    async close() {
      await worker.close();
      await queue.close();
    },
  };
}

/** Publishes the cancel signals the API sent (fail-fast); a malformed job is dropped. */
export async function publishSignalsJob(deps: Pick<ReaperDeps, "publish" | "queuePrefix">, data: unknown): Promise<{ published: number }> {
  const parsed = signalsJob.safeParse(data);
  if (!parsed.success) return { published: 0 };
  for (const s of parsed.data.signals) await deps.publish(cancelChannel(deps.queuePrefix), JSON.stringify(s));
  return { published: parsed.data.signals.length };
}
