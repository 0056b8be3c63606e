import { Router, type Request, type RequestHandler, type Response } from "express";
import { z } from "zod";
import { locateJob, priorTarget, readChain, readWorkflows, readChainPage, type Attempt, type Workflow } from "../../domain/data/github.ts";
import type { Sql } from "../../infra/sql.ts";
import { readJob } from "../../domain/data/reads.ts";
import { INTENTS, type IntentName } from "../../domain/intents.ts";
import { authenticate, authOf, repoParam, requireScope } from "../auth.ts";
import { HttpError, isGitHubPath, notFound, unprocessable } from "../errors.ts";
import { applyIntent, authorizeWriteOn, idempotencyKey, type IntentRouteDeps } from "../submit.ts";
import type { ReadDeps } from "../routes/read.ts";
import { attemptOf, chainOf, pathId, repoContext, type RepoContext } from "./context.ts";
import { jobsOfAttempts, jobViews } from "./jobs.ts";
import { logRoutes } from "./logs.ts";
import { ghRoutes } from "./gh.ts";
import { githubHookRoutes } from "./hooks.ts";
import type { HookRouteDeps } from "../routes/hooks.ts";
import { pageNumberLinks, parseGitHubListQuery } from "./query.ts";
import { runView, workflowView } from "../../domain/github/views.ts";
import { GITHUB_OPERATIONS, route, type GitHubOperationName } from "./operations.ts";

// GitHub's REST dialect of the same service (docs/github-api.md): GitHub's paths, status
// codes, field names and errors, for Octokit, `gh` and scripts written for GitHub. Reads
// use the native reads' statements; writes are the same intents, workers, Idempotency-Key
// and permission rules as /api/v1, only the answer's shape differs.

export interface GitHubDeps extends IntentRouteDeps, ReadDeps {
  /** PUBLIC_URL: the origin answers point at; else the one the client reached. */
  publicUrl?: string | null;
  /** Signs log download links (api/v3/log-links.ts). */
  logLinkKey: Buffer;
  /** Webhooks (api/v3/hooks.ts): served when given, as the native ones are. */
  hooks?: Pick<HookRouteDeps, "secrets" | "enqueueDeliveries" | "allowPrivate">;
}


/** GitHub marks its answers so: clients log the id and quote it in bug reports. */
const githubHeaders: RequestHandler = (req, res, next) => {
  if (isGitHubPath(req.path)) res.set({ "X-GitHub-Request-Id": String(res.locals.requestId), "X-GitHub-Media-Type": "github.v3; format=json", "X-GitHub-Api-Version-Selected": "2022-11-28" });
  next();
};

/** Rerun bodies: GitHub's one option; debug logging is a runner feature we do not have. */
const rerunBody = z.object({ enable_debug_logging: z.boolean().optional() });

function parseRerunBody(req: Request): void {
  const parsed = rerunBody.safeParse(req.body ?? {});
  if (!parsed.success) throw unprocessable("Invalid request. enable_debug_logging must be a boolean.");
  if (parsed.data.enable_debug_logging) throw unprocessable("enable_debug_logging is not supported by this service");
}

export function githubRoutes(deps: GitHubDeps): Router {
  const r = Router();
  r.use(githubHeaders);
  const at: Mount = {
    r, sql: deps.sql,
    read: [authenticate(deps, repoParam), requireScope("repo:read")],
    ctxOf: (req, res) => repoContext(deps.sql, req, res, deps.publicUrl),
  };
  runReads(at);
  jobReads(at);
  workflowReads(at);
  writeRoutes(r, deps, [authenticate(deps, repoParam), requireScope("repo:write")], at.ctxOf);
  if (deps.hooks) r.use(githubHookRoutes({ ...deps, ...deps.hooks }));
  r.use(logRoutes(deps, at.read, at.ctxOf));
  r.use(ghRoutes(deps));
  return r;
}

type CtxOf = (req: Request, res: Response) => Promise<RepoContext>;

