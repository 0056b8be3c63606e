import { Router } from "express";
import { parseId } from "../../domain/ids.ts";
import { authenticate, idParam, requireScope } from "../auth.ts";
import { authorizeWriteOn, cancelBody, emptyBody, idempotencyKey, parseBody, submitIntent, type IntentRouteDeps } from "../submit.ts";

export type LifecycleDeps = IntentRouteDeps;
export { emptyBody, cancelBody };
export { IDEMPOTENCY_KEY } from "../submit.ts";

export function lifecycleRoutes(deps: LifecycleDeps): Router {
  const r = Router();
  const guard = (kind: "run" | "job") => [authenticate(deps, idParam(kind)), requireScope("repo:write")];

  r.post("/api/v1/jobs/:id/cancel", ...guard("job"), async (req, res) => {
    const id = parseId(req.params.id);
    const body = parseBody(cancelBody, req);
    idempotencyKey(req);
    await authorizeWriteOn(deps, res, id === null ? null : { job: id }, "job");
    await submitIntent(deps, req, res, { name: "cancel-job", targetId: id!, what: "job", okStatus: 202, reason: body.reason });
  });

  r.post("/api/v1/runs/:id/rerun", ...guard("run"), async (req, res) => {
    const id = parseId(req.params.id);
    parseBody(emptyBody, req);
    idempotencyKey(req);
    await authorizeWriteOn(deps, res, id === null ? null : { run: id }, "run");
    await submitIntent(deps, req, res, { name: "rerun-run", targetId: id!, what: "run", okStatus: 201 });
  });
  return r;
}
