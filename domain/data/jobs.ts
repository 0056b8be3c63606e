import { id, query, ts, type Sql } from "../../infra/sql.ts";
import { sql as q, type Fragment } from "../../infra/sqlf.ts";
import { lockJobAround, runWriteCtes, settleJobPlan, type JobAround, type SettlementPlan } from "./settlement.ts";
import { cancelJobsOfRunTx, type Cancelled } from "./cancel.ts";
import { failFast, failsItsMatrix } from "../lifecycle/settle.ts";
import type { Conclusion, JobStatus } from "../lifecycle/types.ts";
import { decideReport, type Report } from "../lifecycle/report.ts";
import { assertNever } from "../../infra/assert.ts";

export type ReportApplied =
  /** `cancelRequestedAt`: on a report that ended the job, when a cancel had been requested (null if none). */
  | { kind: "ok"; changed: boolean; runCompleted: boolean; cancelRequestedAt?: Date | null; failFast?: Cancelled }
  | { kind: "conflict"; message: string }
  | { kind: "not_found" };

/** A report's write: the job's new state, at one time, and the run's settlement. */
export interface ReportWrite {
  jobId: bigint;
  status: JobStatus;
  conclusion: Conclusion | null;
  at: Date;
  settlement: { skip: readonly number[]; runId: number | bigint; run: SettlementPlan["run"] };
}

// One job's report as one statement: the job's new state, its steps closed, then what
// the run's settlement decided (dependents skipped, the run rolled up; see runWriteCtes).
export function reportWriteSql(w: ReportWrite): Fragment {
  const [job, status, conclusion, at] = [id(w.jobId), w.status, w.conclusion, ts(w.at)];
  return q`
  WITH job AS (
    UPDATE workflow_jobs SET status = ${status}::text::job_status, conclusion = ${conclusion}::text::conclusion, updated_at = ${at}::timestamptz,
      started_at = CASE WHEN ${status}::text = 'running' THEN ${at}::timestamptz ELSE started_at END,
      completed_at = CASE WHEN ${status}::text = 'running' THEN completed_at ELSE ${at}::timestamptz END
    WHERE id = ${job}::bigint RETURNING id
  ), running_steps AS (
    UPDATE workflow_steps SET completed_at = ${at}::timestamptz,
      status = CASE WHEN ${status}::text = 'completed' THEN 'completed' ELSE ${status}::text END::job_status,
      conclusion = CASE WHEN ${status}::text = 'completed' THEN COALESCE(${conclusion}::text, 'failure') ELSE ${status}::text END::conclusion
    WHERE ${status}::text <> 'running' AND job_id = ${job}::bigint AND status = 'running' RETURNING 1
  ), queued_steps AS (
    UPDATE workflow_steps SET completed_at = ${at}::timestamptz,
      status = CASE WHEN ${status}::text = 'completed' THEN 'skipped' ELSE ${status}::text END::job_status,
      conclusion = CASE WHEN ${status}::text = 'completed' THEN 'skipped' ELSE ${status}::text END::conclusion
    WHERE ${status}::text <> 'running' AND job_id = ${job}::bigint AND status = 'queued' RETURNING 1
  ), ${runWriteCtes({ ...w.settlement, at: w.at })}
  SELECT (SELECT status FROM run) AS run_status`;
}

/**
 * fail-fast (docs/workflows.md): a failed matrix expansion cancels the rest of its matrix,
 * through the cancel machinery, in the report's transaction. The runners of running
 * siblings learn it from their cancel-check poll (the API's Redis user publishes nothing).
 */
async function applyFailFast(sql: Sql, a: JobAround, conclusion: Conclusion, now: Date): Promise<Cancelled | null> {
  const job = { id: a.job.id, jobKey: a.job.job_key, matrixKey: a.job.matrix_key, failFast: a.job.fail_fast, status: a.job.status };
  if (!failsItsMatrix(job, conclusion)) return null;
  const siblings = await query<{ id: string; job_key: string; status: JobStatus }>(sql, openSiblingsSql(a));
  const members = siblings.map((j) => ({ id: Number(j.id), jobKey: j.job_key, matrixKey: job.matrixKey, failFast: job.failFast, status: j.status }));
  const ff = failFast([job, ...members], { id: job.id, conclusion });
  if (!ff.cancel) return null;
  return cancelJobsOfRunTx(sql, BigInt(a.run.id), ff.jobIds, { userId: null, tokenId: null, reason: ff.reason }, now);
}

/** The open jobs of the job's matrix beside it (the max-parallel index serves this). */
const openSiblingsSql = (a: JobAround) => q`
  SELECT id::text AS id, job_key, status::text AS status FROM workflow_jobs
  WHERE run_id = ${id(a.run.id)}::bigint AND matrix_key = ${a.job.matrix_key}::text AND status IN ('queued', 'running') AND id <> ${id(a.job.id)}::bigint`;

/** Applies a runner's status report for a job it holds. */
export async function reportJobTx(sql: Sql, jobId: bigint, report: Report, now: Date): Promise<ReportApplied> {
  const a = await lockJobAround(sql, jobId);
  return a ? reportAroundTx(sql, a, report, now) : { kind: "not_found" };
}

/** The same, on the job's run its caller already locked and read (the reaper decides on it first). */
export async function reportAroundTx(sql: Sql, a: JobAround, report: Report, now: Date): Promise<ReportApplied> {
  const { job } = a;
  const jobId = BigInt(job.id);
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
      const p = await settleJobPlan(sql, a, to);
      const [w] = await query<{ run_status: string | null }>(sql, reportWriteSql({
        jobId, status: to.status, conclusion: to.conclusion, at: now, settlement: { skip: p.skip, runId: a.run.id, run: p.run },
      }));
      if (d.outcome === "start") return { kind: "ok", changed: true, runCompleted: false };
      const ff = to.conclusion === null ? null : await applyFailFast(sql, a, to.conclusion, now);
      const runCompleted = w!.run_status === "completed" || (ff?.runCompleted ?? false);
      return { kind: "ok", changed: true, runCompleted, cancelRequestedAt: job.cancel_requested_at === null ? null : new Date(job.cancel_requested_at), ...(ff ? { failFast: ff } : {}) };
    }
    default:
      return assertNever(d, "report decision");
  }
}