/** Where the reads are mounted, with what each starts from. */
interface Mount {
  r: Router;
  sql: Sql;
  read: RequestHandler[];
  ctxOf: CtxOf;
}

/** A page of runs, of the repository or of one workflow. */
async function listRuns(sql: Sql, req: Request, res: Response, ctx: RepoContext, workflow?: Workflow): Promise<void> {
  const q = parseGitHubListQuery(req.query as Record<string, unknown>);
  if (!q.ok) throw unprocessable(q.message);
  const filters = workflow ? { ...q.value.filters, workflowFile: workflow.path } : q.value.filters;
  const page = await readChainPage(sql, ctx.repo, filters, q.value.page, q.value.perPage);
  const link = pageNumberLinks(new URL(req.originalUrl, ctx.links.origin), q.value.page, q.value.perPage, page.total);
  if (link) res.set("Link", link);
  res.json({ total_count: page.total, workflow_runs: page.chains.map(([o, l]) => runView(o, l, ctx.repo, ctx.links)) });
}

function runReads({ r, sql, read, ctxOf }: Mount): void {
  r.get(route.listRuns, ...read, async (req, res) => listRuns(sql, req, res, await ctxOf(req, res)));

  r.get(route.getRun, ...read, async (req, res) => {
    const ctx = await ctxOf(req, res);
    const chain = await chainOf(sql, ctx, req);
    res.json(runView(chain[0], chain[chain.length - 1]!, ctx.repo, ctx.links));
  });

  r.get(route.getAttempt, ...read, async (req, res) => {
    const ctx = await ctxOf(req, res);
    const chain = await chainOf(sql, ctx, req);
    res.json(runView(chain[0], attemptOf(chain, req), ctx.repo, ctx.links));
  });

  // Nothing of these exists here (docs/github-api.md, "What gh also asks for"): true empty answers.
  r.get(route.listArtifacts, ...read, async (req, res) => {
    await chainOf(sql, await ctxOf(req, res), req);
    res.json({ total_count: 0, artifacts: [] });
  });
}

function jobReads({ r, sql, read, ctxOf }: Mount): void {
  // A job is its own check run; no annotations are kept (docs/github-api.md).
  r.get(route.listAnnotations, ...read, async (req, res) => {
    const ctx = await ctxOf(req, res);
    if (!(await locateJob(sql, ctx.repo.id, pathId(req, "check_run_id", "check run")))) throw notFound("check run");
    res.json([]);
  });

  const listJobs = async (req: Request, res: Response, ctx: RepoContext, attempts: readonly Attempt[], originalId: bigint) => {
    const q = parseGitHubListQuery({ per_page: req.query.per_page, page: req.query.page });
    if (!q.ok) throw unprocessable(q.message);
    const all = await jobsOfAttempts(sql, attempts, originalId, ctx.links);
    const { page, perPage } = q.value;
    const link = pageNumberLinks(new URL(req.originalUrl, ctx.links.origin), page, perPage, all.length);
    if (link) res.set("Link", link);
    res.json({ total_count: all.length, jobs: all.slice((page - 1) * perPage, page * perPage) });
  };

  r.get(route.listJobs, ...read, async (req, res) => {
    const filter = req.query.filter ?? "latest";
    if (filter !== "latest" && filter !== "all") throw unprocessable("filter: expected latest or all");
    const ctx = await ctxOf(req, res);
    const chain = await chainOf(sql, ctx, req);
    await listJobs(req, res, ctx, filter === "all" ? chain : [chain[chain.length - 1]!], chain[0].id);
  });

  r.get(route.listAttemptJobs, ...read, async (req, res) => {
    const ctx = await ctxOf(req, res);
    const chain = await chainOf(sql, ctx, req);
    await listJobs(req, res, ctx, [attemptOf(chain, req)], chain[0].id);
  });

  r.get(route.getJob, ...read, async (req, res) => {
    const ctx = await ctxOf(req, res);
    const jobId = pathId(req, "job_id", "job");
    const at = await locateJob(sql, ctx.repo.id, jobId);
    const job = at ? await readJob(sql, jobId) : null;
    if (!at || !job) throw notFound("job");
    const chain = await readChain(sql, ctx.repo.id, at.originalId);
    const [view] = await jobViews(sql, [job], chain, at.originalId, ctx.links);
    res.json(view);
  });

}

