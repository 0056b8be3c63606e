import { id, prismaSql, query, type Sql } from "../../infra/sql.ts";
import type { Tx } from "../../infra/db.ts";
import { sql, type Fragment } from "../../infra/sqlf.ts";
import { sha256 } from "../tokens.ts";
import { judgeJobToken, type JobTokenRefusal } from "../lifecycle/credentials.ts";
import type { JobStatus } from "../lifecycle/types.ts";

export interface HeartbeatInfo {
  labels?: string[];
  capacity?: number;
  hostName?: string;
  version?: string;
}

export interface ClaimedJob {
  id: bigint;
  runId: bigint;
  jobKey: string;
  name: string;
  runsOn: string;
  timeoutMinutes: number;
  steps: { id: bigint; stepIndex: number; name: string; run: string }[];
  token: string;
  expiresAt: Date;
}

/**
 * Records the heartbeat (taking the runner's row lock, so two heartbeats of one runner
 * cannot both claim past its capacity) and claims at most one job for it.
 */
export async function heartbeatAndClaim(tx: Tx, runnerId: bigint, info: HeartbeatInfo, now: Date, newToken: () => { token: string; hash: string }): Promise<ClaimedJob | null> {
  const runner = await tx.runner.update({
    where: { id: runnerId },
    data: {
      lastHeartbeatAt: now,
      ...(info.labels ? { labels: info.labels } : {}),
      ...(info.capacity ? { capacity: info.capacity } : {}),
      ...(info.hostName ? { hostName: info.hostName } : {}),
      ...(info.version ? { version: info.version } : {}),
    },
    select: { id: true, labels: true, capacity: true, drainingAt: true, revokedAt: true },
  });
  const busy = await tx.workflowJob.count({ where: { runnerId, status: "running" } });
  const status = busy > 0 ? "active" : "idle";
  if (runner.drainingAt !== null || runner.revokedAt !== null || busy >= runner.capacity) {
    await tx.runner.update({ where: { id: runnerId }, data: { status } });
    return null;
  }
  const job = await pickJob(tx, runner.labels);
  if (!job) {
    await tx.runner.update({ where: { id: runnerId }, data: { status } });
    return null;
  }
  return startJob(tx, job, runnerId, now, newToken);
}

/**
 * The next claimable job: queued, not cancel-requested, labels satisfied, every need
 * completed with success. SKIP LOCKED on job and run: a claimer never waits behind a
 * row someone else is deciding on, it takes the next one. The run's lock is not optional:
 * writers of a run read its jobs unlocked once they hold that lock (domain/data/settlement.ts),
 * so a claim that flipped a job to running without it could go unseen by their decision.
 *
 * The candidates come first, from the partial GIN index on queued jobs' label sets
 * (workflow_jobs_queued_labels_idx, `<@`: an empty runs_on is the empty set, which any
 * runner satisfies): the cost follows the jobs these labels can take, not the backlog of
 * jobs no runner of them serves. MATERIALIZED keeps the planner from walking the primary
 * key in id order and filtering every queued job instead (it guesses `<@` matches many).
 * A job's runs_on never changes, so the outer query re-checks only status and cancel.
 * The needs check is guarded by the job having needs: unguarded, the planner hashes every
 * job of the table for an anti-join. `lock: false` is the idle heartbeat's probe: a read
 * only, that takes no lock and writes nothing.
 */
