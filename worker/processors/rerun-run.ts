import type { IntentPayload, IntentResult } from "../../core/contracts.ts";
import { createRun, loadWorkflowAt, rerunTriggerId } from "../../core/data/runs.ts";
import { num } from "../../core/ids.ts";
import type { Prisma } from "../../core/db.ts";
import { applyIntent, rejected, type ProcessorDeps } from "../intent.ts";

export function rerunRun(deps: ProcessorDeps, p: IntentPayload): Promise<IntentResult> {
  return applyIntent(deps, "rerun_run", p, async (tx) => {
    const sourceId = BigInt(p.targetId);
    const src = await tx.workflowRun.findUnique({ where: { id: sourceId } });
    if (!src) return rejected("not_found", "run not found");
    // A completed run never reopens, so its status needs no lock to be decided on.
    if (src.status !== "completed") return rejected("not_rerunnable", "run is not rerunnable");
    const wf = await loadWorkflowAt(tx, src.repoId, src.workflowFile, src.headSha);
    if (!wf.ok) {
      return wf.reason === "source_unavailable"
        ? rejected("source_unavailable", "workflow source unavailable")
        : rejected("source_invalid", `workflow source invalid: ${wf.errors.join("; ")}`);
    }
    const run = await createRun(
      tx,
      {
        repoId: src.repoId,
        workflowFile: src.workflowFile,
        headSha: src.headSha,
        headRef: src.headRef,
        event: src.event,
        eventPayload: src.eventPayload as Prisma.InputJsonValue,
        actorUserId: BigInt(p.actorUserId),
        parentRunId: src.id,
        triggerEventId: rerunTriggerId(src.id),
      },
      wf.workflow,
    );
    return {
      result: {
        ok: true,
        body: {
          run_id: num(run.id),
          run_index: run.runIndex,
          parent_run_id: num(src.id),
          repo_id: num(src.repoId),
          workflow_file: src.workflowFile,
          head_sha: src.headSha,
        },
      },
    };
  });
}
