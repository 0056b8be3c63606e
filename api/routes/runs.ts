import { Router } from "express";
import { num } from "../../domain/ids.ts";
import { authenticate, idParam, requireScope } from "../auth.ts";
import { cancelBody, intentRoute, type IntentRouteDeps } from "../submit.ts";
import { runTimeline } from "../../domain/data/timeline.ts";
import { visibleTarget } from "./read.ts";

/** Whole-run operations: cancel, force-cancel, and the timeline of who did what. */
export function runRoutes(deps: IntentRouteDeps): Router {
  const r = Router();
  intentRoute(r, deps, "cancel-run", cancelBody);
  intentRoute(r, deps, "force-cancel-run", cancelBody);

  r.get("/api/v1/runs/:id/timeline", authenticate(deps, idParam("run")), requireScope("repo:read"), async (_req, res) => {
    const id = visibleTarget(res, "run");
    res.json({ run_id: num(id), events: await runTimeline(deps.sql, id) });
  });
  return r;
}
