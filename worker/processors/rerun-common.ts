import type { IntentPayload } from "../../domain/contracts.ts";
import { createRun, pendingRun, rerunTriggerId, workflowOf, type JobInit } from "../../domain/data/runs.ts";
import type { WorkflowSpec } from "../../domain/workflow/parse.ts";
import { id, perVariant, type Sql } from "../../infra/sql.ts";
import { num } from "../../domain/ids.ts";
import { planRerun, type RerunScope } from "../../domain/lifecycle/rerunplan.ts";
import { rollUp } from "../../domain/lifecycle/settle.ts";
import type { Conclusion, JobStatus } from "../../domain/lifecycle/types.ts";
import type { Prisma } from "../../infra/db.ts";
import { DEFAULT_RERUN_LIMIT, rejected, type Applied, type ProcessorDeps } from "../intent.ts";
import { publishSignals } from "./signals.ts";

// What the three reruns share: the source checks, the rerun chain and its limit, the
// workflow at the source's head_sha, and the new run (whole, or partial with a plan).

export interface SourceRun {
  id: bigint;
  repoId: bigint;
  status: string;
  workflowFile: string;
  headSha: string;
  headRef: string;
  event: string;
  eventPayload: unknown;
  attempt: number;
  originalRunId: bigint | null;
}

type Terminal = "completed" | "cancelled" | "skipped";
const terminal = (s: JobStatus): s is Terminal => s === "completed" || s === "cancelled" || s === "skipped";

