import { Router, type Request, type RequestHandler, type Response } from "express";
import { z } from "zod";
import { inTx, type PrismaClient } from "../../infra/db.ts";
import type { PoolSql } from "../../infra/sql.ts";
import type { Logger } from "../../infra/logger.ts";
import { findJobToken, type JobCredential } from "../../domain/data/claim.ts";
import { readRunnerFacts } from "../../domain/data/heartbeat.ts";
import { beatAndPoll, waitMs } from "./runner-poll.ts";
import type { RunnerPolling } from "../runner-polling.ts";
import { reportJobTx } from "../../domain/data/jobs.ts";
import type { Signal } from "../../domain/data/cancel.ts";
import type { CancelSignal } from "../../domain/contracts.ts";
import { appendLog, reportStepTx } from "../../domain/data/steps.ts";
import { logText, sqlText } from "../../infra/text.ts";
import { parseId, num } from "../../domain/ids.ts";
import { CONCLUSIONS, type Conclusion } from "../../domain/lifecycle/types.ts";
import type { Report } from "../../domain/lifecycle/report.ts";
import { credentialsFrom, newOpaqueToken, sha256 } from "../../domain/tokens.ts";
import { HEARTBEAT_WINDOW_MS, liveMessage, registerOrRotate } from "../../domain/data/runners.ts";
import { assertNever } from "../../infra/assert.ts";
import { observeCancelPropagation } from "../metrics.ts";
import { timingSafeEqual } from "node:crypto";
import { badRequest, conflict, HttpError, invalidToken, notFound, unauthenticated } from "../errors.ts";

const runnerLabel = sqlText(z.string().min(1).max(100).regex(/^[^,\s]+$/));

export interface RunnerDeps {
  prisma: PrismaClient;
  /** The hot runner calls (job token, status report) in plain SQL. */
  sql: PoolSql;
  /** sha256 of the registration secret; null disables self-registration. */
  registrationTokenHash: string | null;
  /** LOG_MAX_BYTES_PER_JOB: UTF-8 bytes of log stored per job, all steps together. */
  logMaxBytesPerJob: number;
  /** A self-registered runner silent this long may be re-registered without its token (60 s when unset). */
  heartbeatWindowMs?: number;
  /** Hands cancel signals to a worker to publish (fail-fast's; see domain/contracts.ts SIGNALS_JOB). */
  announceCancels?: (signals: CancelSignal[]) => Promise<unknown>;
  /** Last-seen in Redis and long-poll wake-ups; unset: every heartbeat writes the runner row and none waits. */
  polling?: RunnerPolling;
  log: Logger;
}

export const registerBody = z.strictObject({
  name: z.string().regex(/^[A-Za-z0-9._-]{1,100}$/, "1-100 letters, digits, '.', '_' or '-'"),
  labels: z.array(runnerLabel).max(50).default([]),
  capacity: z.number().int().min(1).max(256).default(1),
  /** The runner token of the runner's current life: proof that this caller is that runner. */
  current_token: z.string().min(1).max(255).optional(),
});

export const heartbeatBody = z.strictObject({
  labels: z.array(runnerLabel).max(50).optional(),
  capacity: z.number().int().min(1).max(256).optional(),
  host_name: sqlText(z.string().max(255)).optional(),
  version: sqlText(z.string().max(100)).optional(),
});

export const reportBody = z.strictObject({
  status: z.enum(["running", "completed", "cancelled", "skipped"]),
  conclusion: z.enum(CONCLUSIONS as [Conclusion, ...Conclusion[]]).optional(),
});

export const logBody = z.strictObject({
  step_id: z.number().int().positive().max(Number.MAX_SAFE_INTEGER),
  seq: z.number().int().min(0).max(2 ** 31 - 1),
  content: z.string().max(64 * 1024),
});

function parse<T>(schema: z.ZodType<T>, body: unknown): T {
  const r = schema.safeParse(body ?? {});
  if (!r.success) throw badRequest(`invalid body: ${r.error.issues.map((i) => `${i.path.join(".") || "body"}: ${i.message}`).join("; ")}`);
  return r.data;
}

/** A completed report needs a conclusion; `completed/cancelled` means cancelled. */
function toReport(b: z.infer<typeof reportBody>): Report {
  switch (b.status) {
    case "running":
    case "cancelled":
    case "skipped":
      return { status: b.status };
    case "completed":
      if (b.conclusion === undefined) throw badRequest("completed needs a conclusion");
      return b.conclusion === "cancelled" ? { status: "cancelled" } : { status: "completed", conclusion: b.conclusion };
  }
}

function bearer(req: Request): string {
  const c = credentialsFrom(req.headers.authorization);
  if (c.kind === "none") throw unauthenticated();
  if (c.kind === "malformed") throw invalidToken("invalid token");
  return c.token;
}

/**
 * The per-job token works for its own job only: until it expires, 60 s after the job
 * ended, until its runner registers again, and not once its runner is revoked.
 */
function jobAuth(deps: RunnerDeps): RequestHandler {
  return async (req, res, next) => {
    const check = await findJobToken(deps.sql, bearer(req));
    if (check.kind === "refused") throw invalidToken(check.reason);
    const id = parseId(req.params.id);
    if (id === null || id !== check.cred.jobId) throw notFound("job");
    res.locals.job = check.cred;
    next();
  };
}

const jobOf = (res: Response) => res.locals.job as JobCredential;

