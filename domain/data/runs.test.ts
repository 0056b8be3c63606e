import { describe, expect, it } from "vitest";
import { render, sql } from "../../infra/sqlf.ts";
import { parseWorkflow } from "../workflow/parse.ts";
import { createRunSql, createRunValues, freshRun, pendingRun, withRunOfStatement, type RunSeed } from "./runs.ts";

const numbered = (r: { text: string; values: unknown[] }) => [...r.text.matchAll(/\$(\d+)/g)].map((m) => Number(m[1]));
const oneToN = (n: number) => Array.from({ length: n }, (_, i) => i + 1);

const parsed = parseWorkflow("name: CI\non: push\njobs:\n  build:\n    runs-on: linux\n    steps:\n      - run: make\n");
if (!parsed.ok) throw new Error(parsed.errors.join("; "));
const workflow = parsed.workflow;
const seed: RunSeed = {
  repoId: 3n, workflowFile: ".shithub/workflows/ci.yml", headSha: "abc", headRef: "refs/heads/main", event: "push", eventPayload: { a: 1 },
  actorUserId: 7n, parentRunId: null, triggerEventId: "t1",
};

describe("a run's creation renders", () => {
  it("values in placeholder order: the repository twice, the run's columns, its jobs and steps as JSON", () => {
    const v = createRunValues(freshRun(seed, workflow));
    const r = render(createRunSql(v));
    expect(r.values.slice(0, 16)).toEqual(["3", "3", ".shithub/workflows/ci.yml", "CI", "abc", "refs/heads/main", "push", '{"a":1}', "7", null, "t1", 1, null, null, false, v.jobs]);
    expect(r.values).toEqual([...r.values.slice(0, 16), v.steps]);
    expect(JSON.parse(v.jobs)).toMatchObject([{ job_index: 0, job_key: "build", runs_on: "linux", status: "queued" }]);
    expect(JSON.parse(v.steps)).toMatchObject([{ job_key: "build", step_index: 0, run: "make", status: "queued" }]);
    expect(numbered(r)).toEqual(oneToN(17));
  });

  it("the pending write is the same CTEs, completing the result with the new run's id and index", () => {
    const w = pendingRun(freshRun(seed, workflow))!;
    expect(render(sql`WITH ${w.ctes} SELECT 1`).values).toEqual(render(createRunSql(createRunValues(freshRun(seed, workflow)))).values);
    const done = render(sql`SELECT ${w.completeResult!(sql`${"{}"}::text::jsonb`)}`);
    expect(done).toEqual({
      text: "SELECT jsonb_set(jsonb_set($1::text::jsonb, '{body,run_id}', to_jsonb((SELECT id FROM run))), '{body,run_index}', to_jsonb((SELECT run_index FROM run)))",
      values: ["{}"],
    });
    expect(withRunOfStatement).toBe(w.completeResult);
  });

  it("the statement's text", () => {
    expect(render(createRunSql(createRunValues(freshRun(seed, workflow)))).text).toMatchInlineSnapshot(`
      "WITH idx AS (
          UPDATE repos SET next_run_index = next_run_index + 1 WHERE id = $1::bigint RETURNING next_run_index - 1 AS run_index
        ), run AS (
          INSERT INTO workflow_runs (repo_id, run_index, workflow_file, workflow_name, head_sha, head_ref, event, event_payload, actor_user_id,
            parent_run_id, trigger_event_id, status, attempt, original_run_id, concurrency_group, cancel_in_progress)
          SELECT $2::bigint, idx.run_index, $3::text, $4::text, $5::text, $6::text, $7::text,
            $8::text::jsonb, $9::bigint, $10::bigint, $11::text,
            'queued', $12::int, $13::bigint, $14::text, $15::boolean FROM idx
          RETURNING id, run_index
        ), jobs AS (
          INSERT INTO workflow_jobs (run_id, job_index, job_key, name, runs_on, needs, timeout_minutes, concurrency_group, cancel_in_progress,
            status, conclusion, started_at, completed_at, reused, matrix_key, max_parallel, fail_fast)
          SELECT run.id, j.job_index, j.job_key, j.name, j.runs_on, j.needs, j.timeout_minutes, j.concurrency_group, j.cancel_in_progress,
            j.status::job_status, j.conclusion::conclusion, j.started_at, j.completed_at, j.reused, j.matrix_key, j.max_parallel, j.fail_fast
          FROM run, jsonb_to_recordset($16::text::jsonb) AS j(job_index int, job_key text, name text, runs_on text, needs text[], timeout_minutes int,
            concurrency_group text, cancel_in_progress boolean, status text, conclusion text, started_at timestamptz, completed_at timestamptz, reused boolean,
            matrix_key text, max_parallel int, fail_fast boolean)
          RETURNING id, job_key
        ), steps AS (
          INSERT INTO workflow_steps (job_id, step_index, name, run, status, conclusion, started_at, completed_at)
          SELECT jobs.id, s.step_index, s.name, s.run, s.status::job_status, s.conclusion::conclusion, s.started_at, s.completed_at
          FROM jsonb_to_recordset($17::text::jsonb) AS s(job_key text, step_index int, name text, run text, status text, conclusion text,
            started_at timestamptz, completed_at timestamptz)
          JOIN jobs ON jobs.job_key = s.job_key
          RETURNING 1
        )
        SELECT run.id::text AS id, run.run_index, (SELECT json_object_agg(job_key, id)::text FROM jobs) AS job_ids,
          (SELECT count(*) FROM steps)::int AS steps FROM run"
    `);
  });
});
