import { id, type Sql } from "../../infra/sql.ts";

// The read views' rows, in plain SQL. Callers have already decided the caller may see the
// target (api/auth.ts: token and access in one statement), so nothing here runs for a
// target the caller cannot see.

export interface RunRow {
  id: bigint; repoId: bigint; runIndex: number; workflowFile: string; workflowName: string; headSha: string;
  headRef: string; event: string; status: string; conclusion: string | null; parentRunId: bigint | null;
  createdAt: Date; startedAt: Date | null; completedAt: Date | null;
  actor: { id: bigint; login: string } | null;
  attempt: number; originalRunId: bigint | null;
}

export interface JobRow {
  id: bigint; runId: bigint; jobKey: string; name: string; runsOn: string; needs: string[];
  status: string; conclusion: string | null; cancelRequested: boolean; cancelRequestedAt: Date | null;
  runnerId: bigint | null; startedAt: Date | null; completedAt: Date | null; reused: boolean;
  cancelReason: string | null; cancelRequestedTokenId: bigint | null;
  cancelRequester: { id: bigint; login: string } | null;
  createdAt: Date;
}

export interface StepRow {
  id: bigint; stepIndex: number; name: string; status: string; conclusion: string | null;
  startedAt: Date | null; completedAt: Date | null;
}

const big = (v: string | null) => (v === null ? null : BigInt(v));

export const RUN_COLUMNS = `r.id::text, r.repo_id::text, r.run_index, r.workflow_file, r.workflow_name, r.head_sha, r.head_ref, r.event,
    r.status::text, r.conclusion::text, r.parent_run_id::text, r.created_at, r.started_at, r.completed_at, r.attempt,
    r.original_run_id::text, a.id::text AS actor_id, a.login AS actor_login
  FROM workflow_runs r LEFT JOIN users a ON a.id = r.actor_user_id`;
const RUN_SQL = `SELECT ${RUN_COLUMNS} WHERE r.id = $1::bigint`;

export interface RawRun {
  id: string; repo_id: string; run_index: number; workflow_file: string; workflow_name: string; head_sha: string; head_ref: string;
  event: string; status: string; conclusion: string | null; parent_run_id: string | null; created_at: Date; started_at: Date | null;
  completed_at: Date | null; attempt: number; original_run_id: string | null; actor_id: string | null; actor_login: string | null;
}

/** Several runs by id, in no particular order (the dispatcher's batch). */
export async function readRunsByIds(sql: Sql, runIds: readonly bigint[]): Promise<RunRow[]> {
  if (runIds.length === 0) return [];
  return (await sql.rows<RawRun>(RUNS_BY_IDS_SQL, [runIds.map(String)])).map(runRowOf);
}
const RUNS_BY_IDS_SQL = `SELECT ${RUN_COLUMNS} WHERE r.id = ANY($1::bigint[])`;

export async function readRun(sql: Sql, runId: bigint): Promise<RunRow | null> {
  const [r] = await sql.rows<RawRun>(RUN_SQL, [id(runId)]);
  return r ? runRowOf(r) : null;
}

/** The selection RUN_SQL reads (also a list page's, domain/data/lists.ts), as a row. */
export function runRowOf(r: RawRun): RunRow {
  return {
    id: BigInt(r.id), repoId: BigInt(r.repo_id), runIndex: r.run_index, workflowFile: r.workflow_file, workflowName: r.workflow_name,
    headSha: r.head_sha, headRef: r.head_ref, event: r.event, status: r.status, conclusion: r.conclusion, parentRunId: big(r.parent_run_id),
    createdAt: r.created_at, startedAt: r.started_at, completedAt: r.completed_at,
    actor: r.actor_id === null ? null : { id: BigInt(r.actor_id), login: r.actor_login! },
    attempt: r.attempt, originalRunId: big(r.original_run_id),
  };
}

const JOB_COLUMNS = `
  j.id::text, j.run_id::text, j.job_key, j.name, j.runs_on, j.needs, j.status::text, j.conclusion::text, j.cancel_requested,
  j.cancel_requested_at, j.runner_id::text, j.started_at, j.completed_at, j.reused, j.cancel_reason,
  j.cancel_requested_token_id::text, u.id::text AS requester_id, u.login AS requester_login, j.created_at
  FROM workflow_jobs j LEFT JOIN users u ON u.id = j.cancel_requested_by`;
const JOBS_OF_RUN_SQL = `SELECT ${JOB_COLUMNS} WHERE j.run_id = $1::bigint ORDER BY j.job_index`;
const JOBS_OF_RUNS_SQL = `SELECT ${JOB_COLUMNS} WHERE j.run_id = ANY($1::bigint[]) ORDER BY j.run_id, j.job_index`;
const JOB_SQL = `SELECT ${JOB_COLUMNS} WHERE j.id = $1::bigint`;
const JOBS_BY_IDS_SQL = `SELECT ${JOB_COLUMNS} WHERE j.id = ANY($1::bigint[])`;

interface RawJob {
  id: string; run_id: string; job_key: string; name: string; runs_on: string; needs: string[]; status: string; conclusion: string | null;
  cancel_requested: boolean; cancel_requested_at: Date | null; runner_id: string | null; started_at: Date | null; completed_at: Date | null;
  reused: boolean; cancel_reason: string | null; cancel_requested_token_id: string | null; requester_id: string | null; requester_login: string | null;
  created_at: Date;
}

