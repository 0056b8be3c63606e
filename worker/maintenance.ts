import { Queue, Worker } from "bullmq";
import { cancelChannel, MAINTENANCE_QUEUE, SIGNALS_JOB, signalsJob, type CancelSignal } from "../domain/contracts.ts";
import { reap } from "../domain/data/reaper.ts";
import type { PrismaClient } from "../infra/db.ts";
import type { ReapPolicy } from "../domain/lifecycle/reap.ts";
import type { Logger } from "../infra/logger.ts";
import type { Redis } from "../infra/redis.ts";
import type { Counter } from "prom-client";
import { isConnectionError } from "../infra/deps.ts";

export { MAINTENANCE_QUEUE };

export interface MaintenanceDeps {
  prisma: PrismaClient;
  publish: (channel: string, message: string) => Promise<unknown>;
  log: Logger;
  queuePrefix: string;
  /** `actions_reaper_ended_jobs_total{reason}` (infra/metrics.ts), when metrics are on. */
  reaperEnded?: Counter<"reason">;
}

/**
 * The reaper runs in the worker tier as a BullMQ job scheduler: every worker process
 * declares the same schedule and BullMQ hands each tick to one of them; an advisory lock
 * in Postgres keeps two passes from overlapping if a tick runs long.
 */
export async function startMaintenance(
  deps: MaintenanceDeps,
  conns: { queue: Redis; worker: Redis },
  opts: { intervalMs: number; policy: ReapPolicy },
): Promise<{ close(): Promise<void> }> {
  const queue = new Queue(MAINTENANCE_QUEUE, { connection: conns.queue, prefix: deps.queuePrefix });
  // Without a listener BullMQ prints each connection error with console.error.
  queue.on("error", () => {});
  await queue.upsertJobScheduler("reaper", { every: opts.intervalMs }, {
    name: "reap",
    opts: { removeOnComplete: { count: 100 }, removeOnFail: { count: 100 } },
  });
  // Runner loss is judged only after the database has been reachable for a whole window.
  let healthySince = Date.now();
  const pass = async () => {
    try {
      return await reapAll(deps, { ...opts.policy, judgeRunnerLoss: Date.now() - healthySince >= opts.policy.heartbeatWindowMs });
    } catch (e) {
      healthySince = Date.now();
      throw e;
    }
  };
  const worker = new Worker(MAINTENANCE_QUEUE, (job) => (job.name === SIGNALS_JOB ? publishSignalsJob(deps, job.data) : pass()), {
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
export async function publishSignalsJob(deps: Pick<MaintenanceDeps, "publish" | "queuePrefix">, data: unknown): Promise<{ published: number }> {
  const parsed = signalsJob.safeParse(data);
  if (!parsed.success) return { published: 0 };
  for (const s of parsed.data.signals) await deps.publish(cancelChannel(deps.queuePrefix), JSON.stringify(s));
  return { published: parsed.data.signals.length };
}

export async function reapAll(deps: MaintenanceDeps, policy: ReapPolicy): Promise<{ ended: number }> {
  let ended = 0;
  for (;;) {
    const batch = await reap(deps.prisma, policy);
    if (batch === null || batch.length === 0) return { ended };
    ended += batch.length;
    for (const r of batch) {
      deps.log.warn({ job_id: Number(r.jobId), reason: r.reason, status: r.status }, "reaper ended job");
      deps.reaperEnded?.inc({ reason: r.reason });
      // A runner that is still alive (timed out, or deaf to the cancel) must stop its container.
      const signal: CancelSignal = {
        job_id: Number(r.jobId), run_id: Number(r.runId), runner_id: r.runnerId === null ? null : Number(r.runnerId), requested_at: new Date().toISOString(),
      };
      await deps.publish(cancelChannel(deps.queuePrefix), JSON.stringify(signal)).catch(() => {});
      for (const s of r.alsoSignal) {
        const also: CancelSignal = { job_id: Number(s.jobId), run_id: Number(s.runId), runner_id: s.runnerId === null ? null : Number(s.runnerId), requested_at: s.requestedAt.toISOString() };
        await deps.publish(cancelChannel(deps.queuePrefix), JSON.stringify(also)).catch(() => {});
      }
    }
    if (batch.length < 50) return { ended };
  }
}
