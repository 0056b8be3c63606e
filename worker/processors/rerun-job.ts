import type { IntentPayload, IntentResult } from "../../core/contracts.ts";
import { applyIntent, rejected, type ProcessorDeps } from "../intent.ts";
import { rerunFrom } from "./rerun-common.ts";

/**
 * POST /jobs/{id}/rerun: a new run of the job's run where that job and its dependents run
 * again (with what it needs that did not succeed) and every other job is carried over.
 */
export function rerunJob(deps: ProcessorDeps, p: IntentPayload): Promise<IntentResult> {
  return applyIntent(deps, "rerun_job", p, async (tx, now) => {
    const job = await tx.workflowJob.findUnique({ where: { id: BigInt(p.targetId) }, select: { jobKey: true, run: true } });
    if (!job) return rejected("not_found", "job not found");
    return rerunFrom(tx, deps, p, job.run, now, { kind: "job", jobKey: job.jobKey });
  });
}