interface SourceRow {
  id: string;
  repo_id: string;
  status: string;
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
const SOURCE_SQL = perVariant((of: "run" | "job") => `
  WITH src AS (
    SELECT r.id, r.repo_id, r.status::text AS status, r.workflow_file, r.head_sha, r.head_ref, r.event, r.event_payload::text, r.attempt,
      r.original_run_id, ${of === "job" ? "j.job_key" : "NULL::text AS job_key"}
    FROM workflow_runs r ${of === "job" ? "JOIN workflow_jobs j ON j.run_id = r.id WHERE j.id = $1::bigint" : "WHERE r.id = $1::bigint"}
  ), chain AS MATERIALIZED (
    SELECT id FROM workflow_runs WHERE id = (SELECT COALESCE(original_run_id, id) FROM src) FOR UPDATE
  )
  SELECT src.id::text, src.repo_id::text, src.status, src.workflow_file, src.head_sha, src.head_ref, src.event, src.event_payload,
    src.attempt, src.original_run_id::text, src.job_key, (SELECT count(*) FROM chain)::int AS locked,
    (SELECT content FROM workflow_sources w WHERE w.repo_id = src.repo_id AND w.path = src.workflow_file AND w.head_sha = src.head_sha)
  FROM src`);

// A separate statement, after the lock: at READ COMMITTED it sees the reruns committed
// while this one waited (a count in the locking statement would use its older snapshot).
const CHAIN_COUNT_SQL = `SELECT count(*)::int AS n FROM workflow_runs WHERE original_run_id = $1::bigint`;

const SOURCE_JOBS_SQL = `
  SELECT j.job_key, j.status::text, j.conclusion::text, j.started_at, j.completed_at,
    COALESCE((SELECT json_agg(json_build_object('stepIndex', s.step_index, 'status', s.status, 'conclusion', s.conclusion,
      'startedAt', s.started_at, 'completedAt', s.completed_at)) FROM workflow_steps s WHERE s.job_id = j.id), '[]')::text AS steps
  FROM workflow_jobs j WHERE j.run_id = $1::bigint`;

interface SourceJobRow {
  job_key: string;
  status: JobStatus;
  conclusion: Conclusion | null;
  started_at: Date | string | null;
  completed_at: Date | string | null;
  steps: string;
}

const date = (v: Date | string | null): Date | null => (v === null ? null : new Date(v));

async function sourceJobs(sql: Sql, runId: bigint) {
  const rows = await sql.rows<SourceJobRow>(SOURCE_JOBS_SQL, [id(runId)]);
  return rows.map((r) => ({
    jobKey: r.job_key, status: r.status, conclusion: r.conclusion, startedAt: date(r.started_at), completedAt: date(r.completed_at),
    steps: (JSON.parse(r.steps) as { stepIndex: number; status: JobStatus; conclusion: Conclusion | null; startedAt: string | null; completedAt: string | null }[])
      .map((st) => ({ ...st, startedAt: date(st.startedAt), completedAt: date(st.completedAt) })),
  }));
}

export type RerunTarget = { run: bigint } | { job: bigint };

/**
 * A new run from the target's run: every job queued (`scope` null), or a partial rerun
 * where the plan says which jobs run again and the rest are carried over (a job target
 * reruns that job). Checks, in order: the source exists (404), is completed (409), the
 * chain is below its limit (409), the workflow source exists (409) and is valid (422),
 * the plan has something to run (409).
 */
export async function rerunFrom(sql: Sql, deps: ProcessorDeps, p: IntentPayload, target: RerunTarget, now: Date, failedOnly = false): Promise<Applied> {
  const isJob = "job" in target;
  const [row] = await sql.rows<SourceRow>(SOURCE_SQL(isJob ? "job" : "run"), [id(isJob ? target.job : target.run)]);
  if (!row) return rejected("not_found", isJob ? "job not found" : "run not found");
  const src: SourceRun = {
    id: BigInt(row.id), repoId: BigInt(row.repo_id), status: row.status, workflowFile: row.workflow_file, headSha: row.head_sha,
    headRef: row.head_ref, event: row.event, eventPayload: JSON.parse(row.event_payload), attempt: row.attempt,
    originalRunId: row.original_run_id === null ? null : BigInt(row.original_run_id),
  };
  const scope: RerunScope | null = isJob ? { kind: "job", jobKey: row.job_key! } : failedOnly ? { kind: "failed" } : null;
  // A completed run never reopens, so its status needs no lock to be decided on.
  if (src.status !== "completed") return rejected("not_rerunnable", "run is not rerunnable");
  const originalRunId = src.originalRunId ?? src.id;
  const [count] = await sql.rows<{ n: number }>(CHAIN_COUNT_SQL, [id(originalRunId)]);
  if (count!.n >= (deps.rerunLimit ?? DEFAULT_RERUN_LIMIT)) return rejected("rerun_limit", "rerun limit reached");
  const chain = { attempt: src.attempt + 1, originalRunId };
  const wf = workflowOf(row.content);
  if (!wf.ok) {
    return wf.reason === "source_unavailable"
      ? rejected("source_unavailable", "workflow source unavailable")
      : rejected("source_invalid", `workflow source invalid: ${wf.errors.join("; ")}`);
  }

  let initial: Map<string, JobInit> | undefined;
  if (scope) {
    const jobs = await sourceJobs(sql, src.id);
    const plan = planRerun(wf.workflow.jobs.map((j) => ({ jobKey: j.key, needs: j.needs })), jobs, scope);
    if (!plan.ok) {
      return plan.reason === "nothing_to_rerun"
        ? rejected("no_failed_jobs", "run has no failed jobs")
        : rejected("source_invalid", `workflow source invalid: job ${scope.kind === "job" ? scope.jobKey : ""} is not in the workflow`);
    }
    initial = new Map();
    const byKey = new Map(jobs.map((j) => [j.jobKey, j]));
    for (const key of plan.reused) {
      const j = byKey.get(key)!;
      // The source run is completed, so each of its jobs (and steps) is terminal.
      if (!terminal(j.status) || j.conclusion === null) throw new Error(`source job ${key} of run ${src.id} is not terminal`);
      const steps: JobInit["steps"] = [];
      for (const s of j.steps) {
        steps[s.stepIndex] = terminal(s.status) && s.conclusion !== null
          ? { status: s.status, conclusion: s.conclusion, startedAt: s.startedAt, completedAt: s.completedAt ?? j.completedAt ?? now }
          : { status: "skipped", conclusion: "skipped", startedAt: null, completedAt: j.completedAt ?? now };
      }
      initial.set(key, { status: j.status, conclusion: j.conclusion, startedAt: j.startedAt, completedAt: j.completedAt ?? now, reused: true, steps });
    }
    for (const key of plan.skipped) {
      initial.set(key, { status: "skipped", conclusion: "skipped", startedAt: null, completedAt: now, reused: false, steps: [] });
    }
  }

  const seed = {
    repoId: src.repoId,
    workflowFile: src.workflowFile,
    headSha: src.headSha,
    headRef: src.headRef,
    event: src.event,
    eventPayload: src.eventPayload as Prisma.InputJsonValue,
    actorUserId: BigInt(p.actorUserId),
    parentRunId: src.id,
    triggerEventId: rerunTriggerId(src.id),
    attempt: chain.attempt,
    originalRunId: chain.originalRunId,
  };
  const body = { run_id: 0, run_index: 0, parent_run_id: num(src.id), repo_id: num(src.repoId), workflow_file: src.workflowFile, head_sha: src.headSha };
  const completesAtOnce = initial !== undefined && rollUp("queued", views(wf.workflow, initial)).status === "completed";
  // The usual case: the run's creation goes out with the intent's record, which fills in
  // the new run's id and index (see pendingRun).
  const pending = completesAtOnce ? null : pendingRun(seed, wf.workflow, initial);
  if (pending) return { result: { ok: true, body }, write: pending };

  const run = await createRun(sql, seed, wf.workflow, initial);
  if (completesAtOnce) {
    // Nothing left to run (no plan does this today, but the run must never stay open
    // without an open job): roll it up at once.
    const state = rollUp("queued", views(wf.workflow, initial!));
    if (state.status === "completed") {
      await sql.rows(`UPDATE workflow_runs SET status = 'completed', conclusion = $2::text::conclusion, completed_at = $3::timestamptz, updated_at = $3::timestamptz
        WHERE id = $1::bigint RETURNING 1`, [id(run.id), state.conclusion, now.toISOString()]);
    }
  }
  return {
    // `concurrency: cancel-in-progress` may have cancelled older runs: tell their runners.
    afterCommit: publishSignals(deps, run.signals, p.requestId),
    result: { ok: true, body: { ...body, run_id: num(run.id), run_index: run.runIndex } },
  };
}

function views(workflow: WorkflowSpec, initial: ReadonlyMap<string, JobInit>) {
  return workflow.jobs.map((j, i) => {
    const init = initial.get(j.key);
    return { jobIndex: i, jobKey: j.key, needs: j.needs, status: (init?.status ?? "queued") as JobStatus, conclusion: (init?.conclusion ?? null) as Conclusion | null };
  });
}
