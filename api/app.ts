import { randomBytes, randomUUID } from "node:crypto";
import express, { type Express, type RequestHandler, type Router } from "express";
import type { PrismaClient } from "../infra/db.ts";
import type { PoolSql } from "../infra/sql.ts";
import type { Logger } from "../infra/logger.ts";
import { errorMiddleware, notFound } from "./errors.ts";
import type { IntentClient } from "./intents.ts";
import type { Limiter } from "./ratelimit.ts";
import { healthRoutes } from "./routes/health.ts";
import { lifecycleRoutes } from "./routes/lifecycle.ts";
import { rerunRoutes } from "./routes/reruns.ts";
import { runRoutes } from "./routes/runs.ts";
import { bulkRoutes } from "./routes/bulk.ts";
import { readRoutes } from "./routes/read.ts";
import { listRoutes } from "./routes/lists.ts";
import { githubRoutes } from "./v3/index.ts";
import { runnerRoutes, type RunnerDeps } from "./routes/runner.ts";
import { JSON_TYPES, jsonBodiesOnly } from "./body.ts";
import { apiEnv } from "../infra/config.ts";
import { requestLevel } from "./request-log.ts";
import { hookRoutes, type HookRouteDeps } from "./routes/hooks.ts";
import type { EventHub } from "./events/hub.ts";
import type { RunnerPolling } from "./runner-polling.ts";
import { eventRoutes, type EventStreamOptions } from "./events/routes.ts";

export interface AppDeps {
  prisma: PrismaClient;
  sql: PoolSql;
  intents: IntentClient;
  tokenLimiter: Limiter;
  ipLimiter: Limiter;
  log: Logger;
  /** Null when the service can do its job; otherwise why not. */
  readiness: () => Promise<string | null>;
  registrationTokenHash?: string | null;
  trustProxy?: boolean;
  /** LOG_MAX_BYTES_PER_JOB: a job's stored log stops growing here (413); the config's default when unset. */
  logMaxBytesPerJob?: number;
  /** Hands fail-fast's cancel signals to a worker to publish (RunnerDeps.announceCancels). */
  announceCancels?: RunnerDeps["announceCancels"];
  /** LOG_STREAM_STALL_MS: a log stream whose client reads nothing for this long is cut (30 s when unset). */
  logStallMs?: number;
  /** RUNNER_HEARTBEAT_WINDOW_MS: a self-registered runner silent this long may be registered again without its token (60 s when unset). */
  runnerHeartbeatWindowMs?: number;
  /** Runner last-seen in Redis and long-poll heartbeats (RunnerDeps.polling). */
  runnerPolling?: RunnerPolling;
  /** PUBLIC_URL: the origin /api/v3 answers point at; else the one the client reached. */
  publicUrl?: string | null;
  /** Signs /api/v3 log download links (api/v3/log-links.ts); a random key per process when unset. */
  logLinkKey?: Buffer;
  /** The process's event hub: the live event streams (api/events) are served when it is given. */
  events?: EventHub;
  /** Their keep-alive, back-pressure and per-user limits (api/events/routes.ts; defaults when unset). */
  eventStreams?: EventStreamOptions;
  /** Webhooks (api/routes/hooks.ts): served when given. */
  hooks?: Pick<HookRouteDeps, "secrets" | "enqueueDeliveries" | "allowPrivate">;
  /** Middleware that sees every request first (metrics, for instance). */
  before?: RequestHandler[];
  /** Further routers (docs, dashboards, metrics), mounted before the 404. */
  routers?: Router[];
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,200}$/;

/** One id per request, accepted from the caller or made here, returned and logged (at requestLevel's level). */
export function requestContext(log: Logger): RequestHandler {
  return (req, res, next) => {
    const given = req.get("X-Request-Id");
    const id = given !== undefined && REQUEST_ID.test(given) ? given : randomUUID();
    const started = performance.now();
    res.locals.requestId = id;
    res.set({ "X-Request-Id": id, "Cache-Control": "no-store" });
    res.on("finish", () => {
      const facts = { method: req.method, path: req.path, status: res.statusCode };
      log[requestLevel(facts)]({ request_id: id, ...facts, ms: +(performance.now() - started).toFixed(2) }, "request");
    });
    next();
  };
}

export function createApp(deps: AppDeps): Express {
  const app = express();
  app.disable("x-powered-by");
  app.set("trust proxy", deps.trustProxy ?? false);
  app.set("etag", false);
  app.use(requestContext(deps.log));
  for (const mw of deps.before ?? []) app.use(mw);
  app.use(jsonBodiesOnly());
  app.use(express.json({ limit: "256kb", type: JSON_TYPES }));
  app.use(healthRoutes(deps.readiness));
  app.use(runnerRoutes({
    prisma: deps.prisma, sql: deps.sql, registrationTokenHash: deps.registrationTokenHash ?? null,
    logMaxBytesPerJob: deps.logMaxBytesPerJob ?? apiEnv.shape.LOG_MAX_BYTES_PER_JOB.parse(undefined),
    ...(deps.announceCancels ? { announceCancels: deps.announceCancels } : {}),
    heartbeatWindowMs: deps.runnerHeartbeatWindowMs, log: deps.log,
    ...(deps.runnerPolling ? { polling: deps.runnerPolling } : {}),
  }));
  app.use(lifecycleRoutes(deps));
  app.use(rerunRoutes(deps));
  app.use(runRoutes(deps));
  app.use(bulkRoutes(deps));
  if (deps.hooks) app.use(hookRoutes({ ...deps, ...deps.hooks }));
  app.use(readRoutes(deps));
  app.use(listRoutes(deps));
  if (deps.events) app.use(eventRoutes({ ...deps, hub: deps.events, options: deps.eventStreams }));
  app.use(githubRoutes({ ...deps, logLinkKey: deps.logLinkKey ?? randomBytes(32) }));
  for (const r of deps.routers ?? []) app.use(r);
  app.use(() => {
    throw notFound("route");
  });
  app.use(errorMiddleware(deps.log));
  return app;
}
