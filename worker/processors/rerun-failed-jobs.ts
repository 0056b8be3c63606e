import type { IntentPayload, IntentResult } from "../../core/contracts.ts";
import { applyIntent, rejected, type ProcessorDeps } from "../intent.ts";
import { rerunFrom } from "./rerun-common.ts";

/**
 * POST /runs/{id}/rerun-failed-jobs: a new run where the jobs that succeeded in the source
 * are carried over (reused) and the others, with everything that needs them, run again.
 */
export function rerunFailedJobs(deps: ProcessorDeps, p: IntentPayload): Promise<IntentResult> {
  return applyIntent(deps, "rerun_failed_jobs", p, async (tx, now) => {
    const src = await tx.workflowRun.findUnique({ where: { id: BigInt(p.targetId) } });
    if (!src) return rejected("not_found", "run not found");
    return rerunFrom(tx, deps, p, src, now, { kind: "failed" });
  });
}