function workflowReads({ r, sql, read, ctxOf }: Mount): void {
  const workflowNamed = async (ctx: RepoContext, req: Request): Promise<Workflow> => {
    const given = String(req.params.workflow_id ?? "");
    const w = (await readWorkflows(sql, ctx.repo.id)).find((x) => String(x.id) === given || x.path === given || x.path.split("/").pop() === given);
    if (!w) throw notFound("workflow");
    return w;
  };
  r.get(route.listWorkflows, ...read, async (req, res) => {
    const ctx = await ctxOf(req, res);
    const all = (await readWorkflows(sql, ctx.repo.id)).map((w) => workflowView(w, ctx.links));
    res.json({ total_count: all.length, workflows: all });
  });
  r.get(route.getWorkflow, ...read, async (req, res) => {
    const ctx = await ctxOf(req, res);
    res.json(workflowView(await workflowNamed(ctx, req), ctx.links));
  });
  r.get(route.listWorkflowRuns, ...read, async (req, res) => {
    const ctx = await ctxOf(req, res);
    await listRuns(sql, req, res, ctx, await workflowNamed(ctx, req));
  });

}

/** GitHub's run-level writes, each the native intent on the run's latest attempt. */
const RUN_WRITES = [
  { op: "cancel", intent: "cancel-run", rerun: false },
  { op: "forceCancel", intent: "force-cancel-run", rerun: false },
  { op: "rerun", intent: "rerun-run", rerun: true },
  { op: "rerunFailed", intent: "rerun-failed-jobs", rerun: true },
] as const satisfies readonly { op: GitHubOperationName; intent: IntentName; rerun: boolean }[];

/** The mutating routes: the native intents on the chain's latest attempt (or the job), answered as GitHub answers. */
function writeRoutes(r: Router, deps: GitHubDeps, write: RequestHandler[], ctxOf: CtxOf): void {
  const sql = deps.sql;
  const apply = async (req: Request, res: Response, name: IntentName, targetId: bigint, status: number) => {
    await applyIntent(deps, res, { name, targetId, idempotencyKey: idempotencyKey(req) });
    res.status(status).json({});
  };
  for (const w of RUN_WRITES) {
    r.post(route[w.op], ...write, async (req, res) => {
      if (w.rerun) parseRerunBody(req);
      await authorizeWriteOn(deps, res, repoParam(req), "repository");
      const ctx = await ctxOf(req, res);
      const chain = await chainOf(sql, ctx, req);
      const latest = chain[chain.length - 1]!;
      const key = idempotencyKey(req);
      const prior = key === null ? null : await priorTarget(sql, authOf(res).token.userId, INTENTS[w.intent].kind, key);
      const repeat = prior !== null && chain.some((a) => a.id === prior);
      // GitHub's answer to cancelling what has ended; the intent would change nothing.
      if (!repeat && !w.rerun && latest.status === "completed") throw new HttpError(409, "Cannot cancel a workflow run that is completed.");
      await apply(req, res, w.intent, repeat ? prior : latest.id, GITHUB_OPERATIONS[w.op].ok.status);
    });
  }

  r.post(route.rerunJob, ...write, async (req, res) => {
    parseRerunBody(req);
    await authorizeWriteOn(deps, res, repoParam(req), "repository");
    const ctx = await ctxOf(req, res);
    const jobId = pathId(req, "job_id", "job");
    if (!(await locateJob(sql, ctx.repo.id, jobId))) throw notFound("job");
    await apply(req, res, "rerun-job", jobId, GITHUB_OPERATIONS.rerunJob.ok.status);
  });
}
