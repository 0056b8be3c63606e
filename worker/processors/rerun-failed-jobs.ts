import type { IntentPayload, IntentResult } from "../../domain/contracts.ts";
import { applyIntentSql, type ProcessorDeps } from "../intent.ts";
import { rerunFrom } from "./rerun-common.ts";

/**
 * POST /runs/{id}/rerun-failed-jobs: a new run where the jobs that succeeded in the source
 * are carried over (reused) and the others, with everything that needs them, run again.
 */
export function rerunFailedJobs(deps: ProcessorDeps, p: IntentPayload): Promise<IntentResult> {
  return applyIntentSql(deps, "rerun_failed_jobs", p, (sql, now) => rerunFrom(sql, deps, p, { run: BigInt(p.targetId) }, now, true));
}
