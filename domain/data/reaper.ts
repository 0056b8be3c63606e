import { inTx, type PrismaClient } from "../../infra/db.ts";
import { decideReap, reapCutoffs, type ReapPolicy, type ReapView } from "../lifecycle/reap.ts";
import { reportAroundTx } from "./jobs.ts";
import { lockJobAround, type LockedJob } from "./settlement.ts";
import { id, prismaSql, query, ts, type Sql } from "../../infra/sql.ts";
import { sql } from "../../infra/sqlf.ts";
import type { Signal } from "./cancel.ts";

const REAPER_LOCK = 7_270_001; // pg advisory lock key: one reaper pass at a time, cluster-wide

export interface Reaped {
  jobId: bigint;
  runId: bigint;
  runnerId: bigint | null;
  reason: string;
  status: string;
  /** Runners to tell: the rest of the job's matrix, when its timeout cancelled them (fail-fast, docs/workflows.md). */
  alsoSignal: Signal[];
}

/**
 * Running jobs that may be due, a pre-filter only: the cut-offs are reapCutoffs's, but
 * runner loss is not withheld here (judgeRunnerLoss) and the run is not locked, so
 * decideReap on what is read under the run's lock has the last word.
 */
export function candidatesSql(policy: ReapPolicy, now: Date, limit: number) {
  const c = reapCutoffs(now, policy);
  return sql`
    SELECT j.id::text AS id FROM workflow_jobs j LEFT JOIN runners r ON r.id = j.runner_id
    WHERE j.status = 'running' AND (
      r.id IS NULL OR r.revoked_at IS NOT NULL OR r.last_heartbeat_at IS NULL
      OR r.last_heartbeat_at < ${ts(c.heartbeatBefore)}::timestamptz
      OR j.started_at + make_interval(mins => j.timeout_minutes) < ${ts(c.timeoutBefore)}::timestamptz
      OR (j.cancel_requested AND j.cancel_requested_at < ${ts(c.cancelBefore)}::timestamptz))
    ORDER BY j.id LIMIT ${limit}::int`;
}

// What decideReap needs beyond the job as lockJobAround read it. Read after the run's
// lock, so a heartbeat or a revocation committed meanwhile is seen; runners are not locked
// (a heartbeat must not wait on the reaper), as they never were.
const factsSql = (jobId: bigint) => sql`
  SELECT json_build_object('started_at', j.started_at, 'timeout_minutes', j.timeout_minutes,
    'heartbeat_at', r.last_heartbeat_at, 'revoked', r.revoked_at IS NOT NULL)::text AS facts
  FROM workflow_jobs j LEFT JOIN runners r ON r.id = j.runner_id WHERE j.id = ${id(jobId)}::bigint`;

interface Facts { started_at: string | null; timeout_minutes: number; heartbeat_at: string | null; revoked: boolean }

async function viewOf(db: Sql, job: LockedJob): Promise<ReapView> {
  const [row] = await query<{ facts: string }>(db, factsSql(BigInt(job.id)));
  const f = JSON.parse(row!.facts) as Facts;
  const date = (s: string | null) => (s === null ? null : new Date(s));
  return {
    status: job.status, cancelRequested: job.cancel_requested, cancelRequestedAt: date(job.cancel_requested_at),
    startedAt: date(f.started_at), timeoutMinutes: f.timeout_minutes, runnerHeartbeatAt: date(f.heartbeat_at), runnerRevoked: f.revoked,
  };
}

/** A runner's last heartbeat as Redis holds it (RUNNER_SEEN_WRITE_MS, domain/data/heartbeat.ts), ms; null when it holds none. */
export type SeenReader = (runnerId: bigint) => Promise<number | null>;

/** The later of the row's heartbeat and Redis' last-seen: a runner is alive if either says so. */
async function withSeen(view: ReapView, runnerId: number | string | null, seen?: SeenReader): Promise<ReapView> {
  if (!seen || runnerId === null) return view;
  const ms = await seen(BigInt(runnerId));
  if (ms === null || (view.runnerHeartbeatAt !== null && view.runnerHeartbeatAt.getTime() >= ms)) return view;
  return { ...view, runnerHeartbeatAt: new Date(ms) };
}

/**
 * One reaper pass. Candidates come from the pre-filter; then, in one transaction, each
 * candidate's run is locked once (lockJobAround), decided on the jobs read under that
 * lock and written on the same lock, so a runner report that lands in between wins and
 * nothing is ended twice. Null when another pass holds the advisory lock.
 */
export async function reap(prisma: PrismaClient, policy: ReapPolicy, now = new Date(), limit = 50, seen?: SeenReader): Promise<Reaped[] | null> {
  const candidates = (await query<{ id: string }>(prismaSql(prisma), candidatesSql(policy, now, limit))).map((c) => BigInt(c.id));
  if (candidates.length === 0) return [];
  return inTx(prisma, async (tx) => {
    const db = prismaSql(tx);
    const [lock] = await query<{ ok: boolean }>(db, sql`SELECT pg_try_advisory_xact_lock(${REAPER_LOCK}::bigint) AS ok`);
    if (!lock?.ok) return null;
    const ended: Reaped[] = [];
    for (const jobId of candidates) {
      const r = await reapOne(db, jobId, policy, now, seen);
      if (r) ended.push(r);
    }
    return ended;
  }, 60_000);
}

async function reapOne(db: Sql, jobId: bigint, policy: ReapPolicy, now: Date, seen?: SeenReader): Promise<Reaped | null> {
  const around = await lockJobAround(db, jobId);
  if (!around) return null;
  const { job } = around;
  const d = decideReap(await withSeen(await viewOf(db, job), job.runner_id, seen), now, policy);
  if (d.outcome === "keep") return null;
  const r = await reportAroundTx(db, around, d.report, now);
  if (r.kind !== "ok" || !r.changed) return null;
  return {
    jobId, runId: BigInt(around.run.id), runnerId: job.runner_id === null ? null : BigInt(job.runner_id), reason: d.reason, status: d.report.status,
    alsoSignal: r.failFast?.signals ?? [],
  };
}
