import { DECISIVE_CONCLUSIONS, settle, settleAround, type RestOfRun, type Settlement } from "../lifecycle/settle.ts";
import type { Conclusion, JobStatus, RunStatus } from "../lifecycle/types.ts";
import { id, ids, query, ts, type Sql } from "../../infra/sql.ts";
import { sql, type Fragment } from "../../infra/sqlf.ts";

// What every writer of a run's jobs shares (cancel, a runner's report, the reaper): lock
// the run, read its jobs, let the pure rules decide on that data, and write the run's
// settlement (dependents skipped, the run rolled up) in the same statement as the change
// itself.
//
// The locking rule (docs/architecture.md, "Locking"): the run's row lock (FOR UPDATE on
// workflow_runs) is the only lock a decision takes. Every transaction that changes a job's
// status, conclusion or cancel flags holds it until commit: these writers, and the claim
// (its pick locks the run too, SKIP LOCKED). So once the run is ours, a statement started
// after the lock sees every job as it is, and stays so until we commit; the jobs are read
// without a row lock, and only the rows a change writes are locked (by its UPDATE). A row
// lock writes its tuple, so locking every job made one change cost O(jobs in the run) in
// writes; the read stays O(jobs), the writes are O(rows changed).

export interface LockedJob {
  id: number;
  job_index: number;
  job_key: string;
  needs: string[];
  status: JobStatus;
  conclusion: Conclusion | null;
  cancel_requested: boolean;
  cancel_requested_at: string | null;
  force_cancelled: boolean;
  runner_id: number | null;
  /** A matrix expansion's matrix (its key in the file), for fail-fast; null outside one. */
  matrix_key: string | null;
  fail_fast: boolean;
}

export interface Locked {
  run: { id: number; repo_id: number; status: RunStatus };
  jobs: LockedJob[];
}

// Two statements, on purpose: at READ COMMITTED a statement keeps the snapshot it started
// with even after waiting for the run's lock, so jobs read in the locking statement could
// predate the commit of the writer (or claimer) it waited for. The second statement's
// snapshot is taken once the lock is ours.
const lockStatement = (runOf: Fragment) => sql`
  SELECT json_build_object('id', id, 'repo_id', repo_id, 'status', status::text)::text AS run
  FROM workflow_runs WHERE id = ${runOf} FOR UPDATE`;
export const lockRunOfJobSql = (jobId: bigint) => lockStatement(sql`(SELECT run_id FROM workflow_jobs WHERE id = ${id(jobId)}::bigint)`);
export const lockRunSql = (runId: bigint) => lockStatement(sql`${id(runId)}::bigint`);

/** A LockedJob's columns. */
const JOB_COLUMNS = sql.raw(`id, job_index, job_key, needs, status::text AS status, conclusion::text AS conclusion, cancel_requested,
      cancel_requested_at, force_cancelled, runner_id, matrix_key, fail_fast`);

/** The run's jobs, unlocked: read after lockRunSql, in the same transaction. */
export const jobsOfRunSql = (runId: bigint | number) => sql`
  SELECT COALESCE(json_agg(j ORDER BY j.id), '[]')::text AS jobs FROM (
    SELECT ${JOB_COLUMNS}
    FROM workflow_jobs WHERE run_id = ${id(runId)}::bigint) j`;

async function lock(db: Sql, statement: Fragment): Promise<Locked | null> {
  const [row] = await query<{ run: string }>(db, statement);
  if (!row) return null;
  const run = JSON.parse(row.run) as Locked["run"];
  const [jobs] = await query<{ jobs: string }>(db, jobsOfRunSql(run.id));
  return { run, jobs: JSON.parse(jobs!.jobs) as LockedJob[] };
}

export const lockRunOfJob = (db: Sql, jobId: bigint) => lock(db, lockRunOfJobSql(jobId));
export const lockRun = (db: Sql, runId: bigint) => lock(db, lockRunSql(runId));

