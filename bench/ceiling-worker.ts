import { Worker } from "bullmq";
import { parseConfig, workerEnv } from "../infra/config.ts";
import { QUEUE_NAME, type IntentResult } from "../domain/contracts.ts";
import { createLogger } from "../infra/logger.ts";
import { connectRedis } from "../infra/redis.ts";
import { onShutdown } from "../infra/shutdown.ts";
import { signResult } from "../infra/signing.ts";

// The queue ceiling's worker (bench/scenarios/ceilings.ts): the intent queue with the
// options worker/worker.ts gives it, and a processor that does nothing. The round trip
// add → process → completed event is the most the queue can carry on this machine.

const cfg = parseConfig(workerEnv);
const log = createLogger("worker", { level: cfg.LOG_LEVEL, pretty: cfg.LOG_PRETTY });
const blocking = connectRedis(cfg.REDIS_URL, "worker", "ceiling-worker-blocking");

/** Shaped like a cancel's answer, so the completed event carries as many bytes as a real one. */
const RESULT: IntentResult = {
  ok: true,
  body: { job_id: 1, run_id: 1, repo_id: 1, changed_jobs: 1, run_completed: false, run_conclusion: "" },
};

// Signed as worker/worker.ts signs results: the API believes no other (docs/security.md).
const worker = new Worker(QUEUE_NAME, async (job) => signResult(cfg.INTENT_SIGNING_KEY, String(job.id), RESULT), {
  connection: blocking,
  prefix: cfg.QUEUE_PREFIX,
  concurrency: cfg.WORKER_CONCURRENCY,
  lockDuration: cfg.WORKER_LOCK_DURATION_MS,
  stalledInterval: cfg.WORKER_STALLED_INTERVAL_MS,
  maxStalledCount: 5,
});
worker.on("error", (err) => log.warn({ err: err.message }, "worker connection error"));
await worker.waitUntilReady();
log.info({ concurrency: cfg.WORKER_CONCURRENCY, prefix: cfg.QUEUE_PREFIX }, "ceiling worker ready");

onShutdown(log, [
  ["close worker", () => worker.close()],
  ["close redis", async () => blocking.disconnect()],
]);
