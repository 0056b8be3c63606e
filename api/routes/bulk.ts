import { Router, type Request } from "express";
import { z } from "zod";
import { bulkFilters, matchedView, matchRuns } from "../../domain/data/bulkcancel.ts";
import { num } from "../../domain/ids.ts";
import { authenticate, repoParam, requireScope } from "../auth.ts";
import { carriesBody, pathText } from "../body.ts";
import { badRequest } from "../errors.ts";
import { expressPath, INTENTS } from "../../domain/intents.ts";
import { authorizeWriteOn, cancelBody, idempotencyKey, parseBody, submitIntent, whatOf, type IntentRouteDeps } from "../submit.ts";

/** The body of a bulk cancel: the filters, `dry_run`, and the reason every cancel takes. */
export const bulkCancelRequest = z.strictObject({
  ...bulkFilters.shape,
  dry_run: z.boolean().optional(),
  reason: cancelBody.shape.reason,
});

// A bare POST would be "no filters", i.e. cancel every open run: one stray `curl -X POST`
// must not do that. The caller says "all" with an explicit `{}` (docs/security.md).
export const BULK_BODY_REQUIRED = "a bulk cancel needs a JSON body: send {} to cancel every open run, or filters to narrow it";

export type BulkBodyVerdict = { kind: "accept" } | { kind: "refuse"; message: string };

/** `parsed` is what the JSON parser left in req.body (undefined when it read nothing). */
export function bulkBodyVerdict(carries: boolean, parsed: unknown): BulkBodyVerdict {
  return carries && parsed !== undefined ? { kind: "accept" } : { kind: "refuse", message: BULK_BODY_REQUIRED };
}


/** Bulk operations on a repository's runs (docs/api.md, "Cancel in bulk"; docs/decisions.md 16). */
export function bulkRoutes(deps: IntentRouteDeps): Router {
  const r = Router();

  const def = INTENTS["bulk-cancel"];
  r[def.method](expressPath(def.path), authenticate(deps, repoParam), requireScope(def.scope), async (req, res) => {
    const v = bulkBodyVerdict(carriesBody(req.headers), req.body);
    if (v.kind === "refuse") throw badRequest(v.message);
    const body = parseBody(bulkCancelRequest, req);
    const key = idempotencyKey(req);
    const [owner, name] = [pathText(req, "owner"), pathText(req, "repo")];
    // Found and judged in the token statement: missing and hidden are the same 404.
    const { repoId } = await authorizeWriteOn(deps, res, { kind: "repoName", owner, name }, whatOf(def.target));
    const { dry_run, reason, ...filters } = body;
    if (dry_run === true) {
      // A dry run changes nothing: the API answers it with a read, no intent is recorded.
      const matched = await matchRuns(deps.sql, repoId, filters);
      res.status(200).json({ repo_id: num(repoId), dry_run: true, matched_runs: matchedView(matched), changed_jobs: 0 });
      return;
    }
    await submitIntent(deps, res, { name: "bulk-cancel", targetId: repoId, idempotencyKey: key, reason, params: filters });
  });
  return r;
}
