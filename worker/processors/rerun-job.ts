import type { IntentPayload, IntentResult } from "../../domain/contracts.ts";
import { INTENTS } from "../../domain/intents.ts";
import { applyIntentSql, type IntentKind, type ProcessorDeps } from "../intent.ts";
import { rerunFrom } from "./rerun-common.ts";

/**
 * POST /jobs/{id}/rerun: a new run of the job's run where that job and its dependents run
 * again (with what it needs that did not succeed) and every other job is carried over.
 */
export function rerunJob(deps: ProcessorDeps, p: IntentPayload, kind: IntentKind = INTENTS["rerun-job"].kind): Promise<IntentResult> {
  return applyIntentSql(deps, kind, p, (sql, now) => rerunFrom(sql, deps, p, { kind: "job", jobId: BigInt(p.targetId) }, now));
}
