import { randomBytes } from "node:crypto";
import type { Tx } from "../../infra/db.ts";
import { Prisma } from "../../infra/db.ts";
import type { WorkflowSpec } from "../workflow/parse.ts";
import type { Conclusion } from "../lifecycle/types.ts";
import { parseWorkflow, type ParseResult } from "../workflow/parse.ts";
import { asSql, id, query, type PendingWrite, type Sql } from "../../infra/sql.ts";
import { sql, type Fragment } from "../../infra/sqlf.ts";
import type { Signal } from "./cancel.ts";
import { groupColumns, groupContext, supersedeOlder } from "./concurrency.ts";

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
  /** Rerun chain (docs/decisions.md): attempt 1 and no original for an original run. */
  attempt?: number;
  originalRunId?: bigint | null;
}

/**
 * A job's state at creation when it does not start queued: a partial rerun carries jobs
 * over from its source run (`reused`), or skips at once one that could never run.
 */
export interface JobInit {
  status: "completed" | "cancelled" | "skipped";
  conclusion: Conclusion;
  startedAt: Date | null;
  completedAt: Date;
  reused: boolean;
  /** By step index; a step without an entry is skipped. */
  steps: { status: "completed" | "cancelled" | "skipped"; conclusion: Conclusion; startedAt: Date | null; completedAt: Date }[];
}

export interface CreatedRun {
  id: bigint;
  runIndex: number;
  jobIds: bigint[];
  /** Runners to tell after commit: older runs/jobs cancelled by `concurrency: cancel-in-progress`. */
  signals: Signal[];
}

export type SourceLookup =
  | { ok: true; workflow: WorkflowSpec }
  | { ok: false; reason: "source_unavailable" }
  | { ok: false; reason: "source_invalid"; errors: string[] };

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

export function workflowOf(content: string | null): SourceLookup {
  if (content === null) return { ok: false, reason: "source_unavailable" };
  const parsed = parseCached(content);
  return parsed.ok ? { ok: true, workflow: parsed.workflow } : { ok: false, reason: "source_invalid", errors: parsed.errors };
}

/** The workflow file as it was at `headSha` — never a later version. */
export async function loadWorkflowAt(db: Sql | Tx, repoId: bigint, path: string, headSha: string): Promise<SourceLookup> {
  const [src] = await query<{ content: string }>(asSql(db),
    sql`SELECT content FROM workflow_sources WHERE repo_id = ${id(repoId)}::bigint AND path = ${path}::text AND head_sha = ${headSha}::text`);
  return workflowOf(src?.content ?? null);
}

