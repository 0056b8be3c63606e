import { Router } from "express";
import { emptyBody, intentRoute, type IntentRouteDeps } from "../submit.ts";

/**
 * Partial reruns: only what failed, or one job and what depends on it. Both answer 201
 * with the body of POST /runs/{id}/rerun; the rest of the new run is carried over.
 */
export function rerunRoutes(deps: IntentRouteDeps): Router {
  const r = Router();
  intentRoute(r, deps, "rerun-failed-jobs", emptyBody);
  intentRoute(r, deps, "rerun-job", emptyBody);
  return r;
}
