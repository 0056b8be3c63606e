import type { Tx } from "../db.ts";
import { asSql, id, ids, ts, type Sql } from "../sql.ts";
import { lockRunOfJob, runWriteCtes, settlePlan, type Locked } from "./settlement.ts";
import { cancelJobsOfRunTx, type Cancelled } from "./cancel.ts";
import { failFast } from "../lifecycle/settle.ts";
import type { Conclusion } from "../lifecycle/types.ts";
import { decideReport, type Report } from "../lifecycle/report.ts";
import { assertNever } from "../assert.ts";

export type ReportApplied =
  /** `cancelRequestedAt`: on a report that ended the job, when a cancel had been requested (null if none). */
  | { kind: "ok"; changed: boolean; runCompleted: boolean; cancelRequestedAt?: Date | null; failFast?: Cancelled }
  | { kind: "conflict"; message: string }
  | { kind: "not_found" };

// One job's report as one statement: the job's new state, its steps closed, then what
// the run's settlement decided (dependents skipped, the run rolled up; see runWriteCtes).
export const REPORT_WRITE_SQL = `
  WITH job AS (
    UPDATE workflow_jobs SET status = $2::text::job_status, conclusion = $3::text::conclusion, updated_at = $4::timestamptz,
      started_at = CASE WHEN $2::text = 'running' THEN $4::timestamptz ELSE started_at END,
      completed_at = CASE WHEN $2::text = 'running' THEN completed_at ELSE $4::timestamptz END
    WHERE id = $1::bigint RETURNING id
  ), running_steps AS (
    UPDATE workflow_steps SET completed_at = $4::timestamptz,
      status = CASE WHEN $2::text = 'completed' THEN 'completed' ELSE $2::text END::job_status,
      conclusion = CASE WHEN $2::text = 'completed' THEN COALESCE($3::text, 'failure') ELSE $2::text END::conclusion
    WHERE $2::text <> 'running' AND job_id = $1::bigint AND status = 'running' RETURNING 1
  ), queued_steps AS (
    UPDATE workflow_steps SET completed_at = $4::timestamptz,
      status = CASE WHEN $2::text = 'completed' THEN 'skipped' ELSE $2::text END::job_status,
      conclusion = CASE WHEN $2::text = 'completed' THEN 'skipped' ELSE $2::text END::conclusion
    WHERE $2::text <> 'running' AND job_id = $1::bigint AND status = 'queued' RETURNING 1
  ), ${runWriteCtes("$5", "$6", "$7", "$8", "$4")}
  SELECT (SELECT status FROM run) AS run_status`;

/**
 * fail-fast (docs/workflows.md): a failed matrix expansion cancels the rest of its matrix,
 * through the cancel machinery, in the report's transaction. The runners of running
 * siblings learn it from their cancel-check poll (the API's Redis user publishes nothing).
 */
async function applyFailFast(sql: Sql, locked: Locked, jobId: number, conclusion: Conclusion, now: Date): Promise<Cancelled | null> {
  const members = locked.jobs.map((j) => ({ id: j.id, jobKey: j.job_key, matrixKey: j.matrix_key, failFast: j.fail_fast, status: j.status }));
  const ff = failFast(members, { id: jobId, conclusion });
  if (!ff.cancel) return null;
  return cancelJobsOfRunTx(sql, BigInt(locked.run.id), ff.jobIds, { userId: null, tokenId: null, reason: ff.reason }, now);
}

/** Applies a runner's status report for a job it holds. */
export async function reportJobTx(db: Sql | Tx, jobId: bigint, report: Report, now: Date): Promise<ReportApplied> {
  const sql = asSql(db);
  const locked = await lockRunOfJob(sql, jobId);
  const job = locked?.jobs.find((j) => BigInt(j.id) === jobId);
  if (!locked || !job) return { kind: "not_found" };
  // Force-cancelled: whatever the runner says afterwards is accepted and changes nothing.
  const d = job.force_cancelled ? { outcome: "noop" as const } : decideReport(job, report);
  switch (d.outcome) {
    case "noop":
      return { kind: "ok", changed: false, runCompleted: false };
    case "conflict":
      return { kind: "conflict", message: `job ${d.message}` };
    case "start":
    case "finish": {
      const to = d.outcome === "start" ? { status: "running" as const, conclusion: null } : { status: d.status, conclusion: d.conclusion };
      const p = settlePlan(locked, new Map([[job.id, to]]));
      const [w] = await sql.rows<{ run_status: string | null }>(REPORT_WRITE_SQL, [
        id(jobId), to.status, to.conclusion, ts(now), ids(p.skip), id(locked.run.id), p.run?.status ?? null, p.run?.conclusion ?? null,
      ]);
      if (d.outcome === "start") return { kind: "ok", changed: true, runCompleted: false };
      const ff = to.conclusion === null ? null : await applyFailFast(sql, locked, job.id, to.conclusion, now);
      const runCompleted = w!.run_status === "completed" || (ff?.runCompleted ?? false);
      return { kind: "ok", changed: true, runCompleted, cancelRequestedAt: job.cancel_requested_at === null ? null : new Date(job.cancel_requested_at), ...(ff ? { failFast: ff } : {}) };
    }
    default:
      return assertNever(d, "report decision");
  }
}