/** One job and the rest of its run summarised: what a change of that job alone needs (settleAround). */
export interface JobAround {
  run: Locked["run"];
  job: LockedJob;
  rest: RestOfRun;
}

/**
 * The job and the rest of its run, read after the run's lock like jobsOfRunSql, but as
 * counts: a run's width costs an index scan in Postgres, not a row per job shipped and
 * decided on. Open is queued or running (isOpen).
 */
export const jobAroundSql = (runId: bigint | number, jobId: bigint) => {
  const [run, job] = [id(runId), id(jobId)];
  return sql`
  SELECT (SELECT row_to_json(j)::text FROM (SELECT ${JOB_COLUMNS} FROM workflow_jobs WHERE id = ${job}::bigint AND run_id = ${run}::bigint) j) AS job,
    count(*) FILTER (WHERE status IN ('queued', 'running'))::int AS open,
    count(*) FILTER (WHERE status = 'running')::int AS running,
    COALESCE(bool_or(conclusion = 'cancelled'), false) AS cancelled,
    (SELECT json_build_object('jobIndex', job_index, 'conclusion', conclusion::text)::text FROM workflow_jobs
      WHERE run_id = ${run}::bigint AND id <> ${job}::bigint AND conclusion = ANY(${DECISIVE_CONCLUSIONS}::conclusion[])
      ORDER BY job_index LIMIT 1) AS first_decisive
  FROM workflow_jobs WHERE run_id = ${run}::bigint AND id <> ${job}::bigint`;
};

/** Locks the job's run and reads the job around it; null when there is no such job. */
export async function lockJobAround(db: Sql, jobId: bigint): Promise<JobAround | null> {
  const [row] = await query<{ run: string }>(db, lockRunOfJobSql(jobId));
  if (!row) return null;
  const run = JSON.parse(row.run) as Locked["run"];
  const [a] = await query<{ job: string | null; open: number; running: number; cancelled: boolean; first_decisive: string | null }>(db, jobAroundSql(run.id, jobId));
  if (!a?.job) return null;
  const firstDecisive = a.first_decisive === null ? null : (JSON.parse(a.first_decisive) as RestOfRun["firstDecisive"]);
  return { run, job: JSON.parse(a.job) as LockedJob, rest: { open: a.open, running: a.running, cancelled: a.cancelled, firstDecisive } };
}

/**
 * The queued jobs that need `jobKey`, directly or through one another (settleAround's
 * dependents), read under the run's lock. Work is bounded by the run's dependency depth
 * below the job, not its width.
 */
export const dependentsSql = (runId: bigint | number, jobKey: string) => {
  const run = id(runId);
  return sql`
  WITH RECURSIVE dep AS (
    SELECT id, job_index, job_key, needs FROM workflow_jobs
    WHERE run_id = ${run}::bigint AND status = 'queued' AND ${jobKey}::text = ANY(needs)
    UNION
    SELECT j.id, j.job_index, j.job_key, j.needs FROM workflow_jobs j JOIN dep d ON d.job_key = ANY(j.needs)
    WHERE j.run_id = ${run}::bigint AND j.status = 'queued'
  )
  SELECT COALESCE(json_agg(json_build_object('id', id, 'jobIndex', job_index, 'jobKey', job_key, 'needs', needs) ORDER BY id), '[]')::text AS jobs FROM dep`;
};

export interface Dependent {
  id: number;
  jobIndex: number;
  jobKey: string;
  needs: string[];
}

export async function dependents(db: Sql, runId: bigint | number, jobKey: string): Promise<Dependent[]> {
  const [row] = await query<{ jobs: string }>(db, dependentsSql(runId, jobKey));
  return JSON.parse(row!.jobs) as Dependent[];
}

export interface SettlementPlan {
  /** Queued jobs that can no longer run. */
  skip: number[];
  /** The run's new state, or null when it stays as it is. */
  run: { status: "running" | "completed"; conclusion: Conclusion | null } | null;
}

