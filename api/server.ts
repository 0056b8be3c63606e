import { apiEnv, parseConfig, readTls } from "../infra/config.ts";
import { createLogger } from "../infra/logger.ts";
import { createPrisma } from "../infra/db.ts";
import { connectRedis, probeUrl, useRedisCluster } from "../infra/redis.ts";
import { clusterPrefixProblem } from "../domain/queue-shards.ts";
import { ConfigError } from "../infra/config.ts";
import { onShutdown } from "../infra/shutdown.ts";
import { readinessCheck } from "../infra/readiness.ts";
import { sha256 } from "../domain/tokens.ts";
import { Queue } from "bullmq";
import { MAINTENANCE_QUEUE, SIGNALS_JOB } from "../domain/contracts.ts";
import { createApp } from "./app.ts";
import { RunnerWaiters, runnerPolling } from "./runner-polling.ts";
import { SecretBox } from "../infra/secretbox.ts";
import { deliveryQueue } from "../infra/delivery-queue.ts";
import { EventHub } from "./events/hub.ts";
import { logLinkKey } from "./v3/log-links.ts";
import { serve } from "./listen.ts";
import { dashboardRouter } from "./dashboard.ts";
import { openapiRouter } from "./openapi/index.ts";
import { createApiMetrics, httpMetrics, instrumentIntents, metricsRouter } from "./metrics.ts";
import { IntentClient } from "./intents.ts";
import { createLimiter } from "./ratelimit.ts";
import { createPool, poolShares, poolSql } from "../infra/sql.ts";
import { failClearly, requireDeps } from "../infra/deps.ts";
import { dependencyWatch, watchPostgres, watchRedis } from "../infra/dep-watch.ts";

failClearly("api");

const cfg = parseConfig(apiEnv);
// Before the dependencies: a bad certificate is a setting, reported as one.
const tls = readTls(cfg);
const log = createLogger("api", { level: cfg.LOG_LEVEL, pretty: cfg.LOG_PRETTY });
// Redis Cluster (docs/scaling.md): every connection below goes to it when REDIS_CLUSTER_NODES is set.
if (cfg.REDIS_CLUSTER_NODES && clusterPrefixProblem(cfg.QUEUE_PREFIX)) throw new ConfigError(`invalid configuration:\n  QUEUE_PREFIX: ${clusterPrefixProblem(cfg.QUEUE_PREFIX)}`);
useRedisCluster(cfg.REDIS_CLUSTER_NODES);
// Both answer before anything connects, so "api listening" means they did (docs/decisions.md, "Failing clearly").
await requireDeps({ postgres: cfg.DATABASE_URL, redis: probeUrl(cfg.REDIS_URL) });
const shares = poolShares(cfg.DB_POOL_SIZE);
const prisma = createPrisma(cfg.DATABASE_URL, shares.orm);
const pool = createPool(cfg.DATABASE_URL, shares.sql);
const sql = poolSql(pool);
const producer = connectRedis(cfg.REDIS_URL, "producer", "api-producer");
const eventsConn = connectRedis(cfg.REDIS_URL, "subscriber", "api-events");
const redisWatch = dependencyWatch(log, "redis", cfg.REDIS_URL);
watchPostgres(pool, dependencyWatch(log, "postgres", cfg.DATABASE_URL));
watchRedis(producer, redisWatch, "api-producer");
watchRedis(eventsConn, redisWatch, "api-events");
const intents = IntentClient.create(producer, eventsConn, cfg.QUEUE_PREFIX, cfg.RESULT_TIMEOUT_MS, cfg.INTENT_SIGNING_KEY, cfg.INTENT_SIGNING_KEY_PREVIOUS, cfg.QUEUE_SHARDS);
await intents.ready();
const metrics = createApiMetrics({ prisma, queue: intents.queues });
instrumentIntents(intents, metrics);
const maintenanceQueue = new Queue(MAINTENANCE_QUEUE, { connection: producer, prefix: cfg.QUEUE_PREFIX });
// Without a listener BullMQ prints each error with console.error; the watch reports them once.
maintenanceQueue.on("error", () => {});

