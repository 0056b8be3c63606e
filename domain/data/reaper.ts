import { inTx, type PrismaClient, type Tx } from "../../infra/db.ts";
import { decideReap, type ReapPolicy, type ReapView } from "../lifecycle/reap.ts";
import { reportJobTx } from "./jobs.ts";
import { lockRunOfJob } from "./settlement.ts";
import { prismaSql, query, ts } from "../../infra/sql.ts";
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

async function view(tx: Tx, jobId: bigint): Promise<ReapView | null> {
  const j = await tx.workflowJob.findUnique({
    where: { id: jobId },
    select: {
      status: true, cancelRequested: true, cancelRequestedAt: true, startedAt: true, timeoutMinutes: true,
      runner: { select: { lastHeartbeatAt: true, revokedAt: true } },
    },
  });
  if (!j) return null;
  return {
    status: j.status, cancelRequested: j.cancelRequested, cancelRequestedAt: j.cancelRequestedAt,
    startedAt: j.startedAt, timeoutMinutes: j.timeoutMinutes,
    runnerHeartbeatAt: j.runner?.lastHeartbeatAt ?? null, runnerRevoked: j.runner?.revokedAt != null,
  };
}

/**
 * One reaper pass. Candidates come from a cheap query; each is then decided again on its
 * locked row, so a runner report that lands in between wins and nothing is ended twice.
 */
/** Running jobs that may be due: their runner is gone or silent, or they overran their timeout or their cancel's deadline. */
export function candidatesSql(policy: ReapPolicy, now: Date, limit: number) {
  const before = (ms: number) => ts(new Date(now.getTime() - ms));
  return sql`
    SELECT j.id::text AS id FROM workflow_jobs j LEFT JOIN runners r ON r.id = j.runner_id
    WHERE j.status = 'running' AND (
      r.id IS NULL OR r.revoked_at IS NOT NULL OR r.last_heartbeat_at IS NULL
      OR r.last_heartbeat_at < ${before(policy.heartbeatWindowMs)}::timestamptz
      OR j.started_at + make_interval(mins => j.timeout_minutes) < ${before(policy.timeoutSlackMs)}::timestamptz
      OR (j.cancel_requested AND j.cancel_requested_at < ${before(policy.cancelDeadlineMs)}::timestamptz))
    ORDER BY j.id LIMIT ${limit}::int`;
}

export async function reap(prisma: PrismaClient, policy: ReapPolicy, now = new Date(), limit = 50): Promise<Reaped[] | null> {
  const candidates = (await query<{ id: string }>(prismaSql(prisma), candidatesSql(policy, now, limit))).map((c) => BigInt(c.id));
  if (candidates.length === 0) return [];
  return inTx(prisma, async (tx) => {
    const [lock] = await query<{ ok: boolean }>(prismaSql(tx), sql`SELECT pg_try_advisory_xact_lock(${REAPER_LOCK}::bigint) AS ok`);
    if (!lock?.ok) return null;
    const ended: Reaped[] = [];
    for (const id of candidates) {
      const locked = await lockRunOfJob(prismaSql(tx), id);
      const job = locked?.jobs.find((j) => BigInt(j.id) === id);
      if (!locked || !job) continue;
      const v = await view(tx, id);
      const d = v ? decideReap(v, now, policy) : { outcome: "keep" as const };
      if (d.outcome === "keep") continue;
      const r = await reportJobTx(tx, id, d.report, now);
      if (r.kind === "ok" && r.changed) {
        ended.push({
          jobId: id, runId: BigInt(locked.run.id), runnerId: job.runner_id === null ? null : BigInt(job.runner_id), reason: d.reason, status: d.report.status,
          alsoSignal: r.failFast?.signals ?? [],
        });
      }
    }
    return ended;
  }, 60_000);
}
