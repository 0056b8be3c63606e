import type { RerunInput, RerunKind, RerunSource, SourceJobState } from "../lifecycle/rerun.ts";
import type { Conclusion, JobStatus, RunStatus } from "../lifecycle/types.ts";
import { id, query, type Sql } from "../../infra/sql.ts";
import { sql } from "../../infra/sqlf.ts";
import { workflowOf } from "./runs.ts";

// What a rerun is decided on (buildRerun, domain/lifecycle/rerun.ts), read in two
// statements of the caller's transaction: the source run, locking its chain, then the
// chain's length and the source's jobs.

/** What is rerun: a run whole, a run's failed jobs, or one job (of its run). */
export type RerunTarget = { kind: "full"; runId: bigint } | { kind: "failed"; runId: bigint } | { kind: "job"; jobId: bigint };

interface SourceRow {
  id: string;
  repo_id: string;
  status: RunStatus;
  workflow_file: string;
  head_sha: string;
  head_ref: string;
  event: string;
  event_payload: string;
  attempt: number;
  original_run_id: string | null;
  job_key: string | null;
  content: string | null;
}

/**
 * The source run (of a run id, or of a job id with the job's key), the workflow file at
 * its head_sha, and the lock on its chain's original run: that row lock serializes every
 * rerun of one chain, so two racing reruns cannot both take the last place.
 */
function sourceSql(t: RerunTarget) {
  const src = t.kind === "job"
    ? sql`j.job_key FROM workflow_runs r JOIN workflow_jobs j ON j.run_id = r.id WHERE j.id = ${id(t.jobId)}::bigint`
    : sql`NULL::text AS job_key FROM workflow_runs r WHERE r.id = ${id(t.runId)}::bigint`;
  return sql`
  WITH src AS (
    SELECT r.id, r.repo_id, r.status::text AS status, r.workflow_file, r.head_sha, r.head_ref, r.event, r.event_payload::text, r.attempt,
      r.original_run_id, ${src}
  ), chain AS MATERIALIZED (
    SELECT id FROM workflow_runs WHERE id = (SELECT COALESCE(original_run_id, id) FROM src) FOR UPDATE
  )
  SELECT src.id::text, src.repo_id::text, src.status, src.workflow_file, src.head_sha, src.head_ref, src.event, src.event_payload,
    src.attempt, src.original_run_id::text, src.job_key, (SELECT count(*) FROM chain)::int AS locked,
    (SELECT content FROM workflow_sources w WHERE w.repo_id = src.repo_id AND w.path = src.workflow_file AND w.head_sha = src.head_sha)
  FROM src`;
}

// A separate statement, after the lock: at READ COMMITTED it sees the reruns committed
// while this one waited (a count in the locking statement would use its older snapshot).
// The same statement reads the source's jobs with their steps, for a partial rerun only
// (a full one carries nothing over); they are decided on only when the source is
// completed, when they no longer change.
const chainSql = (originalRunId: bigint, sourceRunId: bigint, partial: boolean) => sql`
  SELECT (SELECT count(*) FROM workflow_runs WHERE original_run_id = ${id(originalRunId)}::bigint)::int AS n,
    COALESCE((SELECT json_agg(json_build_object('jobKey', j.job_key, 'status', j.status, 'conclusion', j.conclusion,
      'startedAt', j.started_at, 'completedAt', j.completed_at,
      'steps', COALESCE((SELECT json_agg(json_build_object('stepIndex', s.step_index, 'status', s.status, 'conclusion', s.conclusion,
        'startedAt', s.started_at, 'completedAt', s.completed_at)) FROM workflow_steps s WHERE s.job_id = j.id), '[]')))
      FROM workflow_jobs j WHERE j.run_id = ${id(sourceRunId)}::bigint AND ${partial}::boolean), '[]')::text AS jobs`;

type Dated<T> = { [K in keyof T]: T[K] extends Date | null ? string | null : T[K] };
type JobJson = Dated<Omit<SourceJobState, "steps">> & { steps: Dated<SourceJobState["steps"][number]>[] };

const date = (v: string | null): Date | null => (v === null ? null : new Date(v));

function sourceJobs(json: string): SourceJobState[] {
  return (JSON.parse(json) as JobJson[]).map((j) => ({
    ...j, startedAt: date(j.startedAt), completedAt: date(j.completedAt),
    steps: j.steps.map((s) => ({ ...s, startedAt: date(s.startedAt), completedAt: date(s.completedAt) })),
  }));
}

function scopeOf(t: RerunTarget, jobKey: string | null): RerunKind {
  return t.kind === "job" ? { kind: "job", jobKey: jobKey! } : { kind: t.kind };
}

export type RerunFacts = Pick<RerunInput, "source" | "chainLength" | "workflow" | "jobs" | "scope">;

/** Locks the target's chain and reads what the rerun is decided on. Null when the run (job) does not exist. */
export async function lockRerunSource(db: Sql, t: RerunTarget): Promise<RerunFacts | null> {
  const [row] = await query<SourceRow>(db, sourceSql(t));
  if (!row) return null;
  const source: RerunSource = {
    id: BigInt(row.id), repoId: BigInt(row.repo_id), status: row.status, workflowFile: row.workflow_file, headSha: row.head_sha,
    headRef: row.head_ref, event: row.event, eventPayload: row.event_payload, attempt: row.attempt,
    originalRunId: row.original_run_id === null ? null : BigInt(row.original_run_id),
  };
  const [chain] = await query<{ n: number; jobs: string }>(db, chainSql(source.originalRunId ?? source.id, source.id, t.kind !== "full"));
  return { source, chainLength: chain!.n, workflow: workflowOf(row.content), jobs: sourceJobs(chain!.jobs), scope: scopeOf(t, row.job_key) };
}
