import { parseConfig, workerEnv } from "../infra/config.ts";
import { createLogger } from "../infra/logger.ts";
import { createPrisma } from "../infra/db.ts";
import { createPool, poolShares, poolSql } from "../infra/sql.ts";
import { connectRedis, probeUrl, publishSignal, useRedisCluster } from "../infra/redis.ts";
import { allShards, clusterPrefixProblem, servedShards, shardPrefix } from "../domain/queue-shards.ts";
import { ConfigError } from "../infra/config.ts";
import { onShutdown } from "../infra/shutdown.ts";
import { Queue } from "bullmq";
import { QUEUE_NAME } from "../domain/contracts.ts";
import { createWorkerMetrics, registerQueueMetrics } from "../infra/metrics.ts";
import { readinessCheck } from "../infra/readiness.ts";
import { createIntentWorkers } from "./worker.ts";
import { startMaintenance } from "./maintenance.ts";
import { startWorkerHttp } from "./http.ts";
import { failClearly, isConnectionError, requireDeps } from "../infra/deps.ts";
import { dependencyWatch, watchPostgres, watchRedis } from "../infra/dep-watch.ts";
import { eventsChannel } from "../domain/contracts.ts";
import { runnerSeenReader } from "../domain/runner-seen.ts";
import { dispatchLagSeconds } from "../domain/data/outbox.ts";
import { SecretBox } from "../infra/secretbox.ts";
import { deliveryQueue } from "../infra/delivery-queue.ts";
import { registerEventMetrics } from "../infra/event-metrics.ts";
import { startDispatcher } from "./events/dispatcher.ts";
import { createDeliveryWorker } from "./events/deliver.ts";

failClearly("worker");

const cfg = parseConfig(workerEnv);
const log = createLogger("worker", { level: cfg.LOG_LEVEL, pretty: cfg.LOG_PRETTY });
// Redis Cluster and queue shards (docs/scaling.md): settings, checked before anything connects.
const served = (() => {
  try {
    return servedShards(cfg.WORKER_SHARDS, cfg.QUEUE_SHARDS);
  } catch (e) {
    throw new ConfigError(`invalid configuration:\n  WORKER_SHARDS: ${(e as Error).message.replace(/^WORKER_SHARDS: /, "")}`);
  }
})();
if (cfg.REDIS_CLUSTER_NODES && clusterPrefixProblem(cfg.QUEUE_PREFIX)) throw new ConfigError(`invalid configuration:\n  QUEUE_PREFIX: ${clusterPrefixProblem(cfg.QUEUE_PREFIX)}`);
useRedisCluster(cfg.REDIS_CLUSTER_NODES);
// Both answer before anything connects, so "worker ready" means they did (docs/decisions.md, "Failing clearly").
await requireDeps({ postgres: cfg.DATABASE_URL, redis: probeUrl(cfg.REDIS_URL) });
const shares = poolShares(cfg.DB_POOL_SIZE);
const prisma = createPrisma(cfg.DATABASE_URL, shares.orm);
const pool = createPool(cfg.DATABASE_URL, shares.sql);
const eventsPool = createPool(cfg.DATABASE_URL, cfg.EVENTS_DB_POOL_SIZE);
const blocking = connectRedis(cfg.REDIS_URL, "worker", "worker-blocking");
const publisher = connectRedis(cfg.REDIS_URL, "publisher", "worker-publisher");
// Fails fast (no offline queue): readiness and the queue gauges must never hang a probe.
const probe = connectRedis(cfg.REDIS_URL, "producer", "worker-probe");
const redisWatch = dependencyWatch(log, "redis", cfg.REDIS_URL);
watchPostgres(pool, dependencyWatch(log, "postgres", cfg.DATABASE_URL));
for (const [c, source] of [[blocking, "worker-blocking"], [publisher, "worker-publisher"], [probe, "worker-probe"]] as const) watchRedis(c, redisWatch, source);
const metrics = createWorkerMetrics();
// Every shard, served here or not: the gauges describe the whole queue, as the API's do.
const intentQueues = allShards(cfg.QUEUE_SHARDS).map((n) => new Queue(QUEUE_NAME, { connection: probe, prefix: shardPrefix(cfg.QUEUE_PREFIX, n, cfg.QUEUE_SHARDS) }));
// Redis errors here surface in /readyz and actions_metrics_collector_up, not as console noise.
for (const q of intentQueues) q.on("error", () => {});
registerQueueMetrics(metrics.registry, intentQueues);
// Cancel signals: SPUBLISH on a cluster (infra/redis.ts).
const publishCancel = (c: string, m: string) => publishSignal(publisher, c, m);
const ready = readinessCheck(prisma, probe, log);
let started = false;
const http = await startWorkerHttp({
  port: cfg.WORKER_PORT,
  registry: metrics.registry,
  readiness: async () => (started ? ready() : "starting"),
  log,
});

