import type { AddressInfo } from "node:net";
import type { Server } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import { inject } from "vitest";
import type { Worker } from "bullmq";
import type { RequestHandler, Router } from "express";
import { createApp, type AppDeps } from "../../api/app.ts";
import { IntentClient } from "../../api/intents.ts";
import { createLimiter } from "../../api/ratelimit.ts";
import { createLogger } from "../../infra/logger.ts";
import { connectRedis, type Redis } from "../../infra/redis.ts";
import { createIntentWorker } from "../../worker/worker.ts";
import { readinessCheck } from "../../infra/readiness.ts";
import { sha256 } from "../../domain/tokens.ts";
import type { TestDb } from "./db.ts";
import { poolSql, type PoolSql } from "../../infra/sql.ts";
import { EventHub } from "../../api/events/hub.ts";
import { SecretBox } from "../../infra/secretbox.ts";
import { deliveryQueue } from "../../infra/delivery-queue.ts";

export { spawnService, type Service } from "../../scripts/service.ts";

/** The key in-process APIs sign with and workers verify with; spawned services get the same from the environment (vitest.config.ts). */
export const SIGNING_KEY = process.env.INTENT_SIGNING_KEY ?? "test-intent-signing-key-0123456789abcdef";

export interface Stack {
  url: string;
  /** With StackOptions.tls: the same app over HTTPS (for clients such as `gh` that speak only HTTPS). */
  tlsUrl?: string;
  prefix: string;
  redisUrl: string;
  /** A plain Redis client for assertions (subscribe with `duplicate()`). */
  redis: Redis;
  startWorker(opts?: { holdTxMs?: number }): Promise<Worker>;
  stop(): Promise<void>;
}

export interface StackOptions {
  withWorker?: boolean;
  resultTimeoutMs?: number;
  ratePerHour?: number;
  unauthPerHour?: number;
  /** Enables POST /api/v1/runners/register with this secret. */
  registrationToken?: string;
  /** Middleware that sees every request first (AppDeps.before). */
  before?: RequestHandler[];
  /** Further routers for the app (AppDeps.routers). */
  routers?: Router[];
  /** Wraps the API's intent client (metrics instrumentation, for instance). */
  wrapIntents?: (intents: IntentClient) => IntentClient;
  /** The worker's RERUN_LIMIT (default 50). */
  rerunLimit?: number;
  /** The API's LOG_MAX_BYTES_PER_JOB (default 16 MiB). */
  logMaxBytesPerJob?: number;
  /** The API's LOG_STREAM_STALL_MS (default 30 s). */
  logStallMs?: number;
  /** Where the API hands fail-fast's cancel signals (AppDeps.announceCancels); unset: nowhere. */
  announceCancels?: AppDeps["announceCancels"];
  /** Wraps the API's plain SQL (counting the statements a request runs, for instance). */
  wrapSql?: (sql: PoolSql) => PoolSql;
  /** The webhook routes' WEBHOOK_ALLOW_PRIVATE (default false); redeliveries are queued on the stack's prefix. */
  allowPrivateHooks?: boolean;
  /** Serve the live event streams (AppDeps.events), with a hub of the stack's own that reads on its timer only (every 100 ms unless given). */
  events?: { pollMs?: number };
  /** Runner last-seen in Redis and long-poll heartbeats (AppDeps.runnerPolling), made for the stack's queue prefix. */
  runnerPolling?: (prefix: string) => NonNullable<AppDeps["runnerPolling"]>;
  /** Also serve the app over HTTPS with this certificate and key (PEM), beside plain HTTP. */
  tls?: { cert: string | Buffer; key: string | Buffer };
}

/**
 * API and (optionally) a worker in this process, on the test file's own database and a
 * queue prefix of its own. Tests that need real separate processes use spawnService.
 */