// The dispatcher's hints (api/events/hub.ts); a connection of its own, as it stays in subscribe mode.
const hintsConn = connectRedis(cfg.REDIS_URL, "subscriber", "api-event-hints");
watchRedis(hintsConn, redisWatch, "api-event-hints");
const events = await EventHub.start({ sql, log, redis: hintsConn, channel: `${cfg.QUEUE_PREFIX}:events` });
// Long-polling runners wake on the same hints (api/runner-polling.ts): one subscription for all of them.
const runnerWaiters = new RunnerWaiters({ sql, log, subscriber: hintsConn, channel: `${cfg.QUEUE_PREFIX}:events` });
const polling = runnerPolling({ store: producer, prefix: cfg.QUEUE_PREFIX, seenWriteMs: cfg.RUNNER_SEEN_WRITE_MS, heartbeatWindowMs: cfg.RUNNER_HEARTBEAT_WINDOW_MS, waiters: runnerWaiters, log });

// Redeliveries a hook admin asks for (api/routes/hooks.ts); the workers send them.
const deliveries = deliveryQueue(producer, cfg.QUEUE_PREFIX, { attempts: cfg.WEBHOOK_MAX_ATTEMPTS, backoffMs: cfg.WEBHOOK_BACKOFF_MS });
const app = createApp({
  hooks: { secrets: new SecretBox(cfg.INTENT_SIGNING_KEY, cfg.INTENT_SIGNING_KEY_PREVIOUS), enqueueDeliveries: deliveries.enqueue, allowPrivate: cfg.WEBHOOK_ALLOW_PRIVATE },
  prisma,
  sql,
  intents,
  tokenLimiter: createLimiter(producer, `${cfg.QUEUE_PREFIX}:rl:token`, cfg.RATE_LIMIT_PER_HOUR),
  ipLimiter: createLimiter(producer, `${cfg.QUEUE_PREFIX}:rl:ip`, cfg.UNAUTH_RATE_LIMIT_PER_HOUR),
  log,
  readiness: readinessCheck(prisma, producer, log),
  registrationTokenHash: cfg.RUNNER_REGISTRATION_TOKEN ? sha256(cfg.RUNNER_REGISTRATION_TOKEN) : null,
  trustProxy: cfg.TRUST_PROXY,
  logMaxBytesPerJob: cfg.LOG_MAX_BYTES_PER_JOB,
  logStallMs: cfg.LOG_STREAM_STALL_MS,
  runnerHeartbeatWindowMs: cfg.RUNNER_HEARTBEAT_WINDOW_MS,
  runnerPolling: polling,
  publicUrl: cfg.PUBLIC_URL ?? null,
  events,
  logLinkKey: logLinkKey(cfg.INTENT_SIGNING_KEY),
  // fail-fast's cancel signals: a worker publishes them (the API's Redis user cannot).
  announceCancels: (signals) => maintenanceQueue.add(SIGNALS_JOB, { signals }, { removeOnComplete: { count: 100 }, removeOnFail: { count: 100 } }),
  before: [httpMetrics(metrics)],
  routers: [metricsRouter(metrics.registry), openapiRouter(), dashboardRouter({ sql, origin: { publicOrigin: cfg.PUBLIC_URL ?? null, trustProxy: cfg.TRUST_PROXY } }, [...intents.queues, maintenanceQueue, deliveries.queue])],
});
const { stopAccepting } = serve(app, { port: cfg.PORT, host: cfg.HOST, tls }, log, "api");

// Each phase is bounded (infra/shutdown.ts): a dead Redis or database must not hold the stop.
onShutdown(log, [
  // Open event streams end (clients resume elsewhere with Last-Event-ID) once nothing new can connect, or the close would wait on them.
  [stopAccepting[0], async () => { const closed = stopAccepting[1](); runnerWaiters.close(); await events.stop(); await closed; }, 10_000],
  ["close queue", async () => { await intents.close(); await maintenanceQueue.close(); await deliveries.close(); }, 3_000],
  ["close redis", async () => { producer.disconnect(); eventsConn.disconnect(); hintsConn.disconnect(); }, 2_000],
  ["disconnect database", async () => { await prisma.$disconnect(); await pool.end(); }, 5_000],
]);