export const pickJobSql = (labels: readonly string[], lock = true) => sql`
    WITH c AS MATERIALIZED (
      SELECT id FROM workflow_jobs
      WHERE status = 'queued' AND NOT cancel_requested AND string_to_array(runs_on, ',') <@ ${labels}::text[])
    SELECT j.id, j.run_id, r.repo_id, j.concurrency_group, j.matrix_key, j.max_parallel FROM c
    JOIN workflow_jobs j ON j.id = c.id
    JOIN workflow_runs r ON r.id = j.run_id
    WHERE j.status = 'queued' AND NOT j.cancel_requested
      AND (coalesce(cardinality(j.needs), 0) = 0 OR NOT EXISTS (
        SELECT 1 FROM workflow_jobs d
        WHERE d.run_id = j.run_id AND d.job_key = ANY(j.needs)
          AND (d.status <> 'completed' OR d.conclusion IS DISTINCT FROM 'success')))
      -- concurrency: (run level) no older run of the group still open in the repository;
      AND (r.concurrency_group IS NULL OR NOT EXISTS (
        SELECT 1 FROM workflow_runs o
        WHERE o.repo_id = r.repo_id AND o.concurrency_group = r.concurrency_group
          AND o.id < r.id AND o.status <> 'completed'))
      -- (job level) no job of the group running in the repository.
      AND (j.concurrency_group IS NULL OR NOT ${jobGroupBusy(sql`j.concurrency_group`, sql`r.repo_id`)})
      -- max-parallel: fewer than that many of the job's matrix running (index on run_id, matrix_key, status).
      AND (j.max_parallel IS NULL OR ${matrixRunning(sql`j.run_id`, sql`j.matrix_key`)} < j.max_parallel)
    ORDER BY j.id
    LIMIT 1${lock ? sql`
    FOR UPDATE OF j, r SKIP LOCKED` : sql``}`;

async function pickJob(tx: Tx, labels: string[]): Promise<{ id: bigint; run_id: bigint } | null> {
  const db = prismaSql(tx);
  const [pick] = await query<Pick>(db, pickJobSql(labels));
  if (!pick) return null;
  if (pick.max_parallel !== null && !(await matrixHasRoom(tx, pick))) return null;
  if (!pick.concurrency_group) return pick;
  // Two claimers could each pick a job of the same group before either commits: the
  // group's advisory lock (held to commit) serialises them, and the check is made again
  // with a fresh snapshot; the loser gets nothing this heartbeat.
  await query(db, groupLockSql(pick.repo_id, pick.concurrency_group));
  const busy = await query<{ busy: boolean }>(db, groupBusySql(pick.repo_id, pick.concurrency_group));
  return busy[0]?.busy ? null : pick;
}

interface Pick {
  id: bigint;
  run_id: bigint;
  repo_id: bigint;
  concurrency_group: string | null;
  matrix_key: string | null;
  max_parallel: number | null;
}

/** The advisory lock of a job concurrency group in a repository, held to commit. */
export const groupLockSql = (repoId: bigint, group: string) =>
  sql`SELECT 1 AS locked FROM pg_advisory_xact_lock(hashtextextended(${`concurrency:${repoId}:${group}`}::text, 0))`;

/** Is a job of this group running in this repository (read again under the group's lock)? */
export const groupBusySql = (repoId: bigint, group: string) => sql`SELECT ${jobGroupBusy(sql`${group}::text`, sql`${id(repoId)}::bigint`)} AS busy`;

/** The running jobs of one run's matrix (read again under the run's lock). */
export const matrixRunningSql = (runId: bigint, matrixKey: string | null) =>
  sql`SELECT ${matrixRunning(sql`${id(runId)}::bigint`, sql`${matrixKey}::text`)} AS running`;

/** How many jobs of this run's matrix are running, given the run and matrix as columns or parameters. */
export function matrixRunning(runId: Fragment, matrixKey: Fragment): Fragment {
  return sql`(SELECT count(*) FROM workflow_jobs mj WHERE mj.run_id = ${runId} AND mj.matrix_key = ${matrixKey} AND mj.status = 'running')`;
}

/**
 * The pick's count was read in the statement's snapshot, which may predate the commit of
 * another claimer of the same run. Claimers of one run are serialised by the run's row
 * lock (taken by the pick, held to commit; others skip the run meanwhile), so a count in
 * a new statement, made while we hold that lock, sees every job started before ours.
 */
async function matrixHasRoom(tx: Tx, pick: Pick): Promise<boolean> {
  const [row] = await query<{ running: bigint }>(prismaSql(tx), matrixRunningSql(pick.run_id, pick.matrix_key));
  return Number(row?.running ?? 0) < pick.max_parallel!;
}

