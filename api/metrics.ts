import { Router, type Request, type RequestHandler, type Response } from "express";
import type { Queue } from "bullmq";
import { Counter, Histogram, type Registry } from "prom-client";
import type { IntentName } from "../domain/contracts.ts";
import type { ReportApplied } from "../domain/data/jobs.ts";
import type { PrismaClient } from "../infra/db.ts";
import { createRegistry, exposition, registerQueueMetrics, registerRunnerMetrics } from "../infra/metrics.ts";
import type { IntentClient, Outcome } from "./intents.ts";

// The API's metrics. Wiring (api/server.ts):
//   const metrics = createApiMetrics({ prisma, queue: intents.queue });
//   instrumentIntents(intents, metrics);
//   createApp({ …, before: [httpMetrics(metrics)], routers: [metricsRouter(metrics.registry), …] });
// and in api/routes/runner.ts, after a job status report is applied:
//   observeCancelPropagation(res, out);

export interface ApiMetrics {
  registry: Registry;
  httpDuration: Histogram<"method" | "route" | "status">;
  intents: Counter<"kind" | "outcome">;
  /** Results read from Redis for a pending intent that did not verify (api/intents.ts). */
  resultsRejected: Counter<"reason">;
  cancelPropagation: Histogram;
}

export const HTTP_DURATION_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
/** From the cancel request to the runner's terminal report: a push is milliseconds, the poll fallback seconds. */
export const CANCEL_PROPAGATION_BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];

export interface ApiMetricsOptions {
  /** Defaults to a new registry with the default process metrics. */
  registry?: Registry;
  /** Adds the scrape-time runner gauges (read from Postgres). */
  prisma?: PrismaClient;
  /** Adds the scrape-time queue gauges (read from BullMQ). */
  queue?: Queue | readonly Queue[];
  /** A runner without a heartbeat for this long counts as offline (default 60 s, the reaper's default). */
  runnerHeartbeatWindowMs?: number;
  /** Bound on each scrape-time read (default 2 s), so a scrape never hangs on Redis or Postgres. */
  collectTimeoutMs?: number;
}

export function createApiMetrics(opts: ApiMetricsOptions = {}): ApiMetrics {
  const registry = opts.registry ?? createRegistry();
  const httpDuration = new Histogram({
    name: "actions_http_request_duration_seconds",
    help: "HTTP request duration by method, route template (\"unmatched\" when no route matched) and status code.",
    labelNames: ["method", "route", "status"],
    buckets: HTTP_DURATION_BUCKETS,
    registers: [registry],
  });
  const intents = new Counter({
    name: "actions_intents_total",
    help: "Lifecycle intents submitted by the API, by kind and outcome: applied, the intent error code (not_found, not_rerunnable, source_unavailable, source_invalid, idempotency_conflict), timeout (queued, worker tier did not answer in time), unavailable (queue refused it), failed.",
    labelNames: ["kind", "outcome"],
    registers: [registry],
  });
  const resultsRejected = new Counter({
    name: "actions_intent_results_rejected_total",
    help: "Results for a pending intent, read from Redis, that the API did not believe, by reason: unsigned, bad_signature. Anything but zero means someone wrote to Redis who should not, or api and worker disagree on INTENT_SIGNING_KEY.",
    labelNames: ["reason"],
    registers: [registry],
  });
  const cancelPropagation = new Histogram({
    name: "actions_cancel_propagation_seconds",
    help: "Time from a job's cancel request to its runner's terminal status report, for running jobs whose cancel was requested.",
    buckets: CANCEL_PROPAGATION_BUCKETS,
    registers: [registry],
  });
  if (opts.queue) registerQueueMetrics(registry, opts.queue, { timeoutMs: opts.collectTimeoutMs ?? 2000 });
  if (opts.prisma) {
    registerRunnerMetrics(registry, opts.prisma, { heartbeatWindowMs: opts.runnerHeartbeatWindowMs, timeoutMs: opts.collectTimeoutMs });
  }
  return { registry, httpDuration, intents, resultsRejected, cancelPropagation };
}

export const UNMATCHED_ROUTE_LABEL = "unmatched";
/** Every request the dashboard admitted, whatever its path. */
export const DASHBOARD_ROUTE_LABEL = "dashboard";

/**
 * The route template that matched (`/api/v1/jobs/:id/cancel`), with the mount path of
 * its router; never the raw URL, whose ids would make a series per job. A router whose
 * paths must not be named (the hidden queue dashboard) fixes the label in
 * `res.locals.routeLabel`, which wins over any route its sub-app matched.
 */
export function routeLabel(req: Request): string {
  const fixed: unknown = req.res?.locals.routeLabel;
  if (fixed === DASHBOARD_ROUTE_LABEL || fixed === UNMATCHED_ROUTE_LABEL) return fixed;
  const path: unknown = req.route?.path;
  if (path === undefined) return UNMATCHED_ROUTE_LABEL;
  return `${req.baseUrl ?? ""}${typeof path === "string" ? path : String(path)}`;
}

const metricsOf = (res: Response) => res.locals.metrics as ApiMetrics | undefined;

/** Times every request. Install it first (`AppDeps.before`); it also makes the metrics reachable from handlers. */
export function httpMetrics(m: ApiMetrics): RequestHandler {
  return (req, res, next) => {
    const started = performance.now();
    res.locals.metrics = m;
    res.once("finish", () => {
      m.httpDuration.observe(
        { method: req.method, route: routeLabel(req), status: String(res.statusCode) },
        (performance.now() - started) / 1000,
      );
    });
    next();
  };
}

/** `GET /metrics` in the Prometheus text format. */
export function metricsRouter(registry: Registry): Router {
  const r = Router();
  r.get("/metrics", async (_req, res) => {
    const { contentType, body } = await exposition(registry);
    res.set("Content-Type", contentType).send(body);
  });
  return r;
}

export function outcomeLabel(o: Outcome): string {
  switch (o.kind) {
    case "result":
      return o.result.ok ? "applied" : o.result.error;
    case "timeout":
    case "unavailable":
    case "uncertain":
    case "failed":
    case "idempotency_conflict":
      return o.kind;
  }
}

export function recordIntentOutcome(m: ApiMetrics, name: IntentName, outcome: Outcome): void {
  m.intents.inc({ kind: name, outcome: outcomeLabel(outcome) });
}

/** Counts every intent the client submits by its outcome, and every result it did not believe. Returns the same client. */
export function instrumentIntents(client: IntentClient, m: ApiMetrics): IntentClient {
  client.onResultRejected = (reason) => m.resultsRejected.inc({ reason });
  const submit = client.submit.bind(client);
  client.submit = async (name, payload, route) => {
    const outcome = await submit(name, payload, route);
    recordIntentOutcome(m, name, outcome);
    return outcome;
  };
  return client;
}

/**
 * Observes the cancel propagation time when a runner's report ended a job whose cancel
 * had been requested. Call it after `reportJobTx` commits; a no-op without `httpMetrics`.
 */
export function observeCancelPropagation(res: Response, applied: ReportApplied, now: Date = new Date()): void {
  const m = metricsOf(res);
  if (!m || applied.kind !== "ok" || !applied.cancelRequestedAt) return;
  m.cancelPropagation.observe(Math.max(0, (now.getTime() - applied.cancelRequestedAt.getTime()) / 1000));
}
