import { Router } from "express";
import { parseId, num } from "../../core/ids.ts";
import { repoAccess } from "../../core/data/access.ts";
import { authenticate, idParam, requireScope, tokenOf } from "../auth.ts";
import { notFound } from "../errors.ts";
import { authorizeWriteOn, cancelBody, idempotencyKey, parseBody, submitIntent, type IntentRouteDeps } from "../submit.ts";
import { runTimeline } from "../../core/data/timeline.ts";

/** Whole-run operations: cancel, force-cancel, and the timeline of who did what. */
export function runRoutes(deps: IntentRouteDeps): Router {
  const r = Router();
  const auth = authenticate(deps);
  const runRepo = async (id: bigint | null) =>
    id === null ? undefined : (await deps.prisma.workflowRun.findUnique({ where: { id }, select: { repoId: true } }))?.repoId;

  for (const [path, name] of [["cancel", "cancel-run"], ["force-cancel", "force-cancel-run"]] as const) {
    r.post(`/api/v1/runs/:id/${path}`, authenticate(deps, idParam("run")), requireScope("repo:write"), async (req, res) => {
      const id = parseId(req.params.id);
      const body = parseBody(cancelBody, req);
      idempotencyKey(req);
      await authorizeWriteOn(deps, res, id === null ? null : { run: id }, "run");
      await submitIntent(deps, req, res, { name, targetId: id!, what: "run", okStatus: 202, reason: body.reason });
    });
  }

  r.get("/api/v1/runs/:id/timeline", auth, requireScope("repo:read"), async (req, res) => {
    const id = parseId(req.params.id);
    const repoId = await runRepo(id);
    if (repoId === undefined || (await repoAccess(deps.sql, tokenOf(res), repoId)) === "none") throw notFound("run");
    res.json({ run_id: num(id!), events: await runTimeline(deps.prisma, id!) });
  });
  return r;
}
