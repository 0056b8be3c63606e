import type { Tx } from "../db.ts";
import { resolveGroup, type ConcurrencySpec, type GroupContext, type WorkflowSpec } from "../workflow.ts";
import { cancelJobTx, cancelRunTx, type Signal } from "./cancel.ts";

// `concurrency:` (issue 6, item 7). A run (or job) in a group is stored with its resolved
// group. At creation, `cancel-in-progress` cancels the older open runs (jobs) of the same
// repository and group; otherwise the claim query (claim.ts) makes the newer one wait.

/** The run's values the group expressions refer to (github.workflow is the stored workflow_name). */
export function groupContext(seed: { headRef: string; headSha: string; event: string; workflowFile: string }, workflow: WorkflowSpec): GroupContext {
  return { ref: seed.headRef, sha: seed.headSha, event: seed.event, workflow: workflow.name ?? seed.workflowFile.split("/").pop() ?? seed.workflowFile };
}

/** The columns a run or job row gets for its `concurrency:` (none without one). */
export function groupColumns(spec: ConcurrencySpec | undefined, ctx: GroupContext) {
  if (!spec) return {};
  return { concurrencyGroup: resolveGroup(spec.group, ctx), cancelInProgress: spec.cancelInProgress };
}

/**
 * Called by createRun once the run and its jobs exist (same transaction): cancels the
 * older open runs of the new run's group, then the older open jobs of each of its jobs'
 * groups, when `cancel-in-progress` asks for it. Returns the signals for the runners of
 * running jobs, to publish after commit (a caller that cannot publish leaves the runners
 * to learn through their cancel-check poll).
 */
export async function supersedeOlder(tx: Tx, runId: bigint, actorUserId: bigint | null, workflow: WorkflowSpec, now = new Date()): Promise<Signal[]> {
  if (!workflow.concurrency?.cancelInProgress && !workflow.jobs.some((j) => j.concurrency?.cancelInProgress)) return [];
  const run = await tx.workflowRun.findUniqueOrThrow({
    where: { id: runId },
    select: { repoId: true, runIndex: true, concurrencyGroup: true, cancelInProgress: true, jobs: { select: { concurrencyGroup: true, cancelInProgress: true } } },
  });
  const signals: Signal[] = [];
  const actor = (group: string) => ({ userId: actorUserId, tokenId: null, reason: `superseded by run #${run.runIndex} (concurrency group "${group}")` });
  if (run.concurrencyGroup !== null && run.cancelInProgress) {
    const older = await tx.workflowRun.findMany({
      where: { repoId: run.repoId, concurrencyGroup: run.concurrencyGroup, id: { lt: runId }, status: { not: "completed" } },
      select: { id: true },
      orderBy: { id: "asc" },
    });
    for (const o of older) signals.push(...((await cancelRunTx(tx, o.id, actor(run.concurrencyGroup), now, false))?.signals ?? []));
  }
  const jobGroups = new Set(run.jobs.filter((j) => j.concurrencyGroup !== null && j.cancelInProgress).map((j) => j.concurrencyGroup!));
  for (const group of jobGroups) {
    const older = await tx.workflowJob.findMany({
      where: { concurrencyGroup: group, runId: { lt: runId }, status: { in: ["queued", "running"] }, run: { repoId: run.repoId } },
      select: { id: true },
      orderBy: { id: "asc" },
    });
    for (const o of older) signals.push(...((await cancelJobTx(tx, o.id, actor(group), now))?.signals ?? []));
  }
  return signals;
}
