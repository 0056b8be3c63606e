import { parseConfig, workerEnv } from "../core/config.ts";
import { createLogger } from "../core/logger.ts";
import { createPrisma } from "../core/db.ts";
import { connectRedis } from "../core/redis.ts";
import { onShutdown } from "../core/shutdown.ts";
import { createIntentWorker } from "./worker.ts";
import { startMaintenance } from "./maintenance.ts";

const cfg = parseConfig(workerEnv);
const log = createLogger("worker", { level: cfg.LOG_LEVEL, pretty: cfg.LOG_PRETTY });
const prisma = createPrisma(cfg.DATABASE_URL, cfg.DB_POOL_SIZE);
const blocking = connectRedis(cfg.REDIS_URL, "worker", "worker-blocking");
const publisher = connectRedis(cfg.REDIS_URL, "publisher", "worker-publisher");

const worker = createIntentWorker(
  { prisma, publish: (c, m) => publisher.publish(c, m), queuePrefix: cfg.QUEUE_PREFIX, log, holdTxMs: cfg.FAULT_HOLD_TX_MS },
  {
    connection: blocking,
    prefix: cfg.QUEUE_PREFIX,
    concurrency: cfg.WORKER_CONCURRENCY,
    lockDurationMs: cfg.WORKER_LOCK_DURATION_MS,
    stalledIntervalMs: cfg.WORKER_STALLED_INTERVAL_MS,
  },
);
worker.on("failed", (job, err) => log.error({ intent: job?.id, err: err.message }, "intent attempt failed"));
worker.on("error", (err) => log.warn({ err: err.message }, "worker connection error"));
await worker.waitUntilReady();
const maintenance = await startMaintenance(
  { prisma, publish: (c, m) => publisher.publish(c, m), log, queuePrefix: cfg.QUEUE_PREFIX },
  { queue: connectRedis(cfg.REDIS_URL, "worker", "maintenance-queue"), worker: connectRedis(cfg.REDIS_URL, "worker", "maintenance-worker") },
  {
    intervalMs: cfg.REAPER_INTERVAL_MS,
    policy: { heartbeatWindowMs: cfg.RUNNER_HEARTBEAT_WINDOW_MS, timeoutSlackMs: cfg.JOB_TIMEOUT_SLACK_MS, cancelDeadlineMs: cfg.CANCEL_DEADLINE_MS },
  },
);
log.info({ concurrency: cfg.WORKER_CONCURRENCY, prefix: cfg.QUEUE_PREFIX }, "worker ready");

onShutdown(log, [
  // Finish the intents in hand; new ones stay in the queue for the next worker.
  ["drain in-flight intents", () => worker.close()],
  ["stop the reaper", () => maintenance.close()],
  ["close redis", async () => { publisher.disconnect(); blocking.disconnect(); }],
  ["disconnect database", () => prisma.$disconnect()],
]);
