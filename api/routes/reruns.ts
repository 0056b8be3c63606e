import { Router } from "express";
import { parseId } from "../../domain/ids.ts";
import { authenticate, idParam, requireScope } from "../auth.ts";
import { authorizeWriteOn, emptyBody, idempotencyKey, parseBody, submitIntent, type IntentRouteDeps } from "../submit.ts";

/**
 * Partial reruns: only what failed, or one job and what depends on it. Both answer 201
 * with the body of POST /runs/{id}/rerun; the rest of the new run is carried over.
 */
export function rerunRoutes(deps: IntentRouteDeps): Router {
  const r = Router();
  const guard = (kind: "run" | "job") => [authenticate(deps, idParam(kind)), requireScope("repo:write")];

  r.post("/api/v1/runs/:id/rerun-failed-jobs", ...guard("run"), async (req, res) => {
    const id = parseId(req.params.id);
    parseBody(emptyBody, req);
    idempotencyKey(req);
    await authorizeWriteOn(deps, res, id === null ? null : { run: id }, "run");
    await submitIntent(deps, req, res, { name: "rerun-failed-jobs", targetId: id!, what: "run", okStatus: 201 });
  });

  r.post("/api/v1/jobs/:id/rerun", ...guard("job"), async (req, res) => {
    const id = parseId(req.params.id);
    parseBody(emptyBody, req);
    idempotencyKey(req);
    await authorizeWriteOn(deps, res, id === null ? null : { job: id }, "job");
    await submitIntent(deps, req, res, { name: "rerun-job", targetId: id!, what: "job", okStatus: 201 });
  });
  return r;
}
