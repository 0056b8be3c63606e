import { id, type Sql } from "../../infra/sql.ts";
import { num } from "../ids.ts";
import { INTENTS, intentOfKind, kindsWhere, timelineLabel, type IntentDef } from "../intents.ts";

// Who did what to a run and its jobs, when, through which route: the intents people sent
// (lifecycle_intents) interleaved with every job transition (job_transitions).

/** The route each recorded kind came through, from the one table of intents. */
export const TIMELINE_ROUTES: Record<string, string> = Object.fromEntries(Object.values(INTENTS).map((d) => [d.kind, timelineLabel(d)]));

// The kinds are the table's own constants (lower case and underscores), quoted into the text.
const kindList = (pred: (d: IntentDef) => boolean) => kindsWhere(pred).map((k) => `'${k}'`).join(", ");
const ON_RUN = kindList((d) => d.target === "run");
const ON_JOB = kindList((d) => d.target === "job");
const CREATES_RUN = kindList((d) => d.createsRun);

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
  id: string; kind: string; target_id: string; actor_user_id: string; login: string | null;
  token_id: string | null; request_id: string | null; reason: string | null; state: string; result: { body?: Record<string, unknown>; error?: string }; created_at: Date;
}

interface TransitionRow {
  id: string; job_id: string; from_status: string | null; to_status: string; to_conclusion: string | null; at: Date;
}

const INTENTS_SQL = `
  SELECT i.id::text, i.kind::text AS kind, i.target_id::text, i.actor_user_id::text, u.login, i.token_id::text, i.request_id, i.reason,
    i.state::text AS state, i.result, i.created_at
  FROM lifecycle_intents i LEFT JOIN users u ON u.id = i.actor_user_id
  WHERE (i.kind IN (${ON_RUN}) AND i.target_id = $1::bigint)
     OR (i.kind IN (${ON_JOB}) AND i.target_id = ANY($2::bigint[]))
     OR (i.kind IN (${CREATES_RUN}) AND i.result->'body'->>'run_id' = $1::text)
  ORDER BY i.created_at, i.id`;

const TRANSITIONS_SQL = `
  SELECT id::text, job_id::text, from_status::text, to_status::text, to_conclusion::text, at
  FROM job_transitions WHERE job_id = ANY($1::bigint[]) ORDER BY at, id`;

export async function runTimeline(sql: Sql, runId: bigint): Promise<TimelineEvent[]> {
  const jobs = await sql.rows<{ id: string; job_key: string; cancel_reason: string | null }>(
    `SELECT id::text, job_key, cancel_reason FROM workflow_jobs WHERE run_id = $1::bigint`, [id(runId)]);
  const jobIds = jobs.map((j) => j.id);
  const intents = await sql.rows<IntentRow>(INTENTS_SQL, [id(runId), jobIds]);
  const transitions = await sql.rows<TransitionRow>(TRANSITIONS_SQL, [jobIds]);
  const keyOf = new Map(jobs.map((j) => [j.id, j.job_key]));
  // Why a job was cancelled (a user's reason, or the service's: fail-fast, cancel-in-progress).
  const reasonOf = new Map(jobs.map((j) => [j.id, j.cancel_reason]));
  const events: (TimelineEvent & { sort: [number, number, bigint] })[] = [
    ...intents.map((i) => ({
      sort: [i.created_at.getTime(), 0, BigInt(i.id)] as [number, number, bigint],
      at: i.created_at.toISOString(),
      type: "request" as const,
      actor: i.login === null ? null : { id: num(BigInt(i.actor_user_id)), login: i.login },
      route: TIMELINE_ROUTES[i.kind] ?? i.kind,
      action: createdThisRun(i, runId) ? `${i.kind} (created this run)` : i.kind,
      job_id: intentOfKind(i.kind)?.target === "job" ? num(BigInt(i.target_id)) : null,
      detail: {
        outcome: i.state === "applied" ? "applied" : (i.result.error ?? "rejected"),
        token_id: i.token_id === null ? null : num(BigInt(i.token_id)),
        request_id: i.request_id,
        ...(i.reason !== null ? { reason: i.reason } : {}),
        ...(i.result.body?.changed_jobs !== undefined ? { changed_jobs: i.result.body.changed_jobs } : {}),
      },
    })),
    ...transitions.map((t) => ({
      sort: [t.at.getTime(), 1, BigInt(t.id)] as [number, number, bigint],
      at: t.at.toISOString(),
      type: "job_transition" as const,
      actor: null,
      route: null,
      action: t.from_status === null ? "job created" : `job ${t.to_status}`,
      job_id: num(BigInt(t.job_id)),
      detail: {
        job_key: keyOf.get(t.job_id), from: t.from_status, to: t.to_status, conclusion: t.to_conclusion,
        ...(t.to_status === "cancelled" && reasonOf.get(t.job_id) ? { reason: reasonOf.get(t.job_id) } : {}),
      },
    })),
  ];
  events.sort((a, b) => a.sort[0] - b.sort[0] || a.sort[1] - b.sort[1] || (a.sort[2] < b.sort[2] ? -1 : 1));
  return events.map(({ sort: _sort, ...e }) => e);
}

function createdThisRun(i: IntentRow, runId: bigint): boolean {
  return intentOfKind(i.kind)?.createsRun === true && String(i.result.body?.run_id) === String(runId);
}
