import type { IntentPayload, IntentResult } from "../../core/contracts.ts";
import { applyIntent, rejected, type ProcessorDeps } from "../intent.ts";
import { rerunFrom } from "./rerun-common.ts";

/** POST /runs/{id}/rerun: a new run with every job queued again. */
export function rerunRun(deps: ProcessorDeps, p: IntentPayload): Promise<IntentResult> {
  return applyIntent(deps, "rerun_run", p, async (tx, now) => {
    const src = await tx.workflowRun.findUnique({ where: { id: BigInt(p.targetId) } });
    if (!src) return rejected("not_found", "run not found");
    return rerunFrom(tx, deps, p, src, now, null);
  });
}
