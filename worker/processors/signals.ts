import { cancelChannel, type CancelSignal } from "../../domain/contracts.ts";
import type { Signal } from "../../domain/data/cancel.ts";
import { num } from "../../domain/ids.ts";
import type { ProcessorDeps } from "../intent.ts";

/** Tells the runners, after commit, which of their jobs to stop. */
export function publishSignals(deps: ProcessorDeps, signals: Signal[], requestId: string | null): (() => Promise<void>) | undefined {
  if (signals.length === 0) return undefined;
  return async () => {
    for (const s of signals) {
      const msg: CancelSignal = {
        job_id: num(s.jobId),
        run_id: num(s.runId),
        runner_id: num(s.runnerId),
        requested_at: s.requestedAt.toISOString(),
        request_id: requestId,
        ...(s.force ? { force: true } : {}),
      };
      await deps.publish(cancelChannel(deps.queuePrefix), JSON.stringify(msg));
    }
  };
}
