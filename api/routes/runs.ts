import { Router } from "express";
import { parseId, num } from "../../domain/ids.ts";
import { authenticate, idParam, requireScope } from "../auth.ts";
import { authorizeWriteOn, cancelBody, idempotencyKey, parseBody, submitIntent, type IntentRouteDeps } from "../submit.ts";
import { runTimeline } from "../../domain/data/timeline.ts";
import { visibleTarget } from "./read.ts";

/** Whole-run operations: cancel, force-cancel, and the timeline of who did what. */
export function runRoutes(deps: IntentRouteDeps): Router {
  const r = Router();

  for (const [path, name] of [["cancel", "cancel-run"], ["force-cancel", "force-cancel-run"]] as const) {
    r.post(`/api/v1/runs/:id/${path}`, authenticate(deps, idParam("run")), requireScope("repo:write"), async (req, res) => {
      const id = parseId(req.params.id);
      const body = parseBody(cancelBody, req);
      idempotencyKey(req);
      await authorizeWriteOn(deps, res, id === null ? null : { run: id }, "run");
      await submitIntent(deps, req, res, { name, targetId: id!, what: "run", okStatus: 202, reason: body.reason });
    });
  }

  r.get("/api/v1/runs/:id/timeline", authenticate(deps, idParam("run")), requireScope("repo:read"), async (_req, res) => {
    const id = visibleTarget(res, "run");
    res.json({ run_id: num(id), events: await runTimeline(deps.sql, id) });
  });
  return r;
}
