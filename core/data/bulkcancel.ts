import { z } from "zod";
import type { PrismaClient, Tx } from "../db.ts";
import { Prisma } from "../db.ts";
import { cancelRunTx, type CancelActor, type Signal } from "./cancel.ts";
import { sqlText } from "../text.ts";

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
export function matchRuns(db: Tx | PrismaClient, repoId: bigint, f: BulkFilters): Promise<MatchedRun[]> {
  const conds: Prisma.Sql[] = [Prisma.sql`repo_id = ${repoId}`];
  conds.push(f.status ? Prisma.sql`status = ${f.status}::run_status` : Prisma.sql`status IN ('queued', 'running')`);
  if (f.workflow_file !== undefined) {
    conds.push(Prisma.sql`workflow_file IN (${f.workflow_file}, ${`.shithub/workflows/${f.workflow_file}`})`);
  }
  if (f.head_ref !== undefined) conds.push(Prisma.sql`head_ref IN (${f.head_ref}, ${`refs/heads/${f.head_ref}`})`);
  if (f.created_before !== undefined) conds.push(Prisma.sql`created_at < ${new Date(f.created_before)}`);
  return db.$queryRaw<MatchedRun[]>`
    SELECT id, run_index, status::text AS status, workflow_file, head_ref FROM workflow_runs
    WHERE ${Prisma.join(conds, " AND ")} ORDER BY id LIMIT ${f.limit}`;
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
export async function bulkCancelTx(tx: Tx, repoId: bigint, f: BulkFilters, actor: CancelActor, now: Date): Promise<BulkCancelled> {
  const matched = await matchRuns(tx, repoId, f);
  let changedJobs = 0;
  const signals: Signal[] = [];
  for (const run of matched) {
    const c = await cancelRunTx(tx, run.id, actor, now, false);
    if (!c) continue;
    changedJobs += c.changedJobs;
    signals.push(...c.signals);
  }
  return { matched, changedJobs, signals };
}

export function matchedView(runs: MatchedRun[]) {
  return runs.map((r) => ({ id: Number(r.id), run_index: Number(r.run_index), status: r.status, workflow_file: r.workflow_file, head_ref: r.head_ref }));
}