function settleOutcome(r: { kind: "ok"; changed: boolean } | { kind: "conflict"; message: string } | { kind: "not_found" }, what: string, res: Response) {
  if (r.kind === "not_found") throw notFound(what);
  if (r.kind === "conflict") throw conflict(r.message);
  res.json({ changed: r.changed });
}

/**
 * After commit: the runners of the matrix jobs fail-fast cancelled are told, as a user's
 * cancel tells them. Should the queue be away, their cancel-check poll still finds out, so
 * the report is answered as usual and the lost hint only logged.
 */
async function announce(deps: RunnerDeps, signals: Signal[], requestId: string): Promise<void> {
  if (signals.length === 0 || !deps.announceCancels) return;
  const msgs: CancelSignal[] = signals.map((s) => ({
    job_id: num(s.jobId), run_id: num(s.runId), runner_id: num(s.runnerId), requested_at: s.requestedAt.toISOString(), request_id: requestId,
  }));
  await deps.announceCancels(msgs).catch((e: unknown) =>
    deps.log.warn({ err: (e as Error).message, request_id: requestId, signals: msgs.length }, "fail-fast cancel signals not queued; runners learn from cancel-check"));
}

export function runnerRoutes(deps: RunnerDeps): Router {
  const r = Router();
  const job = jobAuth(deps);

  r.post("/api/v1/runners/register", async (req, res) => {
    const expected = deps.registrationTokenHash;
    if (expected === null) throw notFound("route");
    const given = Buffer.from(sha256(bearer(req)), "hex");
    if (!timingSafeEqual(given, Buffer.from(expected, "hex"))) throw invalidToken("invalid registration token");
    const b = parse(registerBody, req.body);
    const reg = await registerOrRotate(
      deps.prisma, { name: b.name, labels: [...new Set(b.labels)], capacity: b.capacity, currentToken: b.current_token }, deps.heartbeatWindowMs,
    );
    switch (reg.kind) {
      case "revoked":
        throw new HttpError(403, "runner revoked");
      case "operator_owned":
        throw conflict("runner name taken by an operator-registered runner");
      case "live":
        throw conflict(liveMessage(reg.name, reg.windowMs));
      case "registered":
        res.status(201).json({ id: num(reg.id), name: reg.name, token: reg.token, ended_jobs: reg.endedJobs.map((id) => num(id)) });
        return;
      default:
        assertNever(reg, "registration");
    }
  });

  r.post("/api/v1/runners/heartbeat", async (req, res) => {
    const f = await readRunnerFacts(deps.sql, bearer(req));
    if (!f) throw invalidToken("invalid token");
    if (f.tokenRevoked || f.runnerRevoked) throw invalidToken("runner revoked");
    res.locals.runnerId = f.runnerId;
    const b = parse(heartbeatBody, req.body);
    const holdMs = waitMs(req.query.wait, deps.heartbeatWindowMs ?? HEARTBEAT_WINDOW_MS);
    const claimed = await beatAndPoll(deps, f, { labels: b.labels, capacity: b.capacity, hostName: b.host_name, version: b.version }, holdMs, res);
    if (!claimed) {
      if (!res.writableEnded && !res.destroyed) res.status(204).end();
      return;
    }
    res.json({
      token: claimed.token,
      expires_at: claimed.expiresAt.toISOString(),
      job: {
        id: num(claimed.id), run_id: num(claimed.runId), runner_id: num(f.runnerId), job_key: claimed.jobKey, name: claimed.name,
        runs_on: claimed.runsOn, timeout_minutes: claimed.timeoutMinutes,
        steps: claimed.steps.map((s) => ({ id: num(s.id), index: s.stepIndex, name: s.name, run: s.run })),
      },
    });
  });

  r.post("/api/v1/jobs/:id/status", job, async (req, res) => {
    const report = toReport(parse(reportBody, req.body));
    const out = await deps.sql.tx((sql) => reportJobTx(sql, jobOf(res).jobId, report, new Date()));
    observeCancelPropagation(res, out);
    if (out.kind === "ok" && out.failFast) await announce(deps, out.failFast.signals, res.locals.requestId as string);
    if (out.kind === "ok") {
      res.json({ changed: out.changed, run_completed: out.runCompleted });
      return;
    }
    settleOutcome(out, "job", res);
  });

  r.post("/api/v1/jobs/:id/steps/:step_id/status", job, async (req, res) => {
    const stepId = parseId(req.params.step_id);
    if (stepId === null) throw notFound("step");
    const report = toReport(parse(reportBody, req.body));
    settleOutcome(await deps.sql.tx((sql) => reportStepTx(sql, jobOf(res).jobId, stepId, report, new Date())), "step", res);
  });

  r.post("/api/v1/jobs/:id/logs", job, async (req, res) => {
    const b = parse(logBody, req.body);
    // Normalised before it is stored and before a retry is compared with what was stored.
    const content = logText(b.content);
    const out = await appendLog(deps.sql, jobOf(res).jobId, BigInt(b.step_id), b.seq, content, deps.logMaxBytesPerJob);
    if (out.kind === "limit") throw new HttpError(413, "log limit reached");
    settleOutcome(out, "step", res);
  });

  // A runner acts on this answer only (a signal is a hint to ask), so it sits on the cancel
  // propagation path: answered from the token check's own read, one statement in all.
  // `force` is the force-cancel's, never the signal's.
  r.post("/api/v1/jobs/:id/cancel-check", job, async (_req, res) => {
    const j = jobOf(res).job;
    // A job the server already ended (the reaper, a force-cancel) is over for the runner too: stop it.
    res.json({ cancelled: j.cancelRequested || j.status !== "running", force: j.forceCancelled });
  });
  return r;
}

