import { describe, expect, it } from "vitest";
import { render, sql, type Fragment } from "../../infra/sqlf.ts";
import { jobsOfRunSql, lockRunOfJobSql, lockRunSql, runWriteCtes } from "./settlement.ts";

/** Placeholders appear once each, $1…$n in order, one per value. */
const numbered = (r: { text: string; values: unknown[] }) => [...r.text.matchAll(/\$(\d+)/g)].map((m) => Number(m[1]));
const oneToN = (n: number) => Array.from({ length: n }, (_, i) => i + 1);

describe("settlement statements render", () => {
  const at = new Date("2026-01-02T03:04:05.000Z");
  const t = at.toISOString();
  // skipped (at ×2, ids), skipped_steps (at), run (status, conclusion, at, then status and at for each date, the id, status twice).
  const settlement = (skip: string[], run: string, status: string | null, conclusion: string | null) =>
    [t, t, skip, t, status, conclusion, t, status, t, status, t, run, status, status];
  const cases: [string, Fragment, unknown[]][] = [
    ["lock the run of a job", lockRunOfJobSql(12n), ["12"]],
    ["lock a run", lockRunSql(34n), ["34"]],
    ["read a run's jobs", jobsOfRunSql(56), ["56"]],
    ["the run completes, two dependents skipped", sql`WITH ${runWriteCtes({ skip: [5, 6], runId: 9, run: { status: "completed", conclusion: "failure" }, at })} SELECT 1`,
      settlement(["5", "6"], "9", "completed", "failure")],
    ["the run stays as it is", sql`WITH ${runWriteCtes({ skip: [], runId: 9n, run: null, at })} SELECT 1`, settlement([], "9", null, null)],
  ];
  it.each(cases)("%s: values in placeholder order", (_, f, values) => {
    const r = render(f);
    expect(r.values).toEqual(values);
    expect(numbered(r)).toEqual(oneToN(values.length));
  });

  it("the lock statements' text: the run alone is locked, its jobs are read without a lock", () => {
    expect(render(lockRunOfJobSql(1n)).text).toMatchInlineSnapshot(`
      "
        SELECT json_build_object('id', id, 'repo_id', repo_id, 'status', status::text)::text AS run
        FROM workflow_runs WHERE id = (SELECT run_id FROM workflow_jobs WHERE id = $1::bigint) FOR UPDATE"
    `);
    expect(render(lockRunSql(1n)).text).toMatchInlineSnapshot(`
      "
        SELECT json_build_object('id', id, 'repo_id', repo_id, 'status', status::text)::text AS run
        FROM workflow_runs WHERE id = $1::bigint FOR UPDATE"
    `);
    expect(render(jobsOfRunSql(1n)).text).not.toMatch(/FOR (UPDATE|SHARE|NO KEY|KEY)/);
  });

  it("the settlement's text does not depend on the values", () => {
    const a = render(runWriteCtes({ skip: [1], runId: 1, run: { status: "running", conclusion: null }, at })).text;
    expect(render(runWriteCtes({ skip: [], runId: 2, run: null, at: new Date() })).text).toBe(a);
    expect(a).toMatchInlineSnapshot(`
      "skipped AS (
          UPDATE workflow_jobs SET status = 'skipped', conclusion = 'skipped', completed_at = $1::timestamptz, updated_at = $2::timestamptz
          WHERE id = ANY($3::bigint[]) AND status = 'queued' RETURNING id
        ), skipped_steps AS (
          UPDATE workflow_steps SET status = 'skipped', conclusion = 'skipped', completed_at = $4::timestamptz
          WHERE job_id IN (SELECT id FROM skipped) AND status IN ('queued', 'running') RETURNING 1
        ), run AS (
          UPDATE workflow_runs SET status = $5::text::run_status, conclusion = $6::text::conclusion, updated_at = $7::timestamptz,
            started_at = CASE WHEN $8::text = 'running' THEN $9::timestamptz ELSE started_at END,
            completed_at = CASE WHEN $10::text = 'completed' THEN $11::timestamptz ELSE completed_at END
          WHERE id = $12::bigint AND (($13::text = 'running' AND status = 'queued') OR ($14::text = 'completed' AND status <> 'completed'))
          RETURNING status::text AS status
        )"
    `);
  });
});
