import { id, query, type Sql } from "../../infra/sql.ts";
import { sql as q } from "../../infra/sqlf.ts";
import { cancelJobTx, cancelRunTx, type Signal } from "./cancel.ts";

// `concurrency:` (docs/lifecycle.md, "Concurrency groups"; docs/decisions.md 20). A run (or job) in a group is stored with its resolved
// group. At creation, `cancel-in-progress` cancels the older open runs (jobs) of the same
// repository and group; otherwise the claim query (claim.ts) makes the newer one wait.

/**
 * Called by insertRun (domain/data/runs.ts) once the run and its jobs exist (same
 * transaction), when their rows ask for it (`supersedes`, domain/lifecycle/newrun.ts,
 * which also resolves the groups): cancels the older open runs of the new run's group,
 * then the older open jobs of each of its jobs' groups, as `cancel-in-progress` asks.
 * Returns the signals for the runners of running jobs, to publish after commit (a caller
 * that cannot publish leaves the runners to learn through their cancel-check poll).
 */
export async function supersedeOlder(sql: Sql, runId: bigint, actorUserId: bigint | null, now = new Date()): Promise<Signal[]> {
  const [run] = await query<{ repo_id: string; run_index: number; concurrency_group: string | null; cancel_in_progress: boolean; job_groups: string[] }>(sql, q`
    SELECT repo_id::text, run_index, concurrency_group, cancel_in_progress,
      ARRAY(SELECT DISTINCT concurrency_group FROM workflow_jobs WHERE run_id = r.id AND concurrency_group IS NOT NULL AND cancel_in_progress) AS job_groups
    FROM workflow_runs r WHERE id = ${id(runId)}::bigint`);
  if (!run) throw new Error(`run ${runId} vanished while superseding older runs`);
  const signals: Signal[] = [];
  const actor = (group: string) => ({ userId: actorUserId, tokenId: null, reason: `superseded by run #${run.run_index} (concurrency group "${group}")` });
  if (run.concurrency_group !== null && run.cancel_in_progress) {
    const older = await query<{ id: string }>(sql, q`
      SELECT id::text FROM workflow_runs WHERE repo_id = ${run.repo_id}::bigint AND concurrency_group = ${run.concurrency_group}::text
        AND id < ${id(runId)}::bigint AND status <> 'completed'
      ORDER BY id`);
    for (const o of older) signals.push(...((await cancelRunTx(sql, BigInt(o.id), actor(run.concurrency_group), now, false))?.signals ?? []));
  }
  for (const group of run.job_groups) {
    const older = await query<{ id: string }>(sql, q`
      SELECT j.id::text FROM workflow_jobs j JOIN workflow_runs r ON r.id = j.run_id
      WHERE j.concurrency_group = ${group}::text AND j.run_id < ${id(runId)}::bigint AND j.status IN ('queued', 'running') AND r.repo_id = ${run.repo_id}::bigint
      ORDER BY j.id`);
    for (const o of older) signals.push(...((await cancelJobTx(sql, BigInt(o.id), actor(group), now))?.signals ?? []));
  }
  return signals;
}
