import { Router } from "express";
import { parseId } from "../../core/ids.ts";
import { authenticate, requireScope } from "../auth.ts";
import { authorizeWrite, cancelBody, emptyBody, idempotencyKey, parseBody, submitIntent, type IntentRouteDeps } from "../submit.ts";

export type LifecycleDeps = IntentRouteDeps;
export { emptyBody, cancelBody };
export { IDEMPOTENCY_KEY } from "../submit.ts";

export function lifecycleRoutes(deps: LifecycleDeps): Router {
  const r = Router();
  const guard = [authenticate(deps), requireScope("repo:write")];

  r.post("/api/v1/jobs/:id/cancel", ...guard, async (req, res) => {
    const id = parseId(req.params.id);
    const body = parseBody(cancelBody, req);
    idempotencyKey(req);
    const job = id === null ? null : await deps.prisma.workflowJob.findUnique({ where: { id }, select: { run: { select: { repoId: true } } } });
    await authorizeWrite(deps, res, job?.run.repoId, "job");
    await submitIntent(deps, req, res, { name: "cancel-job", targetId: id!, what: "job", okStatus: 202, reason: body.reason });
  });

  r.post("/api/v1/runs/:id/rerun", ...guard, async (req, res) => {
    const id = parseId(req.params.id);
    parseBody(emptyBody, req);
    idempotencyKey(req);
    const run = id === null ? null : await deps.prisma.workflowRun.findUnique({ where: { id }, select: { repoId: true } });
    await authorizeWrite(deps, res, run?.repoId, "run");
    await submitIntent(deps, req, res, { name: "rerun-run", targetId: id!, what: "run", okStatus: 201 });
  });
  return r;
}
