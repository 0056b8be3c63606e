import type { Tx } from "../db.ts";
import { decideCancel } from "../lifecycle/cancel.ts";
import { settle } from "../lifecycle/settle.ts";
import type { Conclusion, JobStatus, RunStatus } from "../lifecycle/types.ts";
import { assertNever } from "../assert.ts";
import { asSql, id, ids, ts, type Sql } from "../sql.ts";

// Cancel as two statements: one locks the run and every job of it (run first, then jobs
// in id order: the order every writer takes) and reads what the rules need; the pure
// rules decide; one statement writes every change. Both run in the caller's transaction.

/** Who cancels, with which token, and why: stored on every job the cancel changes. */
export interface CancelActor {
  /** Null for the service itself (a run superseded by `concurrency: cancel-in-progress` created without an actor). */
  userId: bigint | null;
  tokenId: bigint | null;
  reason: string | null;
}

export interface Signal {
  jobId: bigint;
  runId: bigint;
  runnerId: bigint | null;
  requestedAt: Date;
  /** Kill at once, without the grace period. */
  force: boolean;
}

export interface Cancelled {
  runId: bigint;
  repoId: bigint;
  changedJobs: number;
  runCompleted: boolean;
  runConclusion: Conclusion | null;
  /** Runners to tell, after commit. */
  signals: Signal[];
}

interface LockedJob {
  id: number;
  job_index: number;
  job_key: string;
  needs: string[];
  status: JobStatus;
  conclusion: Conclusion | null;
  cancel_requested: boolean;
  runner_id: number | null;
}

interface Locked {
  run: { id: number; repo_id: number; status: RunStatus };
  jobs: LockedJob[];
}

// FOR UPDATE returns each row's latest committed version even when the statement waited
// for the run lock, so the jobs read here are current once the run is ours.
const LOCK_SQL = (runOf: string) => `
  WITH run AS MATERIALIZED (
    SELECT id, repo_id, status::text AS status FROM workflow_runs WHERE id = ${runOf} FOR UPDATE
  ), jobs AS MATERIALIZED (
    SELECT id, job_index, job_key, needs, status::text AS status, conclusion::text AS conclusion, cancel_requested, runner_id
    FROM workflow_jobs WHERE run_id = (SELECT id FROM run) ORDER BY id FOR UPDATE
  )
  SELECT json_build_object('run', (SELECT row_to_json(run) FROM run), 'jobs', COALESCE((SELECT json_agg(jobs ORDER BY id) FROM jobs), '[]'))::text AS locked`;
export const LOCK_RUN_OF_JOB_SQL = LOCK_SQL("(SELECT run_id FROM workflow_jobs WHERE id = $1::bigint)");
export const LOCK_RUN_SQL = LOCK_SQL("$1::bigint");

async function lock(sql: Sql, text: string, target: bigint): Promise<Locked | null> {
  const [row] = await sql.rows<{ locked: string }>(text, [id(target)]);
  const locked = JSON.parse(row!.locked) as { run: Locked["run"] | null; jobs: LockedJob[] };
  return locked.run ? { run: locked.run, jobs: locked.jobs } : null;
}

export const CANCEL_WRITE_SQL = `
  WITH ended AS (
    UPDATE workflow_jobs SET status = 'cancelled', conclusion = 'cancelled', completed_at = $2::timestamptz, force_cancelled = $3::boolean,
      cancel_requested = true, cancel_requested_at = $2::timestamptz, cancel_requested_by = $4::bigint,
      cancel_requested_token_id = $5::bigint, cancel_reason = $6::text, updated_at = $2::timestamptz
    WHERE id = ANY($1::bigint[]) AND status IN ('queued', 'running') RETURNING id
  ), flagged AS (
    UPDATE workflow_jobs SET cancel_requested = true, cancel_requested_at = $2::timestamptz, cancel_requested_by = $4::bigint,
      cancel_requested_token_id = $5::bigint, cancel_reason = $6::text, updated_at = $2::timestamptz
    WHERE id = ANY($7::bigint[]) AND NOT cancel_requested RETURNING id
  ), skipped AS (
    UPDATE workflow_jobs SET status = 'skipped', conclusion = 'skipped', completed_at = $2::timestamptz, updated_at = $2::timestamptz
    WHERE id = ANY($8::bigint[]) AND status = 'queued' RETURNING id
  ), ended_steps AS (
    UPDATE workflow_steps SET status = 'cancelled', conclusion = 'cancelled', completed_at = $2::timestamptz
    WHERE job_id IN (SELECT id FROM ended) AND status IN ('queued', 'running') RETURNING 1
  ), skipped_steps AS (
    UPDATE workflow_steps SET status = 'skipped', conclusion = 'skipped', completed_at = $2::timestamptz
    WHERE job_id IN (SELECT id FROM skipped) AND status IN ('queued', 'running') RETURNING 1
  ), run AS (
    UPDATE workflow_runs SET status = $10::text::run_status, conclusion = $11::text::conclusion, updated_at = $2::timestamptz,
      started_at = CASE WHEN $10::text = 'running' THEN $2::timestamptz ELSE started_at END,
      completed_at = CASE WHEN $10::text = 'completed' THEN $2::timestamptz ELSE completed_at END
    WHERE id = $9::bigint AND (($10::text = 'running' AND status = 'queued') OR ($10::text = 'completed' AND status <> 'completed'))
    RETURNING status::text AS status
  )
  SELECT (SELECT count(*) FROM ended)::int AS ended, (SELECT count(*) FROM flagged)::int AS flagged,
    (SELECT count(*) FROM ended_steps)::int + (SELECT count(*) FROM skipped_steps)::int AS steps,
    (SELECT status FROM run) AS run_status`;

