import { Prisma } from "../../infra/db.ts";
import type { WorkflowSpec } from "../workflow/parse.ts";
import { parseWorkflow, type ParseResult } from "../workflow/parse.ts";
import { newRunRows, supersedes, type NewRun } from "../lifecycle/newrun.ts";
import type { WorkflowLookup } from "../lifecycle/rerun.ts";
import { id, query, type PendingWrite, type Sql } from "../../infra/sql.ts";
import { sql, type Fragment } from "../../infra/sqlf.ts";
import type { Signal } from "./cancel.ts";
import { supersedeOlder } from "./concurrency.ts";

// A new run's insert: the rows come whole from domain/lifecycle/newrun.ts (a rerun's from
// buildRerun in domain/lifecycle/rerun.ts); this file serializes and writes them.

export interface RunSeed {
  repoId: bigint;
  workflowFile: string;
  headSha: string;
  headRef: string;
  event: string;
  eventPayload: Prisma.InputJsonValue;
  actorUserId: bigint | null;
  parentRunId: bigint | null;
  triggerEventId: string | null;
}

export interface CreatedRun {
  id: bigint;
  runIndex: number;
  jobIds: bigint[];
  /** Runners to tell after commit: older runs/jobs cancelled by `concurrency: cancel-in-progress`. */
  signals: Signal[];
}

// A workflow source never changes once pushed (it is keyed by head_sha), and parsing YAML
// costs more than the rest of a rerun's CPU: parse each content once. Bounded; oldest out.
const parsedSources = new Map<string, ParseResult>();
const PARSE_CACHE_MAX = 500;

export function parseCached(content: string): ParseResult {
  let parsed = parsedSources.get(content);
  if (parsed === undefined) {
    parsed = parseWorkflow(content);
    if (parsedSources.size >= PARSE_CACHE_MAX) parsedSources.delete(parsedSources.keys().next().value!);
    parsedSources.set(content, parsed);
  }
  return parsed;
}

export function workflowOf(content: string | null): WorkflowLookup {
  if (content === null) return { ok: false, reason: "source_unavailable" };
  const parsed = parseCached(content);
  return parsed.ok ? { ok: true, workflow: parsed.workflow } : { ok: false, reason: "source_invalid", errors: parsed.errors };
}

/** A new run's columns, as createRunValues serializes them. */
interface RunValues {
  repoId: string; workflowFile: string; workflowName: string; headSha: string; headRef: string; event: string;
  eventPayload: string; actorUserId: string | null; parentRunId: string | null; triggerEventId: string | null;
  attempt: number; originalRunId: string | null; concurrencyGroup: string | null; cancelInProgress: boolean;
  /** JSON arrays: the job rows, and every step row with its job_key. */
  jobs: string; steps: string;
}

// One statement: the repo's next run_index (the UPDATE takes the repo row lock, so
// concurrent creators queue behind each other and, as the increment rolls back with its
// transaction, indexes stay unique and gapless), the run, its jobs and their steps.
export function createRunCtes(v: RunValues): Fragment {
  return sql`idx AS (
    UPDATE repos SET next_run_index = next_run_index + 1 WHERE id = ${v.repoId}::bigint RETURNING next_run_index - 1 AS run_index
  ), run AS (
    INSERT INTO workflow_runs (repo_id, run_index, workflow_file, workflow_name, head_sha, head_ref, event, event_payload, actor_user_id,
      parent_run_id, trigger_event_id, status, attempt, original_run_id, concurrency_group, cancel_in_progress)
    SELECT ${v.repoId}::bigint, idx.run_index, ${v.workflowFile}::text, ${v.workflowName}::text, ${v.headSha}::text, ${v.headRef}::text, ${v.event}::text,
      ${v.eventPayload}::text::jsonb, ${v.actorUserId}::bigint, ${v.parentRunId}::bigint, ${v.triggerEventId}::text,
      'queued', ${v.attempt}::int, ${v.originalRunId}::bigint, ${v.concurrencyGroup}::text, ${v.cancelInProgress}::boolean FROM idx
    RETURNING id, run_index
  ), jobs AS (
    INSERT INTO workflow_jobs (run_id, job_index, job_key, name, runs_on, needs, timeout_minutes, concurrency_group, cancel_in_progress,
      status, conclusion, started_at, completed_at, reused, matrix_key, max_parallel, fail_fast)
    SELECT run.id, j.job_index, j.job_key, j.name, j.runs_on, j.needs, j.timeout_minutes, j.concurrency_group, j.cancel_in_progress,
      j.status::job_status, j.conclusion::conclusion, j.started_at, j.completed_at, j.reused, j.matrix_key, j.max_parallel, j.fail_fast
    FROM run, jsonb_to_recordset(${v.jobs}::text::jsonb) AS j(job_index int, job_key text, name text, runs_on text, needs text[], timeout_minutes int,
      concurrency_group text, cancel_in_progress boolean, status text, conclusion text, started_at timestamptz, completed_at timestamptz, reused boolean,
      matrix_key text, max_parallel int, fail_fast boolean)
    RETURNING id, job_key
  ), steps AS (
    INSERT INTO workflow_steps (job_id, step_index, name, run, status, conclusion, started_at, completed_at)
    SELECT jobs.id, s.step_index, s.name, s.run, s.status::job_status, s.conclusion::conclusion, s.started_at, s.completed_at
    FROM jsonb_to_recordset(${v.steps}::text::jsonb) AS s(job_key text, step_index int, name text, run text, status text, conclusion text,
      started_at timestamptz, completed_at timestamptz)
    JOIN jobs ON jobs.job_key = s.job_key
    RETURNING 1
  )`;
}

