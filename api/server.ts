import { apiEnv, parseConfig } from "../core/config.ts";
import { createLogger } from "../core/logger.ts";
import { createPrisma } from "../core/db.ts";
import { connectRedis } from "../core/redis.ts";
import { onShutdown } from "../core/shutdown.ts";
import { readinessCheck } from "../core/readiness.ts";
import { sha256 } from "../core/tokens.ts";
import { Queue } from "bullmq";
import { MAINTENANCE_QUEUE } from "../core/contracts.ts";
import { createApp } from "./app.ts";
import { serve } from "./listen.ts";
import { dashboardRouter } from "./dashboard.ts";
import { openapiRouter } from "./openapi/index.ts";
import { createApiMetrics, httpMetrics, instrumentIntents, metricsRouter } from "./metrics.ts";
import { IntentClient } from "./intents.ts";
import { createLimiter } from "./ratelimit.ts";
import { createPool, poolShares, poolSql } from "../core/sql.ts";

const cfg = parseConfig(apiEnv);
const log = createLogger("api", { level: cfg.LOG_LEVEL, pretty: cfg.LOG_PRETTY });
const shares = poolShares(cfg.DB_POOL_SIZE);
const prisma = createPrisma(cfg.DATABASE_URL, shares.orm);
const pool = createPool(cfg.DATABASE_URL, shares.sql);
const sql = poolSql(pool);
const producer = connectRedis(cfg.REDIS_URL, "producer", "api-producer");
const eventsConn = connectRedis(cfg.REDIS_URL, "subscriber", "api-events");
const intents = IntentClient.create(producer, eventsConn, cfg.QUEUE_PREFIX, cfg.RESULT_TIMEOUT_MS, cfg.INTENT_SIGNING_KEY);
await intents.ready();
const metrics = createApiMetrics({ prisma, queue: intents.queue });
instrumentIntents(intents, metrics);
const maintenanceQueue = new Queue(MAINTENANCE_QUEUE, { connection: producer, prefix: cfg.QUEUE_PREFIX });

const app = createApp({
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
  before: [httpMetrics(metrics)],
  routers: [metricsRouter(metrics.registry), openapiRouter(), dashboardRouter({ sql }, [intents.queue, maintenanceQueue])],
});
const { stopAccepting } = serve(app, { port: cfg.PORT, host: cfg.HOST }, log, "api");

onShutdown(log, [
  stopAccepting,
  ["close queue", async () => { await intents.close(); await maintenanceQueue.close(); }],
  ["close redis", async () => { producer.disconnect(); eventsConn.disconnect(); }],
  ["disconnect database", async () => { await prisma.$disconnect(); await pool.end(); }],
]);
