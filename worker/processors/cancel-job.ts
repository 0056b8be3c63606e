import { cancelChannel, type CancelSignal, type IntentPayload, type IntentResult } from "../../core/contracts.ts";
import { cancelJobTx } from "../../core/data/jobs.ts";
import { num } from "../../core/ids.ts";
import { applyIntent, rejected, type ProcessorDeps } from "../intent.ts";

export function cancelJob(deps: ProcessorDeps, p: IntentPayload): Promise<IntentResult> {
  return applyIntent(deps, "cancel_job", p, async (tx, now) => {
    const applied = await cancelJobTx(tx, BigInt(p.targetId), BigInt(p.actorUserId), now);
    if (!applied) return rejected("not_found", "job not found");
    const { signal } = applied;
    return {
      result: {
        ok: true,
        body: {
          job_id: num(applied.jobId),
          run_id: num(applied.runId),
          repo_id: num(applied.repoId),
          changed_jobs: applied.changedJobs,
          run_completed: applied.runCompleted,
          run_conclusion: applied.runConclusion ?? "",
        },
      },
      afterCommit: signal
        ? async () => {
            const msg: CancelSignal = {
              job_id: num(signal.jobId),
              run_id: num(signal.runId),
              runner_id: num(signal.runnerId),
              requested_at: signal.requestedAt.toISOString(),
              request_id: p.requestId,
            };
            await deps.publish(cancelChannel(deps.queuePrefix), JSON.stringify(msg));
          }
        : undefined,
    };
  });
}
