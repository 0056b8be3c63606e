import { Router } from "express";
import { cancelBody, emptyBody, intentRoute, type IntentRouteDeps } from "../submit.ts";

/** Cancel a job, rerun a run: method, path and scope from INTENTS (domain/intents.ts). */
export function lifecycleRoutes(deps: IntentRouteDeps): Router {
  const r = Router();
  intentRoute(r, deps, "cancel-job", cancelBody);
  intentRoute(r, deps, "rerun-run", emptyBody);
  return r;
}
