import { Router, type Response } from "express";
import type { Logger } from "../../core/logger.ts";
import type { Sql } from "../../core/sql.ts";
import { readJob, readJobsOfRun, readLogBatch, readRun, readSteps } from "../../core/data/reads.ts";
import { authenticate, idParam, requireScope, type AuthDeps, type TargetAccess } from "../auth.ts";
import { notFound } from "../errors.ts";
import { jobView, runView, stepView } from "../views.ts";

export interface ReadDeps extends AuthDeps {
  log: Logger;
}

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
  if (known === undefined || known.access === "none") throw notFound(what);
  return what === "run" ? (known.target as { run: bigint }).run : (known.target as { job: bigint }).job;
}

/** Writes with back-pressure: waits for 'drain'; false once the client has gone. */
function send(res: Response, text: string): Promise<boolean> {
  if (res.destroyed) return Promise.resolve(false);
  if (res.write(text)) return Promise.resolve(true);
  return new Promise((resolve) => {
    const done = (ok: boolean) => {
      res.off("drain", onDrain);
      res.off("close", onClose);
      resolve(ok);
    };
    const onDrain = () => done(true);
    const onClose = () => done(false);
    res.on("drain", onDrain);
    res.on("close", onClose);
    if (res.destroyed) done(false);
  });
}

const line = (c: string) => (c.endsWith("\n") ? c : `${c}\n`);

/** Small chunks (log lines) are written together, up to about this much text at a time. */
const WRITE_AT = 16 * 1024;

/** Decision 12's format, one bounded batch at a time: never the whole log in memory. */
async function streamLog(sql: Sql, res: Response, jobId: bigint): Promise<void> {
  const steps = await readSteps(sql, jobId);
  res.status(200).type("text/plain; charset=utf-8");
  let pending = "";
  const out = async (text: string) => {
    pending += text;
    if (pending.length < WRITE_AT) return true;
    const ok = await send(res, pending);
    pending = "";
    return ok;
  };
  for (const step of steps) {
    if (!(await out(`##[group]${step.name}\n`))) return;
    for (let after = -1; ;) {
      const batch = await readLogBatch(sql, step.id, after, LOG_BATCH_CHUNKS, LOG_BATCH_BYTES);
      for (const c of batch.chunks) if (!(await out(line(c.content)))) return;
      if (batch.last) break;
      after = batch.chunks[batch.chunks.length - 1]!.seq;
    }
    if (!(await out("##[endgroup]\n"))) return;
  }
  res.end(pending);
}

export function readRoutes(deps: ReadDeps): Router {
  const r = Router();

  r.get("/api/v1/runs/:id", authenticate(deps, idParam("run")), requireScope("repo:read"), async (_req, res) => {
    const id = visibleTarget(res, "run");
    const run = await readRun(deps.sql, id);
    if (!run) throw notFound("run");
    res.json(runView(run, await readJobsOfRun(deps.sql, id)));
  });

  r.get("/api/v1/jobs/:id", authenticate(deps, idParam("job")), requireScope("repo:read"), async (_req, res) => {
    const id = visibleTarget(res, "job");
    const job = await readJob(deps.sql, id);
    if (!job) throw notFound("job");
    res.json({ ...jobView(job), steps: (await readSteps(deps.sql, id)).map(stepView) });
  });

  r.get("/api/v1/jobs/:id/logs", authenticate(deps, idParam("job")), requireScope("repo:read"), async (req, res) => {
    const id = visibleTarget(res, "job");
    if (req.method === "HEAD") {
      res.status(200).type("text/plain; charset=utf-8").end();
      return;
    }
    try {
      await streamLog(deps.sql, res, id);
    } catch (e) {
      if (!res.headersSent) throw e;
      // Part of the log is out: the only honest answer left is a cut connection.
      deps.log.warn({ err: (e as Error).message, request_id: res.locals.requestId }, "log stream failed");
      res.destroy();
    }
  });
  return r;
}
