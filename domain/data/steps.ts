import { id, query, type Sql } from "../../infra/sql.ts";
import { sql } from "../../infra/sqlf.ts";
import { decideReport, type Report } from "../lifecycle/report.ts";
import type { Conclusion, JobStatus } from "../lifecycle/types.ts";
import { assertNever } from "../../infra/assert.ts";

export type StepApplied = { kind: "ok"; changed: boolean } | { kind: "conflict"; message: string } | { kind: "not_found" };

/** The step, locked, with whether its job was force-cancelled. */
export const lockStepSql = (jobId: bigint, stepId: bigint) => sql`
    SELECT s.status::text AS status, s.conclusion::text AS conclusion, j.force_cancelled
    FROM workflow_steps s JOIN workflow_jobs j ON j.id = s.job_id
    WHERE s.id = ${id(stepId)}::bigint AND s.job_id = ${id(jobId)}::bigint FOR UPDATE OF s`;

/** A runner's report for one step of a job it holds. */
export async function reportStepTx(db: Sql, jobId: bigint, stepId: bigint, report: Report, now: Date): Promise<StepApplied> {
  const rows = await query<{ status: JobStatus; conclusion: Conclusion | null; force_cancelled: boolean }>(db, lockStepSql(jobId, stepId));
  const step = rows[0];
  if (!step) return { kind: "not_found" };
  const d = step.force_cancelled ? { outcome: "noop" as const } : decideReport(step, report);
  switch (d.outcome) {
    case "noop":
      return { kind: "ok", changed: false };
    case "conflict":
      return { kind: "conflict", message: `step ${d.message}` };
    case "start":
      await query(db, sql`UPDATE workflow_steps SET status = 'running', started_at = ${now.toISOString()}::timestamptz WHERE id = ${id(stepId)}::bigint`);
      return { kind: "ok", changed: true };
    case "finish":
      await query(db, sql`UPDATE workflow_steps SET status = ${d.status}::job_status, conclusion = ${d.conclusion}::conclusion,
        completed_at = ${now.toISOString()}::timestamptz WHERE id = ${id(stepId)}::bigint`);
      return { kind: "ok", changed: true };
    default:
      return assertNever(d, "report decision");
  }
}

export type LogApplied =
  | { kind: "ok"; changed: boolean }
  | { kind: "conflict"; message: string }
  | { kind: "not_found" }
  | { kind: "limit" };

// One statement, so the byte count and the chunks never disagree under concurrent appends:
// the job row is locked (FOR NO KEY UPDATE: a racing append waits here, then reads the
// count its predecessor left), the chunk is inserted only if it is new, fits, and its job
// and step are still open, and the count grows by what was inserted. A retry of a stored
// chunk inserts nothing and counts nothing, even when the log is full or the job over.
// Job tokens outlive their job by a minute for retried end reports (docs/security.md), so
// "ended" is checked here, not by the token: after the end a log only answers retries.
export const APPEND_LOG_SQL = `
  WITH job AS (
    SELECT j.log_bytes,
      CASE WHEN j.status IN ('completed', 'cancelled', 'skipped') THEN 'job'
           WHEN s.status IN ('completed', 'cancelled', 'skipped') THEN 'step' END AS ended
    FROM workflow_jobs j JOIN workflow_steps s ON s.id = $2::bigint AND s.job_id = j.id
    WHERE j.id = $1::bigint
    FOR NO KEY UPDATE OF j
  ), prior AS (
    SELECT c.content FROM step_log_chunks c WHERE c.step_id = $2::bigint AND c.seq = $3::int AND EXISTS (SELECT 1 FROM job)
  ), ins AS (
    INSERT INTO step_log_chunks (step_id, seq, content)
    SELECT $2::bigint, $3::int, $4::text FROM job
    WHERE NOT EXISTS (SELECT 1 FROM prior) AND job.ended IS NULL AND job.log_bytes + octet_length($4::text) <= $5::bigint
    ON CONFLICT (step_id, seq) DO NOTHING
    RETURNING octet_length(content) AS bytes
  ), counted AS (
    UPDATE workflow_jobs j SET log_bytes = j.log_bytes + ins.bytes FROM ins WHERE j.id = $1::bigint RETURNING 1
  )
  SELECT EXISTS (SELECT 1 FROM job) AS found, EXISTS (SELECT 1 FROM counted) AS inserted, (SELECT content FROM prior) AS prior,
    COALESCE((SELECT log_bytes + octet_length($4::text) <= $5::bigint FROM job), false) AS fits, (SELECT ended FROM job) AS ended`;

export interface AppendRow {
  found: boolean;
  inserted: boolean;
  /** The stored chunk under this seq, as this statement saw it. */
  prior: string | null;
  fits: boolean;
  /** Which of the two is terminal (the job first); null while both are open. */
  ended: "job" | "step" | null;
}

export type AppendDecision = LogApplied | { kind: "reread" };

export const endedMessage = (what: "job" | "step") => `${what} has ended: it takes no new log chunks (a retry of a stored one is still answered)`;

/** `content` is normalised (logText) so a retry compares equal to what was stored. */
export function decideAppend(row: AppendRow, content: string, seq: number): AppendDecision {
  if (!row.found) return { kind: "not_found" };
  if (row.inserted) return { kind: "ok", changed: true };
  if (row.prior !== null) return row.prior === content ? { kind: "ok", changed: false } : { kind: "conflict", message: `log chunk ${seq} already written` };
  if (row.ended !== null) return { kind: "conflict", message: endedMessage(row.ended) };
  if (!row.fits) return { kind: "limit" };
  // A concurrent append of the same seq committed after this statement's snapshot.
  return { kind: "reread" };
}

/** Appends one log chunk of a job's step, within the job's byte budget; a retried chunk is accepted once. */
export async function appendLog(db: Sql, jobId: bigint, stepId: bigint, seq: number, content: string, maxBytes: number): Promise<LogApplied> {
  // A constant text, not a fragment: the chunk's content is bound once and used three times.
  const [row] = await db.rows<AppendRow>(APPEND_LOG_SQL, [id(jobId), id(stepId), seq, content, String(maxBytes)]);
  const d = decideAppend(row!, content, seq);
  if (d.kind !== "reread") return d;
  const [stored] = await query<{ content: string }>(db, sql`SELECT content FROM step_log_chunks WHERE step_id = ${id(stepId)}::bigint AND seq = ${seq}::int`);
  const again = decideAppend({ ...row!, prior: stored?.content ?? null }, content, seq);
  return again.kind === "reread" ? { kind: "not_found" } : again;
}