/** Is a job of this group running in this repository? The group and repository as columns or parameters. */
export function jobGroupBusy(group: Fragment, repoId: Fragment): Fragment {
  return sql`EXISTS (
    SELECT 1 FROM workflow_jobs oj JOIN workflow_runs orr ON orr.id = oj.run_id
    WHERE oj.status = 'running' AND oj.concurrency_group = ${group} AND orr.repo_id = ${repoId})`;
}

async function startJob(tx: Tx, pick: { id: bigint; run_id: bigint }, runnerId: bigint, now: Date, newToken: () => { token: string; hash: string }): Promise<ClaimedJob> {
  const job = await tx.workflowJob.update({
    where: { id: pick.id },
    data: { status: "running", runnerId, startedAt: now },
    select: {
      id: true, runId: true, jobKey: true, name: true, runsOn: true, timeoutMinutes: true,
      steps: { select: { id: true, stepIndex: true, name: true, run: true }, orderBy: { stepIndex: "asc" } },
    },
  });
  await tx.workflowRun.updateMany({ where: { id: pick.run_id, status: "queued" }, data: { status: "running", startedAt: now } });
  await tx.runner.update({ where: { id: runnerId }, data: { status: "active" } });
  // The job token outlives the job's own timeout by an hour, then stops working.
  const expiresAt = new Date(now.getTime() + (job.timeoutMinutes + 60) * 60_000);
  const { token, hash } = newToken();
  await tx.jobToken.create({ data: { jobId: job.id, runnerId, tokenHash: hash, expiresAt } });
  return { ...job, token, expiresAt };
}

export interface JobCredential {
  jobId: bigint;
  runnerId: bigint;
  /** The job as the token check read it: enough to answer a cancel-check without another statement. */
  job: { status: JobStatus; cancelRequested: boolean; forceCancelled: boolean };
}

export type JobTokenCheck = { kind: "ok"; cred: JobCredential } | { kind: "refused"; reason: "invalid token" | JobTokenRefusal };

/**
 * The job token, its runner and its job in one statement (every runner report passes
 * here, and a cancel-check needs nothing more); judgeJobToken decides.
 */
export async function findJobToken(db: Sql, token: string, nowMs = Date.now()): Promise<JobTokenCheck> {
  const [t] = await query<{ job_id: string; runner_id: string; expires_ms: number; token_revoked_ms: number | null; runner_revoked_ms: number | null; job_status: JobStatus; completed_ms: number | null; cancel_requested: boolean; force_cancelled: boolean }>(db, sql`
    SELECT t.job_id::text, t.runner_id::text, (extract(epoch FROM t.expires_at) * 1000)::float8 AS expires_ms,
      (extract(epoch FROM t.revoked_at) * 1000)::float8 AS token_revoked_ms,
      (extract(epoch FROM r.revoked_at) * 1000)::float8 AS runner_revoked_ms,
      j.status::text AS job_status, (extract(epoch FROM j.completed_at) * 1000)::float8 AS completed_ms,
      j.cancel_requested, j.force_cancelled
    FROM job_tokens t JOIN runners r ON r.id = t.runner_id JOIN workflow_jobs j ON j.id = t.job_id
    WHERE t.token_hash = ${sha256(token)}::text`);
  if (!t) return { kind: "refused", reason: "invalid token" };
  const d = judgeJobToken({
    expiresMs: t.expires_ms, tokenRevokedMs: t.token_revoked_ms, runnerRevokedMs: t.runner_revoked_ms,
    jobStatus: t.job_status, jobCompletedMs: t.completed_ms,
  }, nowMs);
  if (d.kind === "refused") return d;
  return {
    kind: "ok",
    cred: { jobId: BigInt(t.job_id), runnerId: BigInt(t.runner_id), job: { status: t.job_status, cancelRequested: t.cancel_requested, forceCancelled: t.force_cancelled } },
  };
}
