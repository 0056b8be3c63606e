import type { IntentPayload, IntentResult } from "../../domain/contracts.ts";
import { applyIntentSql, type ProcessorDeps } from "../intent.ts";
import { rerunFrom } from "./rerun-common.ts";

/** POST /runs/{id}/rerun: a new run with every job queued again. */
export function rerunRun(deps: ProcessorDeps, p: IntentPayload): Promise<IntentResult> {
  return applyIntentSql(deps, "rerun_run", p, (sql, now) => rerunFrom(sql, deps, p, { run: BigInt(p.targetId) }, now));
}
