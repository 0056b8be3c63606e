import type { IntentPayload, IntentResult } from "../../core/contracts.ts";
import { cancelJobTx } from "../../core/data/cancel.ts";
import { num } from "../../core/ids.ts";
import { actorOf, applyIntent, rejected, type ProcessorDeps } from "../intent.ts";
import { publishSignals } from "./signals.ts";

export function cancelJob(deps: ProcessorDeps, p: IntentPayload): Promise<IntentResult> {
  return applyIntent(deps, "cancel_job", p, async (tx, now) => {
    const c = await cancelJobTx(tx, BigInt(p.targetId), actorOf(p), now);
    if (!c) return rejected("not_found", "job not found");
    return {
      result: {
        ok: true,
        body: {
          job_id: num(c.jobId),
          run_id: num(c.runId),
          repo_id: num(c.repoId),
          changed_jobs: c.changedJobs,
          run_completed: c.runCompleted,
          run_conclusion: c.runConclusion ?? "",
        },
      },
      afterCommit: publishSignals(deps, c.signals, p.requestId),
    };
  });
}
