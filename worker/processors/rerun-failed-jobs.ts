import type { IntentPayload, IntentResult } from "../../domain/contracts.ts";
import { INTENTS } from "../../domain/intents.ts";
import { applyIntentSql, type IntentKind, type ProcessorDeps } from "../intent.ts";
import { rerunFrom } from "./rerun-common.ts";

/**
 * POST /runs/{id}/rerun-failed-jobs: a new run where the jobs that succeeded in the source
 * are carried over (reused) and the others, with everything that needs them, run again.
 */
export function rerunFailedJobs(deps: ProcessorDeps, p: IntentPayload, kind: IntentKind = INTENTS["rerun-failed-jobs"].kind): Promise<IntentResult> {
  return applyIntentSql(deps, kind, p, (sql, now) => rerunFrom(sql, deps, p, { kind: "failed", runId: BigInt(p.targetId) }, now));
}
