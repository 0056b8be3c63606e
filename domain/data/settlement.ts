import { settle } from "../lifecycle/settle.ts";
import type { Conclusion, JobStatus, RunStatus } from "../lifecycle/types.ts";
import { id, ids, query, ts, type Sql } from "../../infra/sql.ts";
import { sql, type Fragment } from "../../infra/sqlf.ts";

// What every writer of a run's jobs shares (cancel, a runner's report): lock the run and
// all its jobs in one statement, let the pure rules decide on that data, and write the
// run's settlement (dependents skipped, the run rolled up) in the same statement as the
// change itself.

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

// Run first, then its jobs in id order: the order every writer takes. FOR UPDATE returns
// each row's latest committed version even when the statement waited for the run lock,
// so the jobs read here are current once the run is ours.
const lockStatement = (runOf: Fragment) => sql`
  WITH run AS MATERIALIZED (
    SELECT id, repo_id, status::text AS status FROM workflow_runs WHERE id = ${runOf} FOR UPDATE
  ), jobs AS MATERIALIZED (
    SELECT id, job_index, job_key, needs, status::text AS status, conclusion::text AS conclusion, cancel_requested,
      cancel_requested_at, force_cancelled, runner_id, matrix_key, fail_fast
    FROM workflow_jobs WHERE run_id = (SELECT id FROM run) ORDER BY id FOR UPDATE
  )
  SELECT json_build_object('run', (SELECT row_to_json(run) FROM run), 'jobs', COALESCE((SELECT json_agg(jobs ORDER BY id) FROM jobs), '[]'))::text AS locked`;
export const lockRunOfJobSql = (jobId: bigint) => lockStatement(sql`(SELECT run_id FROM workflow_jobs WHERE id = ${id(jobId)}::bigint)`);
export const lockRunSql = (runId: bigint) => lockStatement(sql`${id(runId)}::bigint`);

async function lock(db: Sql, statement: Fragment): Promise<Locked | null> {
  const [row] = await query<{ locked: string }>(db, statement);
  const locked = JSON.parse(row!.locked) as { run: Locked["run"] | null; jobs: LockedJob[] };
  return locked.run ? { run: locked.run, jobs: locked.jobs } : null;
}

export const lockRunOfJob = (db: Sql, jobId: bigint) => lock(db, lockRunOfJobSql(jobId));
export const lockRun = (db: Sql, runId: bigint) => lock(db, lockRunSql(runId));

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
  const r = s.run;
  if (r === null || r.status === "queued") return { skip, run: null };
  return { skip, run: r.status === "completed" ? { status: "completed", conclusion: r.conclusion } : { status: "running", conclusion: null } };
}

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
