import type { IntentPayload, IntentResult } from "../../domain/contracts.ts";
import { INTENTS } from "../../domain/intents.ts";
import { planCancelRun, type Cancelled } from "../../domain/data/cancel.ts";
import { num } from "../../domain/ids.ts";
import { actorOf, applyIntentSql, rejected, type IntentKind, type ProcessorDeps } from "../intent.ts";
import { publishSignals } from "./signals.ts";

function cancelRunWith(force: boolean) {
  const recorded: IntentKind = INTENTS[force ? "force-cancel-run" : "cancel-run"].kind;
  return (deps: ProcessorDeps, p: IntentPayload, kind: IntentKind = recorded): Promise<IntentResult> =>
    applyIntentSql(deps, kind, p, async (sql, now) => {
      const d = await planCancelRun(sql, BigInt(p.targetId), actorOf(p), now, force);
      if (!d) return rejected("not_found", "run not found");
      return { result: { ok: true, body: cancelledBody(d.cancelled) }, write: d.write, afterCommit: publishSignals(deps, d.cancelled.signals, p.requestId) };
    });
}

/** What a cancel route answers about the run it touched. */
export function cancelledBody(c: Cancelled) {
  return {
    run_id: num(c.runId),
    repo_id: num(c.repoId),
    changed_jobs: c.changedJobs,
    run_completed: c.runCompleted,
    run_conclusion: c.runConclusion ?? "",
  };
}

export const cancelRun = cancelRunWith(false);
export const forceCancelRun = cancelRunWith(true);