/** The run's settlement once `changes` (job id → new state) are applied to the locked jobs. */
export function settlePlan(locked: Locked, changes: ReadonlyMap<number, { status: JobStatus; conclusion: Conclusion | null }>): SettlementPlan {
  const after = locked.jobs.map((j) => {
    const c = changes.get(j.id);
    return { jobIndex: j.job_index, jobKey: j.job_key, needs: j.needs, status: c?.status ?? j.status, conclusion: c ? c.conclusion : j.conclusion };
  });
  const s = settle(locked.run.status, after);
  const skipKeys = new Set(s.skip);
  const skip = locked.jobs.filter((j) => skipKeys.has(j.job_key) && j.status === "queued" && !changes.has(j.id)).map((j) => j.id);
  return { skip, run: runChange(s.run) };
}

/**
 * The run's settlement once one job changes to `to`, from the job around it and, when the
 * change ends the job without success, its queued dependents (read only then).
 */
export async function settleJobPlan(db: Sql, a: JobAround, to: { status: JobStatus; conclusion: Conclusion | null }): Promise<SettlementPlan> {
  const ends = to.status !== "running" && to.status !== "queued" && to.conclusion !== "success";
  const deps = ends ? await dependents(db, a.run.id, a.job.job_key) : [];
  const queued = deps.map((d) => ({ ...d, status: "queued" as const, conclusion: null }));
  const job = { jobIndex: a.job.job_index, jobKey: a.job.job_key, needs: a.job.needs, ...to };
  const s = settleAround(a.run.status, { job, rest: a.rest, dependents: queued });
  const skipKeys = new Set(s.skip);
  const skip = deps.filter((d) => skipKeys.has(d.jobKey)).map((d) => d.id);
  return { skip, run: runChange(s.run) };
}

const runChange = (r: Settlement["run"]): SettlementPlan["run"] =>
  r === null || r.status === "queued" ? null : r.status === "completed" ? { status: "completed", conclusion: r.conclusion } : { status: "running", conclusion: null };

/** What the settlement writes: the queued jobs to skip and the run's new state, at one time. */
export interface RunWrite {
  skip: readonly number[];
  runId: number | bigint;
  run: SettlementPlan["run"];
  at: Date;
}

/**
 * The settlement's writes as CTEs named `skipped`, `skipped_steps` and `run` (whose
 * RETURNING status tells whether this statement completed the run). The run's update
 * changes nothing when `run` is null (its status parameter is then null).
 */
export function runWriteCtes(w: RunWrite): Fragment {
  const at = ts(w.at);
  const status = w.run?.status ?? null;
  return sql`skipped AS (
    UPDATE workflow_jobs SET status = 'skipped', conclusion = 'skipped', completed_at = ${at}::timestamptz, updated_at = ${at}::timestamptz
    WHERE id = ANY(${ids(w.skip)}::bigint[]) AND status = 'queued' RETURNING id
  ), skipped_steps AS (
    UPDATE workflow_steps SET status = 'skipped', conclusion = 'skipped', completed_at = ${at}::timestamptz
    WHERE job_id IN (SELECT id FROM skipped) AND status IN ('queued', 'running') RETURNING 1
  ), run AS (
    UPDATE workflow_runs SET status = ${status}::text::run_status, conclusion = ${w.run?.conclusion ?? null}::text::conclusion, updated_at = ${at}::timestamptz,
      started_at = CASE WHEN ${status}::text = 'running' THEN ${at}::timestamptz ELSE started_at END,
      completed_at = CASE WHEN ${status}::text = 'completed' THEN ${at}::timestamptz ELSE completed_at END
    WHERE id = ${id(w.runId)}::bigint AND ((${status}::text = 'running' AND status = 'queued') OR (${status}::text = 'completed' AND status <> 'completed'))
    RETURNING status::text AS status
  )`;
}
