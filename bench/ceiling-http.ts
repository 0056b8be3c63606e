import { Router } from "express";
import { apiEnv, parseConfig } from "../infra/config.ts";
import { createLogger } from "../infra/logger.ts";
import { onShutdown } from "../infra/shutdown.ts";
import { createApp } from "../api/app.ts";
import { serve } from "../api/listen.ts";
import { createApiMetrics, httpMetrics, metricsRouter } from "../api/metrics.ts";

// The HTTP ceiling (bench/scenarios/ceilings.ts): the API's own Express app, with the
// middleware api/server.ts installs (request id and access log, metrics timing, JSON body
// parser, 404 and error handler), plus one route that answers a constant body. What it
// serves per second is the most any API route can serve on this machine. Its own process,
// so the load generator does not share its event loop, as with the real API.

const cfg = parseConfig(apiEnv);
const log = createLogger("api", { level: cfg.LOG_LEVEL, pretty: cfg.LOG_PRETTY });

/**
 * The constant route never reaches the database, the queue or the rate limiters: the app
 * only needs them to build the real routers it passes on the way. A stub that throws
 * keeps the measurement honest: if the constant route ever touched one, it would fail
 * loudly instead of measuring a different path. Typed `never` so a stub fits whatever
 * type AppDeps gives that dependency, and the list can name one AppDeps does not have
 * yet (`sql`) without breaking the build either way.
 */
function untouched(what: string): never {
  return new Proxy({}, {
    get(_t, prop) {
      throw new Error(`the HTTP ceiling touched ${what}.${String(prop)}`);
    },
  }) as never;
}

const unreachable = {
  prisma: untouched("prisma"),
  sql: untouched("sql"),
  intents: untouched("intents"),
  tokenLimiter: untouched("tokenLimiter"),
  ipLimiter: untouched("ipLimiter"),
};

const ceiling = Router();
ceiling.post("/ceiling", (_req, res) => {
  res.status(202).json({ ok: true });
});

// No scrape-time gauges (they would read Postgres and Redis): nothing scrapes this process,
// and the per-request cost, the HTTP duration histogram, is the same without them.
const metrics = createApiMetrics();
// Mounted where api/server.ts mounts its extra routers, after every API router, so a
// request also pays for the route matching the real routes go through.
const app = createApp({
  ...unreachable,
  log,
  readiness: async () => null,
  registrationTokenHash: null,
  trustProxy: cfg.TRUST_PROXY,
  before: [httpMetrics(metrics)],
  routers: [ceiling, metricsRouter(metrics.registry)],
});
const { stopAccepting } = serve(app, { port: cfg.PORT, host: cfg.HOST }, log, "ceiling api");

onShutdown(log, [stopAccepting]);