interface Plan {
  endNow: number[];
  flag: LockedJob[];
  skip: number[];
  run: { status: "running" | "completed"; conclusion: Conclusion | null } | null;
}

/**
 * The pure part: which of `open` end now, which are flagged for their runner, and what
 * that does to the rest of the run (dependents skipped, the run rolled up).
 */
function plan(locked: Locked, open: LockedJob[], force: boolean): Plan {
  const endNow: number[] = [];
  const flag: LockedJob[] = [];
  for (const j of open) {
    const d = decideCancel({ status: j.status, cancelRequested: j.cancel_requested });
    switch (d.outcome) {
      case "noop":
        if (force && d.reason === "already_requested") endNow.push(j.id);
        break;
      case "cancel_now":
        endNow.push(j.id);
        break;
      case "request_cancel":
        if (force) endNow.push(j.id);
        else flag.push(j);
        break;
      default:
        assertNever(d, "cancel decision");
    }
  }
  if (endNow.length === 0) return { endNow, flag, skip: [], run: null };
  const ending = new Set(endNow);
  const after = locked.jobs.map((j) => ({
    jobIndex: j.job_index, jobKey: j.job_key, needs: j.needs,
    status: ending.has(j.id) ? ("cancelled" as const) : j.status,
    conclusion: ending.has(j.id) ? ("cancelled" as const) : j.conclusion,
  }));
  const s = settle(locked.run.status, after);
  const skipKeys = new Set(s.skip);
  const skip = locked.jobs.filter((j) => skipKeys.has(j.job_key) && j.status === "queued").map((j) => j.id);
  const r = s.run;
  if (r === null || r.status === "queued") return { endNow, flag, skip, run: null };
  return { endNow, flag, skip, run: r.status === "completed" ? { status: "completed", conclusion: r.conclusion } : { status: "running", conclusion: null } };
}

async function apply(sql: Sql, locked: Locked, open: LockedJob[], actor: CancelActor, now: Date, force: boolean): Promise<Cancelled> {
  const p = plan(locked, open, force);
  const run = locked.run;
  const changedJobs = p.endNow.length + p.flag.length;
  let runStatus: string | null = null;
  if (changedJobs > 0) {
    const [w] = await sql.rows<{ run_status: string | null }>(CANCEL_WRITE_SQL, [
      ids(p.endNow), ts(now), force, actor.userId === null ? null : id(actor.userId), actor.tokenId === null ? null : id(actor.tokenId),
      actor.reason, ids(p.flag.map((j) => j.id)), ids(p.skip), id(run.id), p.run?.status ?? null, p.run?.conclusion ?? null,
    ]);
    runStatus = w!.run_status;
  }
  const byId = new Map(locked.jobs.map((j) => [j.id, j]));
  const signalled = [...p.flag.map((j) => j.id), ...p.endNow.filter((j) => byId.get(j)?.status === "running")];
  const runCompleted = runStatus === "completed";
  return {
    runId: BigInt(run.id), repoId: BigInt(run.repo_id), changedJobs, runCompleted,
    runConclusion: runCompleted ? p.run!.conclusion : null,
    signals: signalled.map((j) => {
      const runner = byId.get(j)?.runner_id ?? null;
      return { jobId: BigInt(j), runId: BigInt(run.id), runnerId: runner === null ? null : BigInt(runner), requestedAt: now, force };
    }),
  };
}

const isOpen = (j: LockedJob) => j.status === "queued" || j.status === "running";

/** One job, as POST /jobs/{id}/cancel. Null when the job does not exist. */
export async function cancelJobTx(db: Sql | Tx, jobId: bigint, actor: CancelActor, now: Date): Promise<(Cancelled & { jobId: bigint }) | null> {
  const sql = asSql(db);
  const locked = await lock(sql, LOCK_RUN_OF_JOB_SQL, jobId);
  const job = locked?.jobs.find((j) => BigInt(j.id) === jobId);
  if (!locked || !job) return null;
  return { jobId, ...(await apply(sql, locked, isOpen(job) ? [job] : [], actor, now, false)) };
}

/** Every open job of a run, as POST /runs/{id}/cancel and /force-cancel. Null when the run does not exist. */
export async function cancelRunTx(db: Sql | Tx, runId: bigint, actor: CancelActor, now: Date, force: boolean): Promise<Cancelled | null> {
  const sql = asSql(db);
  const locked = await lock(sql, LOCK_RUN_SQL, runId);
  if (!locked) return null;
  return apply(sql, locked, locked.jobs.filter(isOpen), actor, now, force);
}