export async function startStack(db: TestDb, opts: StackOptions = {}): Promise<Stack> {
  const redisUrl = inject("redisUrl");
  const prefix = `t${process.pid}${Math.random().toString(36).slice(2, 8)}`;
  const log = createLogger("test", { level: process.env.TEST_LOG_LEVEL ?? "silent", pretty: false });
  const producer = connectRedis(redisUrl, "producer");
  const eventsConn = connectRedis(redisUrl, "subscriber");
  const redis = connectRedis(redisUrl, "worker", "test-assert");
  const created = IntentClient.create(producer, eventsConn, prefix, opts.resultTimeoutMs ?? 10_000, SIGNING_KEY);
  const intents = opts.wrapIntents ? opts.wrapIntents(created) : created;
  await intents.ready();
  const deliveries = deliveryQueue(producer, prefix, { attempts: 3, backoffMs: 50 });
  const hub = opts.events ? await EventHub.start({ sql: poolSql(db.pool), log, channel: `${prefix}:events`, pollMs: opts.events.pollMs ?? 100 }) : undefined;
  const app = createApp({
    ...(hub ? { events: hub } : {}),
    prisma: db.prisma,
    sql: opts.wrapSql ? opts.wrapSql(poolSql(db.pool)) : poolSql(db.pool),
    intents,
    tokenLimiter: createLimiter(producer, `${prefix}:rl:token`, opts.ratePerHour ?? 100_000),
    ipLimiter: createLimiter(producer, `${prefix}:rl:ip`, opts.unauthPerHour ?? 100_000),
    log,
    readiness: readinessCheck(db.prisma, producer),
    registrationTokenHash: opts.registrationToken ? sha256(opts.registrationToken) : null,
    logMaxBytesPerJob: opts.logMaxBytesPerJob,
    logStallMs: opts.logStallMs,
    ...(opts.announceCancels ? { announceCancels: opts.announceCancels } : {}),
    ...(opts.runnerPolling ? { runnerPolling: opts.runnerPolling(prefix) } : {}),
    before: opts.before,
    routers: opts.routers,
    hooks: { secrets: new SecretBox(SIGNING_KEY), enqueueDeliveries: (ids) => deliveries.enqueue(ids), allowPrivate: opts.allowPrivateHooks ?? false },
  });
  const server: Server = await new Promise((resolve) => {
    const s = app.listen(0, "127.0.0.1", () => resolve(s));
  });
  const tlsServer = opts.tls ? await new Promise<Server>((resolve) => {
    const s = createHttpsServer({ cert: opts.tls!.cert, key: opts.tls!.key }, app).listen(0, "127.0.0.1", () => resolve(s));
  }) : undefined;
  const workers: { worker: Worker; conns: Redis[] }[] = [];
  const startWorker = async (w: { holdTxMs?: number } = {}) => {
    const blocking = connectRedis(redisUrl, "worker");
    const publisher = connectRedis(redisUrl, "publisher");
    const worker = createIntentWorker(
      { prisma: db.prisma, pool: db.pool, publish: (c, m) => publisher.publish(c, m), queuePrefix: prefix, log, holdTxMs: w.holdTxMs ?? 0, rerunLimit: opts.rerunLimit },
      { connection: blocking, prefix, concurrency: 8, lockDurationMs: 30_000, stalledIntervalMs: 15_000, intentKeys: [SIGNING_KEY] },
    );
    await worker.waitUntilReady();
    workers.push({ worker, conns: [blocking, publisher] });
    return worker;
  };
  if (opts.withWorker ?? true) await startWorker();
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    ...(tlsServer ? { tlsUrl: `https://127.0.0.1:${(tlsServer.address() as AddressInfo).port}` } : {}),
    prefix,
    redisUrl,
    redis,
    startWorker,
    async stop() {
      await hub?.stop();
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
      if (tlsServer) {
        tlsServer.closeAllConnections();
        await new Promise((r) => tlsServer.close(r));
      }
      for (const w of workers) {
        await w.worker.close();
        for (const c of w.conns) c.disconnect();
      }
      await intents.close();
      await deliveries.close();
      // Each file's queue keys go with it.
      const keys = await redis.keys(`${prefix}:*`);
      if (keys.length > 0) await redis.del(...keys);
      producer.disconnect();
      eventsConn.disconnect();
      redis.disconnect();
    },
  };
}