/** A new run's columns, as createRunValues computes them from the seed and the workflow. */
interface RunValues {
  repoId: string; workflowFile: string; workflowName: string; headSha: string; headRef: string; event: string;
  eventPayload: string; actorUserId: string | null; parentRunId: string | null; triggerEventId: string | null;
  attempt: number; originalRunId: string | null; concurrencyGroup: string | null; cancelInProgress: boolean;
  /** JSON arrays of jobRows and stepRows. */
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

const iso = (d: Date | null | undefined) => (d ? d.toISOString() : null);

function jobRows(workflow: WorkflowSpec, group: ReturnType<typeof groupContext>, initial?: ReadonlyMap<string, JobInit>) {
  return workflow.jobs.map((j, i) => {
    const init = initial?.get(j.key);
    const g = groupColumns(j.concurrency, group);
    return {
      job_index: i, job_key: j.key, name: j.name, runs_on: j.runsOn, needs: j.needs, timeout_minutes: j.timeoutMinutes,
      concurrency_group: g.concurrencyGroup ?? null, cancel_in_progress: g.cancelInProgress ?? false,
      status: init?.status ?? "queued", conclusion: init?.conclusion ?? null, started_at: iso(init?.startedAt), completed_at: iso(init?.completedAt),
      reused: init?.reused ?? false,
      // A matrix expansion: what max-parallel and fail-fast count within (docs/workflows.md).
      matrix_key: j.matrix?.key ?? null, max_parallel: j.matrix?.maxParallel ?? null, fail_fast: j.matrix?.failFast ?? false,
    };
  });
}

function stepRows(workflow: WorkflowSpec, initial?: ReadonlyMap<string, JobInit>) {
  return workflow.jobs.flatMap((j) =>
    j.steps.map((st, i) => {
      const s = stepInit(initial?.get(j.key), i);
      return { job_key: j.key, step_index: i, name: st.name, run: st.run, status: s?.status ?? "queued", conclusion: s?.conclusion ?? null, started_at: iso(s?.startedAt), completed_at: iso(s?.completedAt) };
    }),
  );
}

export function createRunValues(seed: RunSeed, workflow: WorkflowSpec, initial?: ReadonlyMap<string, JobInit>): RunValues {
  const group = groupContext(seed, workflow);
  const runGroup = groupColumns(workflow.concurrency, group);
  return {
    repoId: id(seed.repoId), workflowFile: seed.workflowFile, workflowName: workflow.name ?? seed.workflowFile.split("/").pop() ?? seed.workflowFile,
    headSha: seed.headSha, headRef: seed.headRef, event: seed.event, eventPayload: JSON.stringify(seed.eventPayload ?? {}),
    actorUserId: seed.actorUserId === null ? null : id(seed.actorUserId), parentRunId: seed.parentRunId === null ? null : id(seed.parentRunId),
    triggerEventId: seed.triggerEventId, attempt: seed.attempt ?? 1, originalRunId: seed.originalRunId == null ? null : id(seed.originalRunId),
    concurrencyGroup: runGroup.concurrencyGroup ?? null, cancelInProgress: runGroup.cancelInProgress ?? false,
    jobs: JSON.stringify(jobRows(workflow, group, initial)), steps: JSON.stringify(stepRows(workflow, initial)),
  };
}

/** Whether creating a run of this workflow cancels older ones (`cancel-in-progress`), which needs the new run's id first. */
export const supersedes = (workflow: WorkflowSpec) => !!workflow.concurrency?.cancelInProgress || workflow.jobs.some((j) => j.concurrency?.cancelInProgress);

/**
 * The run's creation as writes not yet run, for a caller that sends them in one statement
 * with its own (an intent's record): the repository's row lock, taken by the run_index
 * allocation, is then held only until the commit that follows. Null when the workflow
 * supersedes older runs (createRun does that, with the new run's id).
 */
export function pendingRun(seed: RunSeed, workflow: WorkflowSpec, initial?: ReadonlyMap<string, JobInit>): PendingWrite | null {
  if (supersedes(workflow)) return null;
  return {
    ctes: createRunCtes(createRunValues(seed, workflow, initial)),
    completeResult: withRunOfStatement,
  };
}

export async function createRun(db: Sql | Tx, seed: RunSeed, workflow: WorkflowSpec, initial?: ReadonlyMap<string, JobInit>): Promise<CreatedRun> {
  const conn = asSql(db);
  const [row] = await query<{ id: string; run_index: number; job_ids: string | null }>(conn, createRunSql(createRunValues(seed, workflow, initial)));
  if (!row) throw new Error(`repo ${seed.repoId} vanished while allocating a run index`);
  const runId = BigInt(row.id);
  const idByKey = JSON.parse(row.job_ids ?? "{}") as Record<string, number>;
  const signals = await supersedeOlder(conn, runId, seed.actorUserId, workflow);
  return { id: runId, runIndex: Number(row.run_index), jobIds: workflow.jobs.map((j) => BigInt(idByKey[j.key]!)), signals };
}

function stepInit(init: JobInit | undefined, index: number) {
  if (!init) return undefined;
  return init.steps[index] ?? { status: "skipped" as const, conclusion: "skipped" as const, startedAt: null, completedAt: init.completedAt };
}

export function rerunTriggerId(sourceRunId: bigint): string {
  return `rerun:${sourceRunId}:${randomBytes(8).toString("hex")}`;
}
