import type { Queue } from "bullmq";
import type { Counter } from "prom-client";
import { cancelChannel, type CancelSignal } from "../domain/contracts.ts";
import { reap, type SeenReader } from "../domain/data/reaper.ts";
import type { ReapPolicy } from "../domain/lifecycle/reap.ts";
import type { PrismaClient } from "../infra/db.ts";
import type { Logger } from "../infra/logger.ts";

// The reaper (docs/lifecycle.md#the-reaper): scheduled here, its candidates and writes in
// domain/data/reaper.ts, its decision in decideReap (domain/lifecycle/reap.ts). Its ticks
// run on the maintenance queue's worker (worker/maintenance.ts).

export interface ReaperDeps {
  prisma: PrismaClient;
  publish: (channel: string, message: string) => Promise<unknown>;
  log: Logger;
  queuePrefix: string;
  /** `actions_reaper_ended_jobs_total{reason}` (infra/metrics.ts), when metrics are on. */
  reaperEnded?: Counter<"reason">;
  /** Runners' last-seen in Redis (RUNNER_SEEN_WRITE_MS): read beside the row's heartbeat. */
  seen?: SeenReader;
}

export interface ReaperOptions {
  intervalMs: number;
  policy: ReapPolicy;
}

/**
 * The reaper runs in the worker tier as a BullMQ job scheduler: every worker process
 * declares the same schedule and BullMQ hands each tick to one of them; an advisory lock
 * in Postgres keeps two passes from overlapping if a tick runs long. Returns the tick.
 */
export async function scheduleReaper(queue: Queue, deps: ReaperDeps, opts: ReaperOptions): Promise<() => Promise<{ ended: number }>> {
  await queue.upsertJobScheduler("reaper", { every: opts.intervalMs }, {
    name: "reap",
    opts: { removeOnComplete: { count: 100 }, removeOnFail: { count: 100 } },
  });
  // Runner loss is judged only after the database has been reachable for a whole window.
  let healthySince = Date.now();
  return async () => {
    try {
      return await reapAll(deps, { ...opts.policy, judgeRunnerLoss: Date.now() - healthySince >= opts.policy.heartbeatWindowMs });
    } catch (e) {
      healthySince = Date.now();
      throw e;
    }
  };
}

const signalOf = (s: { jobId: bigint; runId: bigint; runnerId: bigint | null }, requestedAt: Date): CancelSignal => ({
  job_id: Number(s.jobId), run_id: Number(s.runId), runner_id: s.runnerId === null ? null : Number(s.runnerId), requested_at: requestedAt.toISOString(),
});

/** Batches until one comes back short of the batch size (or another pass holds the lock). */
export async function reapAll(deps: ReaperDeps, policy: ReapPolicy): Promise<{ ended: number }> {
  let ended = 0;
  for (;;) {
    const batch = await reap(deps.prisma, policy, new Date(), 50, deps.seen);
    if (batch === null || batch.length === 0) return { ended };
    ended += batch.length;
    for (const r of batch) {
      deps.log.warn({ job_id: Number(r.jobId), reason: r.reason, status: r.status }, "reaper ended job");
      deps.reaperEnded?.inc({ reason: r.reason });
      // A runner that is still alive (timed out, or deaf to the cancel) must stop its container.
      // The job has already ended in Postgres; an unsent signal only leaves a container
      // running until its runner next asks (cancel-check), which learns the job has ended.
      const send = (s: CancelSignal) =>
        deps.publish(cancelChannel(deps.queuePrefix), JSON.stringify(s)).catch((e: unknown) =>
          deps.log.warn({ job_id: s.job_id, err: String(e) }, "reaper could not publish a cancel signal"));
      await send(signalOf(r, new Date()));
      for (const s of r.alsoSignal) await send(signalOf(s, s.requestedAt));
    }
    if (batch.length < 50) return { ended };
  }
}
