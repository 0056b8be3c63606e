import { Router, type Request, type Response } from "express";
import { readJobsOfRun } from "../../domain/data/reads.ts";
import { readRunsPage } from "../../domain/data/lists.ts";
import { parseListQuery } from "../../domain/data/list-query.ts";
import { readWaiting } from "../../domain/data/waiting.ts";
import { num } from "../../domain/ids.ts";
import { authenticate, idParam, repoParam, requireScope, type TargetAccess } from "../auth.ts";
import { badRequest, notFound } from "../errors.ts";
import { jobView, runSummaryView } from "../views.ts";
import { visibleTarget, type ReadDeps } from "./read.ts";

// The native lists (docs/api.md, "Lists"): a repository's runs, newest first, a page at a
// time; and a run's jobs. Authorized as every read is (docs/security.md, "Reads authorize
// before they read"): the token and the repository are found and judged in one statement,
// and a repository that does not exist and one the caller may not see get the same 404.


function visibleRepo(res: Response): bigint {
  const known = res.locals.targetAccess as TargetAccess | undefined;
  if (known === undefined || known.access === "none" || known.repoId === undefined) throw notFound("repository");
  return known.repoId;
}

/**
 * RFC 8288 links, as references relative to this service (the Host a client sent is not
 * echoed back): the same path and filters, with the cursor of the page that follows.
 */
export function pageLinks(path: string, query: Record<string, unknown>, next: string | null): string {
  const keep = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) if (k !== "cursor" && typeof v === "string") keep.set(k, v);
  const at = (extra: Record<string, string>) => {
    const q = new URLSearchParams(keep);
    for (const [k, v] of Object.entries(extra)) q.set(k, v);
    const s = q.toString();
    return s ? `${path}?${s}` : path;
  };
  const links = [`<${at({})}>; rel="first"`];
  if (next !== null) links.unshift(`<${at({ cursor: next })}>; rel="next"`);
  return links.join(", ");
}

export function listRoutes(deps: ReadDeps): Router {
  const r = Router();
  const windowMs = deps.runnerHeartbeatWindowMs ?? 60_000;

  r.get("/api/v1/repos/:owner/:repo/actions/runs", authenticate(deps, repoParam), requireScope("repo:read"), async (req, res) => {
    const repoId = visibleRepo(res);
    const query = req.query as Record<string, unknown>;
    const parsed = parseListQuery(query);
    if (!parsed.ok) throw badRequest(parsed.message);
    const page = await readRunsPage(deps.sql, repoId, parsed.value);
    res.set("Link", pageLinks(req.path, query, page.next));
    res.json({ runs: page.runs.map(runSummaryView), next_cursor: page.next });
  });

  r.get("/api/v1/runs/:id/jobs", authenticate(deps, idParam("run")), requireScope("repo:read"), async (_req, res) => {
    const id = visibleTarget(res, "run");
    const jobs = await readJobsOfRun(deps.sql, id);
    const queued = jobs.filter((j) => j.status === "queued").map((j) => j.id);
    const waiting = await readWaiting(deps.sql, queued, windowMs);
    res.json({ run_id: num(id), jobs: jobs.map((j) => jobView(j, waiting.get(j.id.toString()) ?? null)) });
  });
  return r;
}
