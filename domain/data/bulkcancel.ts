import { z } from "zod";
import { id, query, ts, type Sql } from "../../infra/sql.ts";
import { sql, type Fragment } from "../../infra/sqlf.ts";
import { cancelRunTx, type CancelActor, type Signal } from "./cancel.ts";
import { sqlText } from "../../infra/text.ts";

// Bulk cancel (docs/api.md, "Cancel in bulk"; docs/decisions.md 16): the filters, the matching query both the API (dry run)
// and the worker (the cancel itself) use, and the cancel of every matched run.

export const BULK_CANCEL_MAX = 500;
export const BULK_CANCEL_DEFAULT = 100;

/** The filters, as the API validates them and the worker re-parses them from the intent. */
export const bulkFilters = z.strictObject({
  workflow_file: sqlText(z.string().min(1).max(500)).optional(),
  head_ref: sqlText(z.string().min(1).max(500)).optional(),
  /** Only open runs can be cancelled; without it both queued and running runs match. */
  status: z.enum(["queued", "running"]).optional(),
  created_before: z.iso.datetime({ offset: true }).optional(),
  limit: z.number().int().min(1).max(BULK_CANCEL_MAX).default(BULK_CANCEL_DEFAULT),
});
export type BulkFilters = z.infer<typeof bulkFilters>;

export interface MatchedRun {
  id: bigint;
  run_index: number;
  status: string;
  workflow_file: string;
  head_ref: string;
}

/**
 * The open runs of a repository that match, oldest first (id order, which is also the
 * order the cancel locks them in). `workflow_file` matches the stored path or the file
 * name under `.shithub/workflows/`; `head_ref` the stored ref or a branch name under
 * `refs/heads/`.
 */
export function matchRunsSql(repoId: bigint, f: BulkFilters): Fragment {
  const conds: Fragment[] = [sql`repo_id = ${id(repoId)}::bigint`];
  conds.push(f.status ? sql`status = ${f.status}::text::run_status` : sql`status IN ('queued', 'running')`);
  if (f.workflow_file !== undefined) {
    conds.push(sql`workflow_file IN (${f.workflow_file}::text, ${`.shithub/workflows/${f.workflow_file}`}::text)`);
  }
  if (f.head_ref !== undefined) conds.push(sql`head_ref IN (${f.head_ref}::text, ${`refs/heads/${f.head_ref}`}::text)`);
  if (f.created_before !== undefined) conds.push(sql`created_at < ${ts(new Date(f.created_before))}::timestamptz`);
  return sql`
    SELECT id, run_index, status::text AS status, workflow_file, head_ref FROM workflow_runs
    WHERE ${sql.join(conds, " AND ")} ORDER BY id LIMIT ${f.limit}::int`;
}

export function matchRuns(db: Sql, repoId: bigint, f: BulkFilters): Promise<MatchedRun[]> {
  return query<MatchedRun>(db, matchRunsSql(repoId, f));
}

export interface BulkCancelled {
  matched: MatchedRun[];
  changedJobs: number;
  signals: Signal[];
}

/**
 * Cancels every matched run, one after the other in id order, inside the caller's
 * transaction (the intent's): each run is locked and cancelled as POST /runs/{id}/cancel
 * does. A run that ended between the match and its lock changes nothing.
 */
export async function bulkCancelTx(sql: Sql, repoId: bigint, f: BulkFilters, actor: CancelActor, now: Date): Promise<BulkCancelled> {
  const matched = await matchRuns(sql, repoId, f);
  let changedJobs = 0;
  const signals: Signal[] = [];
  for (const run of matched) {
    const c = await cancelRunTx(sql, run.id, actor, now, false);
    if (!c) continue;
    changedJobs += c.changedJobs;
    signals.push(...c.signals);
  }
  return { matched, changedJobs, signals };
}

export function matchedView(runs: MatchedRun[]) {
  return runs.map((r) => ({ id: Number(r.id), run_index: Number(r.run_index), status: r.status, workflow_file: r.workflow_file, head_ref: r.head_ref }));
}