const workers = createIntentWorkers(
  { prisma, pool, publish: publishCancel, queuePrefix: cfg.QUEUE_PREFIX, log, holdTxMs: cfg.FAULT_HOLD_TX_MS, rerunLimit: cfg.RERUN_LIMIT },
  {
    connection: blocking,
    prefix: cfg.QUEUE_PREFIX,
    shards: cfg.QUEUE_SHARDS,
    served,
    concurrency: cfg.WORKER_CONCURRENCY,
    lockDurationMs: cfg.WORKER_LOCK_DURATION_MS,
    stalledIntervalMs: cfg.WORKER_STALLED_INTERVAL_MS,
    intentKeys: [cfg.INTENT_SIGNING_KEY, ...(cfg.INTENT_SIGNING_KEY_PREVIOUS ? [cfg.INTENT_SIGNING_KEY_PREVIOUS] : [])],
    onRejected: (reason) => metrics.intentsRejected.inc({ reason }),
  },
  metrics.observeIntent,
);
for (const worker of workers) {
  worker.on("failed", (job, err) => log.error({ intent: job?.id, err: err.message }, "intent attempt failed"));
  // A lost Redis is reported once by the watch; per-retry errors would repeat it every 2 s.
  worker.on("error", (err) => {
    if (!isConnectionError(err)) log.warn({ err: err.message }, "worker connection error");
  });
}
await Promise.all(workers.map((w) => w.waitUntilReady()));
function watched(name: string) {
  const c = connectRedis(cfg.REDIS_URL, "worker", name);
  watchRedis(c, redisWatch, name);
  return c;
}
const maintenance = await startMaintenance(
  { prisma, publish: publishCancel, log, queuePrefix: cfg.QUEUE_PREFIX, reaperEnded: metrics.reaperEnded, seen: runnerSeenReader(publisher, cfg.QUEUE_PREFIX) },
  { queue: watched("maintenance-queue"), worker: watched("maintenance-worker") },
  {
    intervalMs: cfg.REAPER_INTERVAL_MS,
    policy: { heartbeatWindowMs: cfg.RUNNER_HEARTBEAT_WINDOW_MS, timeoutSlackMs: cfg.JOB_TIMEOUT_SLACK_MS, cancelDeadlineMs: cfg.CANCEL_DEADLINE_MS },
  },
);
// Events out (docs/events.md): the outbox's dispatcher and the webhook deliveries.
const deliveries = deliveryQueue(watched("delivery-queue"), cfg.QUEUE_PREFIX, { attempts: cfg.WEBHOOK_MAX_ATTEMPTS, backoffMs: cfg.WEBHOOK_BACKOFF_MS });
const eventMetrics = registerEventMetrics(metrics.registry, { lagSeconds: () => dispatchLagSeconds(poolSql(eventsPool)), deliveryQueue: deliveries.queue });
const dispatcher = startDispatcher({
  pool: eventsPool, log, origin: cfg.PUBLIC_URL, pollMs: cfg.EVENTS_POLL_MS, retentionMs: cfg.EVENTS_RETENTION_HOURS * 3600_000,
  enqueue: deliveries.enqueue, announce: (lastId) => publisher.publish(eventsChannel(cfg.QUEUE_PREFIX), lastId.toString()), onPass: eventMetrics.onPass,
});
const deliveryBlocking = watched("delivery-worker");
const deliveryWorker = createDeliveryWorker(
  {
    pool: eventsPool, log, secrets: new SecretBox(cfg.INTENT_SIGNING_KEY, cfg.INTENT_SIGNING_KEY_PREVIOUS), enqueue: deliveries.enqueue,
    maxAttempts: cfg.WEBHOOK_MAX_ATTEMPTS, timeoutMs: cfg.WEBHOOK_TIMEOUT_MS, allowPrivate: cfg.WEBHOOK_ALLOW_PRIVATE, onAttempt: eventMetrics.onAttempt,
  },
  {
    connection: deliveryBlocking, prefix: cfg.QUEUE_PREFIX, concurrency: cfg.WEBHOOK_CONCURRENCY, perHook: cfg.WEBHOOK_HOOK_CONCURRENCY,
    lockDurationMs: cfg.WORKER_LOCK_DURATION_MS, stalledIntervalMs: cfg.WORKER_STALLED_INTERVAL_MS,
  },
);
started = true;
log.info({ concurrency: cfg.WORKER_CONCURRENCY, prefix: cfg.QUEUE_PREFIX, shards: cfg.QUEUE_SHARDS, served, cluster: cfg.REDIS_CLUSTER_NODES !== undefined, http_port: http.port }, "worker ready");

// Each phase is bounded (infra/shutdown.ts): with Redis gone, worker.close() waits on a dead
// connection; an intent it could not finish stays in the queue and is retried elsewhere.
onShutdown(log, [
  ["stop reporting ready", async () => http.stopReporting(), 1_000],
  // Finish the intents in hand; new ones stay in the queue for the next worker.
  // With Redis gone nothing in hand can be acknowledged: do not wait for it (BullMQ's force close).
  ["drain in-flight intents", () => Promise.all(workers.map((w) => w.close(blocking.status !== "ready"))), 10_000],
  ["stop the reaper", () => maintenance.close(), 3_000],
  // A pass in hand commits or rolls back; its events are dispatched by the next worker otherwise.
  ["stop the event dispatcher", () => dispatcher.close(), 3_000],
  // A delivery in flight past this is cut; it stays queued or retrying and is sent again.
  ["finish webhook deliveries in flight", () => deliveryWorker.close(deliveryBlocking.status !== "ready"), cfg.WEBHOOK_TIMEOUT_MS + 1_000],
  ["close http server", () => http.close(), 2_000],
  ["close redis", async () => { await Promise.all(intentQueues.map((q) => q.close())); await deliveries.close(); publisher.disconnect(); blocking.disconnect(); probe.disconnect(); }, 2_000],
  ["disconnect database", async () => { await prisma.$disconnect(); await pool.end(); await eventsPool.end(); }, 5_000],
]);
