import type { IntentPayload, IntentResult } from "../../domain/contracts.ts";
import { INTENTS } from "../../domain/intents.ts";
import { applyIntentSql, type IntentKind, type ProcessorDeps } from "../intent.ts";
import { rerunFrom } from "./rerun-common.ts";

/** POST /runs/{id}/rerun: a new run with every job queued again. */
export function rerunRun(deps: ProcessorDeps, p: IntentPayload, kind: IntentKind = INTENTS["rerun-run"].kind): Promise<IntentResult> {
  return applyIntentSql(deps, kind, p, (sql, now) => rerunFrom(sql, deps, p, { kind: "full", runId: BigInt(p.targetId) }, now));
}
