import { Router, type Response } from "express";
import type { Logger } from "../../infra/logger.ts";
import type { Sql } from "../../infra/sql.ts";
import { readJob, readJobsOfRun, readLogBatch, readReusedSource, readRun, readSteps } from "../../domain/data/reads.ts";
import { authenticate, idParam, requireScope, type AuthDeps, type TargetAccess } from "../auth.ts";
import { notFound } from "../errors.ts";
import { jobView, runView, stepView } from "../views.ts";
import { readWaiting } from "../../domain/data/waiting.ts";

export interface ReadDeps extends AuthDeps {
  log: Logger;
  /** A log stream whose client takes nothing for this long is cut (LOG_STREAM_STALL_MS). */
  logStallMs?: number;
  /** RUNNER_HEARTBEAT_WINDOW_MS: a runner heard from within it is online (`waiting_for`); 60 s when unset. */
  runnerHeartbeatWindowMs?: number;
}

/** The default stall limit: a reader that took nothing for 30 s is gone or hostile. */
export const LOG_STALL_MS = 30_000;

/** A log is streamed in batches of at most this many chunks, and about this many bytes. */
export const LOG_BATCH_CHUNKS = 256;
export const LOG_BATCH_BYTES = 64 * 1024;

/**
 * The target the route names, if the caller may see it. The token check and the access
 * check were one statement (authenticate with idParam); a target that does not exist and
 * one the caller may not see get the same 404 here, before anything of either is read.
 */
export function visibleTarget(res: Response, what: "run" | "job"): bigint {
  const known = res.locals.targetAccess as TargetAccess | undefined;
  if (known === undefined || known.access === "none" || known.target.kind !== what) throw notFound(what);
  return known.target.id;
}

export type Sent = "sent" | "gone" | "stalled";

/**
 * Writes with back-pressure: waits for 'drain', at most `stallMs`. A client that stops
 * reading would otherwise hold the request, its socket and what is buffered for it
 * forever; it is cut instead ("stalled"). "gone": the client went away itself.
 */
function send(res: Response, text: string, stallMs: number): Promise<Sent> {
  if (res.destroyed) return Promise.resolve("gone");
  if (res.write(text)) return Promise.resolve("sent");
  return new Promise((resolve) => {
    const done = (how: Sent) => {
      clearTimeout(timer);
      res.off("drain", onDrain);
      res.off("close", onClose);
      if (how === "stalled") res.destroy();
      resolve(how);
    };
    const onDrain = () => done("sent");
    const onClose = () => done("gone");
    const timer = setTimeout(() => done("stalled"), stallMs);
    res.on("drain", onDrain);
    res.on("close", onClose);
    if (res.destroyed) done("gone");
  });
}

const line = (c: string) => (c.endsWith("\n") ? c : `${c}\n`);

/** A step's log, each chunk as a line, read one bounded batch at a time (never the whole log). */
export async function* stepLogLines(sql: Sql, stepId: bigint): AsyncGenerator<string> {
  for (let after = -1; ;) {
    const batch = await readLogBatch(sql, stepId, after, LOG_BATCH_CHUNKS, LOG_BATCH_BYTES);
    for (const c of batch.chunks) yield line(c.content);
    if (batch.last || batch.chunks.length === 0) return;
    after = batch.chunks[batch.chunks.length - 1]!.seq;
  }
}

/** Small chunks (log lines) are written together, up to about this much text at a time. */
const WRITE_AT = 16 * 1024;

/**
 * Decision 12's format, one bounded batch at a time: never the whole log in memory. Each
 * batch is its own statement, so no database connection waits on a slow reader; a reader
 * that takes nothing for `stallMs` is cut.
 */
export async function streamLog(sql: Sql, res: Response, jobId: bigint, stallMs: number, onStall: () => void): Promise<void> {
  const steps = await readSteps(sql, jobId);
  const source = await readReusedSource(sql, jobId);
  res.status(200).type("text/plain; charset=utf-8");
  // A reused job's steps have no log here: say where it is rather than print empty groups only.
  let pending = source === null ? "" : reusedNote(source);
  const out = async (text: string) => {
    pending += text;
    if (pending.length < WRITE_AT) return true;
    const how = await send(res, pending, stallMs);
    pending = "";
    if (how === "stalled") onStall();
    return how === "sent";
  };
  for (const step of steps) {
    if (!(await out(`##[group]${step.name}\n`))) return;
    for await (const l of stepLogLines(sql, step.id)) if (!(await out(l))) return;
    if (!(await out("##[endgroup]\n"))) return;
  }
  endWithin(res, pending, stallMs, onStall);
}

export const reusedNote = (s: { jobId: bigint; runId: bigint }) =>
  `##[notice]This job was not run again: a rerun reused it from job ${s.jobId} of run ${s.runId}, as it ended there. Its log: /api/v1/jobs/${s.jobId}/logs\n`;

/** The last write gets the same limit: a reader that stops before the end is cut too. */
function endWithin(res: Response, text: string, stallMs: number, onStall: () => void): void {
  const timer = setTimeout(() => {
    onStall();
    res.destroy();
  }, stallMs);
  const clear = () => clearTimeout(timer);
  res.once("finish", clear);
  res.once("close", clear);
  res.end(text);
}

export function readRoutes(deps: ReadDeps): Router {
  const r = Router();
  const stallMs = deps.logStallMs ?? LOG_STALL_MS;
  const windowMs = deps.runnerHeartbeatWindowMs ?? 60_000;

  r.get("/api/v1/runs/:id", authenticate(deps, idParam("run")), requireScope("repo:read"), async (_req, res) => {
    const id = visibleTarget(res, "run");
    const run = await readRun(deps.sql, id);
    if (!run) throw notFound("run");
    const jobs = await readJobsOfRun(deps.sql, id);
    const queued = jobs.filter((j) => j.status === "queued").map((j) => j.id);
    res.json(runView(run, jobs, await readWaiting(deps.sql, queued, windowMs)));
  });

  r.get("/api/v1/jobs/:id", authenticate(deps, idParam("job")), requireScope("repo:read"), async (_req, res) => {
    const id = visibleTarget(res, "job");
    const job = await readJob(deps.sql, id);
    if (!job) throw notFound("job");
    const waiting = job.status === "queued" ? (await readWaiting(deps.sql, [id], windowMs)).get(id.toString()) ?? null : null;
    res.json({ ...jobView(job, waiting), steps: (await readSteps(deps.sql, id)).map(stepView) });
  });

  r.get("/api/v1/jobs/:id/logs", authenticate(deps, idParam("job")), requireScope("repo:read"), async (req, res) => {
    const id = visibleTarget(res, "job");
    if (req.method === "HEAD") {
      res.status(200).type("text/plain; charset=utf-8").end();
      return;
    }
    try {
      const onStall = () => deps.log.warn({ request_id: res.locals.requestId, job_id: String(id), stall_ms: stallMs }, "log stream cut: the client read nothing");
      await streamLog(deps.sql, res, id, stallMs, onStall);
    } catch (e) {
      if (!res.headersSent) throw e;
      // Part of the log is out: the only honest answer left is a cut connection.
      deps.log.warn({ err: (e as Error).message, request_id: res.locals.requestId }, "log stream failed");
      res.destroy();
    }
  });
  return r;
}