export const createRunSql = (v: RunValues): Fragment => sql`WITH ${createRunCtes(v)}
  SELECT run.id::text AS id, run.run_index, (SELECT json_object_agg(job_key, id)::text FROM jobs) AS job_ids,
    (SELECT count(*) FROM steps)::int AS steps FROM run`;

/** An intent's result (JSON text) with the new run's id and index, known only inside the statement, set into its body. */
export const withRunOfStatement = (json: Fragment): Fragment =>
  sql`jsonb_set(jsonb_set(${json}, '{body,run_id}', to_jsonb((SELECT id FROM run))), '{body,run_index}', to_jsonb((SELECT run_index FROM run)))`;

/** The rows as the statement's parameters: the run's columns, its jobs and their steps as JSON (dates as ISO text). */
export function createRunValues(r: NewRun): RunValues {
  const run = r.run;
  const opt = (v: bigint | null) => (v === null ? null : id(v));
  return {
    repoId: id(run.repo_id), workflowFile: run.workflow_file, workflowName: run.workflow_name, headSha: run.head_sha, headRef: run.head_ref,
    event: run.event, eventPayload: run.event_payload, actorUserId: opt(run.actor_user_id), parentRunId: opt(run.parent_run_id),
    triggerEventId: run.trigger_event_id, attempt: run.attempt, originalRunId: opt(run.original_run_id),
    concurrencyGroup: run.concurrency_group, cancelInProgress: run.cancel_in_progress,
    jobs: JSON.stringify(r.jobs.map(({ steps: _steps, ...job }) => job)),
    steps: JSON.stringify(r.jobs.flatMap((j) => j.steps.map((st) => ({ job_key: j.job_key, ...st })))),
  };
}

/** A run of the workflow with every job queued, as an operator starts one. */
export function freshRun(seed: RunSeed, workflow: WorkflowSpec): NewRun {
  return newRunRows({ ...seed, eventPayload: JSON.stringify(seed.eventPayload ?? {}) }, workflow);
}

/**
 * The run's creation as writes not yet run, for a caller that sends them in one statement
 * with its own (an intent's record): the repository's row lock, taken by the run_index
 * allocation, is then held only until the commit that follows. Null when the run
 * supersedes older ones (insertRun does that, with the new run's id).
 */
export function pendingRun(r: NewRun): PendingWrite | null {
  if (supersedes(r)) return null;
  return { ctes: createRunCtes(createRunValues(r)), completeResult: withRunOfStatement };
}

/** The run's creation as its own statement, then the older runs it supersedes cancelled. */
export async function insertRun(conn: Sql, r: NewRun): Promise<CreatedRun> {
  const [row] = await query<{ id: string; run_index: number; job_ids: string | null }>(conn, createRunSql(createRunValues(r)));
  if (!row) throw new Error(`repo ${r.run.repo_id} vanished while allocating a run index`);
  const runId = BigInt(row.id);
  const idByKey = JSON.parse(row.job_ids ?? "{}") as Record<string, number>;
  const signals = supersedes(r) ? await supersedeOlder(conn, runId, r.run.actor_user_id) : [];
  return { id: runId, runIndex: Number(row.run_index), jobIds: r.jobs.map((j) => BigInt(idByKey[j.job_key]!)), signals };
}

export const createRun = (sql: Sql, seed: RunSeed, workflow: WorkflowSpec): Promise<CreatedRun> => insertRun(sql, freshRun(seed, workflow));
