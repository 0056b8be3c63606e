import type { IntentPayload, IntentResult } from "../../core/contracts.ts";
import { cancelJobTx } from "../../core/data/cancel.ts";
import { num } from "../../core/ids.ts";
import { actorOf, applyIntentSql, rejected, type ProcessorDeps } from "../intent.ts";
import { publishSignals } from "./signals.ts";
import { cancelledBody } from "./cancel-run.ts";

export function cancelJob(deps: ProcessorDeps, p: IntentPayload): Promise<IntentResult> {
  return applyIntentSql(deps, "cancel_job", p, async (sql, now) => {
    const c = await cancelJobTx(sql, BigInt(p.targetId), actorOf(p), now);
    if (!c) return rejected("not_found", "job not found");
    return {
      result: { ok: true, body: { job_id: num(c.jobId), ...cancelledBody(c) } },
      afterCommit: publishSignals(deps, c.signals, p.requestId),
    };
  });
}
