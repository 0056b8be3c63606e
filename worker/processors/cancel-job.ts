import type { IntentPayload, IntentResult } from "../../domain/contracts.ts";
import { INTENTS } from "../../domain/intents.ts";
import { planCancelJob } from "../../domain/data/cancel.ts";
import { num } from "../../domain/ids.ts";
import { actorOf, applyIntentSql, rejected, type IntentKind, type ProcessorDeps } from "../intent.ts";
import { publishSignals } from "./signals.ts";
import { cancelledBody } from "./cancel-run.ts";

export function cancelJob(deps: ProcessorDeps, p: IntentPayload, kind: IntentKind = INTENTS["cancel-job"].kind): Promise<IntentResult> {
  return applyIntentSql(deps, kind, p, async (sql, now) => {
    const d = await planCancelJob(sql, BigInt(p.targetId), actorOf(p), now);
    if (!d) return rejected("not_found", "job not found");
    const c = d.cancelled;
    return {
      result: { ok: true, body: { job_id: num(c.jobId), ...cancelledBody(c) } },
      write: d.write,
      afterCommit: publishSignals(deps, c.signals, p.requestId),
    };
  });
}
