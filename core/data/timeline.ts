import type { PrismaClient } from "../db.ts";
import { num } from "../ids.ts";

// Who did what to a run and its jobs, when, through which route: the intents people sent
// (lifecycle_intents) interleaved with every job transition (job_transitions).

const ROUTES: Record<string, string> = {
  cancel_job: "POST /api/v1/jobs/{id}/cancel",
  rerun_run: "POST /api/v1/runs/{id}/rerun",
  cancel_run: "POST /api/v1/runs/{id}/cancel",
  force_cancel_run: "POST /api/v1/runs/{id}/force-cancel",
  rerun_failed_jobs: "POST /api/v1/runs/{id}/rerun-failed-jobs",
  rerun_job: "POST /api/v1/jobs/{id}/rerun",
  bulk_cancel: "POST /api/v1/repos/{owner}/{repo}/actions/runs/cancel",
};

export interface TimelineEvent {
  at: string;
  type: "request" | "job_transition";
  actor: { id: number; login: string } | null;
  route: string | null;
  action: string;
  job_id: number | null;
  detail: Record<string, unknown>;
}

interface IntentRow {
  id: bigint; kind: string; target_id: bigint; actor_user_id: bigint; login: string | null;
  token_id: bigint | null; request_id: string | null; reason: string | null; state: string; result: { body?: Record<string, unknown>; error?: string }; created_at: Date;
}

export async function runTimeline(prisma: PrismaClient, runId: bigint): Promise<TimelineEvent[]> {
  const jobs = await prisma.workflowJob.findMany({ where: { runId }, select: { id: true, jobKey: true, cancelReason: true } });
  const jobIds = jobs.map((j) => j.id);
  const intents = await prisma.$queryRaw<IntentRow[]>`
    SELECT i.id, i.kind::text AS kind, i.target_id, i.actor_user_id, u.login, i.token_id, i.request_id, i.reason, i.state::text AS state, i.result, i.created_at
    FROM lifecycle_intents i LEFT JOIN users u ON u.id = i.actor_user_id
    WHERE (i.kind IN ('cancel_run', 'force_cancel_run', 'rerun_run', 'rerun_failed_jobs') AND i.target_id = ${runId})
       OR (i.kind IN ('cancel_job', 'rerun_job') AND i.target_id = ANY(${jobIds}::bigint[]))
       OR (i.kind IN ('rerun_run', 'rerun_failed_jobs', 'rerun_job') AND i.result->'body'->>'run_id' = ${String(runId)})
    ORDER BY i.created_at, i.id`;
  const transitions = await prisma.jobTransition.findMany({ where: { jobId: { in: jobIds } }, orderBy: [{ at: "asc" }, { id: "asc" }] });
  const keyOf = new Map(jobs.map((j) => [j.id, j.jobKey]));
  const events: (TimelineEvent & { sort: [number, number, bigint] })[] = [
    ...intents.map((i) => ({
      sort: [i.created_at.getTime(), 0, i.id] as [number, number, bigint],
      at: i.created_at.toISOString(),
      type: "request" as const,
      actor: i.login === null ? null : { id: num(i.actor_user_id), login: i.login },
      route: ROUTES[i.kind] ?? i.kind,
      action: createdThisRun(i, runId) ? `${i.kind} (created this run)` : i.kind,
      job_id: i.kind === "cancel_job" || i.kind === "rerun_job" ? num(i.target_id) : null,
      detail: {
        outcome: i.state === "applied" ? "applied" : (i.result.error ?? "rejected"),
        token_id: i.token_id === null ? null : num(i.token_id),
        request_id: i.request_id,
        ...(i.reason !== null ? { reason: i.reason } : {}),
        ...(i.result.body?.changed_jobs !== undefined ? { changed_jobs: i.result.body.changed_jobs } : {}),
      },
    })),
    ...transitions.map((t) => ({
      sort: [t.at.getTime(), 1, t.id] as [number, number, bigint],
      at: t.at.toISOString(),
      type: "job_transition" as const,
      actor: null,
      route: null,
      action: t.fromStatus === null ? "job created" : `job ${t.toStatus}`,
      job_id: num(t.jobId),
      detail: { job_key: keyOf.get(t.jobId), from: t.fromStatus, to: t.toStatus, conclusion: t.toConclusion },
    })),
  ];
  events.sort((a, b) => a.sort[0] - b.sort[0] || a.sort[1] - b.sort[1] || (a.sort[2] < b.sort[2] ? -1 : 1));
  return events.map(({ sort: _sort, ...e }) => e);
}

function createdThisRun(i: IntentRow, runId: bigint): boolean {
  return i.kind.startsWith("rerun") && String(i.result.body?.run_id) === String(runId);
}
