import { Router, type Request, type RequestHandler, type Response } from "express";
import { locateJob, readStepsOf, stepsByJob } from "../../domain/data/github.ts";
import { readJobsOfRun } from "../../domain/data/reads.ts";
import { parseId } from "../../domain/ids.ts";
import { HttpError, notFound } from "../errors.ts";
import { LOG_STALL_MS, stepLogLines, streamLog } from "../routes/read.ts";
import type { Sql } from "../../infra/sql.ts";
import { attemptOf, chainOf, pathId, type RepoContext } from "./context.ts";
import { signLogLink, verifyLogLink, type LogSubject } from "./log-links.ts";
import type { GitHubDeps } from "./index.ts";
import { LOG_LINK_ROUTES, route } from "./operations.ts";
import { expressPath } from "../../domain/intents.ts";
import { streamZip, type ZipEntry } from "./zip.ts";

// Log downloads as GitHub serves them (docs/github-api.md, "Logs"): the authorized route
// answers 302 to a short-lived signed URL of this service, and that URL serves a job's
// log as text, or a run attempt's logs as a zip of one file per job and step.

type CtxOf = (req: Request, res: Response) => Promise<RepoContext>;

export function logRoutes(deps: GitHubDeps, read: RequestHandler[], ctxOf: CtxOf): Router {
  const r = Router();
  const sql = deps.sql;
  const redirect = (res: Response, ctx: RepoContext, s: LogSubject) => {
    // Without a body: GitHub sends none, and Express's would be text a JSON client cannot read.
    res.status(302).set("Location", `${ctx.links.origin}${signLogLink(deps.logLinkKey, s, Date.now())}`).end();
  };

  r.get(route.jobLogs, ...read, async (req, res) => {
    const ctx = await ctxOf(req, res);
    const jobId = pathId(req, "job_id", "job");
    if (!(await locateJob(sql, ctx.repo.id, jobId))) throw notFound("job");
    redirect(res, ctx, { kind: "job", id: jobId });
  });
  r.get(route.runLogs, ...read, async (req, res) => {
    const ctx = await ctxOf(req, res);
    const chain = await chainOf(sql, ctx, req);
    redirect(res, ctx, { kind: "run", id: chain[chain.length - 1]!.id });
  });
  r.get(route.attemptLogs, ...read, async (req, res) => {
    const ctx = await ctxOf(req, res);
    redirect(res, ctx, { kind: "run", id: attemptOf(await chainOf(sql, ctx, req), req).id });
  });

  // The signed links: the signature is the credential, checked before anything is read.
  const signed = (kind: LogSubject["kind"], req: Request): bigint => {
    const id = parseId(req.params.id);
    if (id === null) throw notFound("log");
    const v = verifyLogLink(deps.logLinkKey, { kind, id }, req.query.expires, req.query.signature, Date.now());
    if (!v.ok) throw new HttpError(403, v.reason === "expired" ? "this log link has expired; ask for the log again" : "not a log link this service gave out");
    return id;
  };
  r.get(expressPath(LOG_LINK_ROUTES.job), async (req, res) => {
    const id = signed("job", req);
    await streamLog(sql, res, id, deps.logStallMs ?? LOG_STALL_MS, () => res.destroy());
  });
  r.get(expressPath(LOG_LINK_ROUTES.run), async (req, res) => {
    const id = signed("run", req);
    res.status(200).type("application/zip").set("Content-Disposition", `attachment; filename="logs_${id}.zip"`);
    await streamZip(res, runLogEntries(sql, id), deps.logStallMs ?? LOG_STALL_MS);
  });
  return r;
}

/**
 * A run attempt's logs as GitHub lays them out: `<job name>/<step number>_<step name>.txt`
 * per step (step names cleaned of `/`), each read a batch at a time.
 */
async function* runLogEntries(sql: Sql, runId: bigint): AsyncGenerator<ZipEntry> {
  const jobs = await readJobsOfRun(sql, runId);
  const steps = stepsByJob(await readStepsOf(sql, jobs.map((j) => j.id)));
  for (const job of jobs) {
    for (const step of steps.get(job.id) ?? []) {
      yield { name: `${clean(job.name)}/${step.number}_${clean(step.name)}.txt`, chunks: stepLogLines(sql, step.id) };
    }
  }
}

const clean = (s: string) => s.replace(/[/\\:*?"<>|\u0000-\u001f]/g, "").slice(0, 100) || "_";