function jobRow(j: RawJob): JobRow {
  return {
    id: BigInt(j.id), runId: BigInt(j.run_id), jobKey: j.job_key, name: j.name, runsOn: j.runs_on, needs: j.needs, status: j.status,
    conclusion: j.conclusion, cancelRequested: j.cancel_requested, cancelRequestedAt: j.cancel_requested_at, runnerId: big(j.runner_id),
    startedAt: j.started_at, completedAt: j.completed_at, reused: j.reused, cancelReason: j.cancel_reason,
    cancelRequestedTokenId: big(j.cancel_requested_token_id),
    cancelRequester: j.requester_id === null ? null : { id: BigInt(j.requester_id), login: j.requester_login! },
    createdAt: j.created_at,
  };
}

export async function readJobsOfRun(sql: Sql, runId: bigint): Promise<JobRow[]> {
  return (await sql.rows<RawJob>(JOBS_OF_RUN_SQL, [id(runId)])).map(jobRow);
}

/** The jobs of several runs (a rerun chain's attempts), each run's in file order. */
export async function readJobsOfRuns(sql: Sql, runIds: readonly bigint[]): Promise<JobRow[]> {
  return (await sql.rows<RawJob>(JOBS_OF_RUNS_SQL, [runIds.map(String)])).map(jobRow);
}

/** Several jobs by id, in no particular order (the dispatcher's batch). */
export async function readJobsByIds(sql: Sql, jobIds: readonly bigint[]): Promise<JobRow[]> {
  if (jobIds.length === 0) return [];
  return (await sql.rows<RawJob>(JOBS_BY_IDS_SQL, [jobIds.map(String)])).map(jobRow);
}

export async function readJob(sql: Sql, jobId: bigint): Promise<JobRow | null> {
  const [j] = await sql.rows<RawJob>(JOB_SQL, [id(jobId)]);
  return j ? jobRow(j) : null;
}

const STEPS_SQL = `
  SELECT id::text, step_index, name, status::text, conclusion::text, started_at, completed_at
  FROM workflow_steps WHERE job_id = $1::bigint ORDER BY step_index`;

interface RawStep {
  id: string; step_index: number; name: string; status: string; conclusion: string | null; started_at: Date | null; completed_at: Date | null;
}

export async function readSteps(sql: Sql, jobId: bigint): Promise<StepRow[]> {
  return (await sql.rows<RawStep>(STEPS_SQL, [id(jobId)])).map((s) => ({
    id: BigInt(s.id), stepIndex: s.step_index, name: s.name, status: s.status, conclusion: s.conclusion, startedAt: s.started_at, completedAt: s.completed_at,
  }));
}

// One batch of a step's log: chunks after `afterSeq`, at most `maxChunks`, and no more
// than the chunks that start below `maxBytes` (so a batch is at most maxBytes plus one
// chunk). octet_length reads a stored value's size without decompressing it.
const CHUNKS_SQL = `
  SELECT seq, content, upto::float8 FROM (
    SELECT seq, content, sum(octet_length(content)) OVER (ORDER BY seq) AS upto, octet_length(content) AS bytes
    FROM step_log_chunks WHERE step_id = $1::bigint AND seq > $2::int ORDER BY seq LIMIT $3::int
  ) b WHERE upto - bytes < $4::bigint ORDER BY seq`;

export interface LogBatch {
  chunks: { seq: number; content: string }[];
  /** False when the step may have more chunks after this batch. */
  last: boolean;
}

export async function readLogBatch(sql: Sql, stepId: bigint, afterSeq: number, maxChunks: number, maxBytes: number): Promise<LogBatch> {
  const rows = await sql.rows<{ seq: number; content: string; upto: number }>(CHUNKS_SQL, [id(stepId), afterSeq, maxChunks, String(maxBytes)]);
  const bytes = rows.length === 0 ? 0 : rows[rows.length - 1]!.upto;
  // Neither bound was reached: the step has nothing after these.
  return { chunks: rows, last: rows.length < maxChunks && bytes < maxBytes };
}

// A reused job (carried over by a partial rerun, never executed in its run) has no log of its
// own: the log is the one of the job it was carried over from — the same job key in the
// parent run, followed up the chain to the one that ran.
const REUSED_SOURCE_SQL = `
  WITH RECURSIVE chain AS (
    SELECT j.id, j.run_id, j.job_key, j.reused, r.parent_run_id, 0 AS depth
    FROM workflow_jobs j JOIN workflow_runs r ON r.id = j.run_id WHERE j.id = $1::bigint AND j.reused
    UNION ALL
    SELECT pj.id, pj.run_id, pj.job_key, pj.reused, pr.parent_run_id, c.depth + 1
    FROM chain c JOIN workflow_jobs pj ON pj.run_id = c.parent_run_id AND pj.job_key = c.job_key
    JOIN workflow_runs pr ON pr.id = pj.run_id
    WHERE c.reused AND c.depth < 1000)
  SELECT id::text, run_id::text FROM chain WHERE NOT reused LIMIT 1`;

/** Where a reused job's log is: the job that ran, or null (not reused, or its source is gone). */
export async function readReusedSource(sql: Sql, jobId: bigint): Promise<{ jobId: bigint; runId: bigint } | null> {
  const [r] = await sql.rows<{ id: string; run_id: string }>(REUSED_SOURCE_SQL, [id(jobId)]);
  return r ? { jobId: BigInt(r.id), runId: BigInt(r.run_id) } : null;
}
