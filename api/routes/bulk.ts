import { Router } from "express";
import { z } from "zod";
import { bulkFilters, matchedView, matchRuns } from "../../core/data/bulkcancel.ts";
import { num } from "../../core/ids.ts";
import { authenticate, requireScope } from "../auth.ts";
import { pathText } from "../body.ts";
import { authorizeWrite, cancelBody, idempotencyKey, parseBody, submitIntent, type IntentRouteDeps } from "../submit.ts";

/** The body of a bulk cancel: the filters, `dry_run`, and the reason every cancel takes. */
export const bulkCancelRequest = z.strictObject({
  ...bulkFilters.shape,
  dry_run: z.boolean().optional(),
  reason: cancelBody.shape.reason,
});

/** Bulk operations on a repository's runs (issue 6, route 5). */
export function bulkRoutes(deps: IntentRouteDeps): Router {
  const r = Router();
  const auth = authenticate(deps);
  const repoByName = async (owner: string, name: string) =>
    (await deps.prisma.repo.findFirst({ where: { name, owner: { login: owner } }, select: { id: true } }))?.id;

  r.post("/api/v1/repos/:owner/:repo/actions/runs/cancel", auth, requireScope("repo:write"), async (req, res) => {
    const body = parseBody(bulkCancelRequest, req);
    idempotencyKey(req);
    const [owner, name] = [pathText(req, "owner"), pathText(req, "repo")];
    const repoId = await repoByName(owner, name);
    await authorizeWrite(deps, res, repoId, "repository");
    const { dry_run, reason, ...filters } = body;
    if (dry_run === true) {
      // A dry run changes nothing: the API answers it with a read, no intent is recorded.
      const matched = await matchRuns(deps.prisma, repoId!, filters);
      res.status(200).json({ repo_id: num(repoId!), dry_run: true, matched_runs: matchedView(matched), changed_jobs: 0 });
      return;
    }
    await submitIntent(deps, req, res, { name: "bulk-cancel", targetId: repoId!, what: "repository", okStatus: 202, reason, params: filters });
  });
  return r;
}
