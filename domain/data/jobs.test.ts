import { describe, expect, it } from "vitest";
import { render } from "../../infra/sqlf.ts";
import { reportWriteSql, type ReportWrite } from "./jobs.ts";

const numbered = (r: { text: string; values: unknown[] }) => [...r.text.matchAll(/\$(\d+)/g)].map((m) => Number(m[1]));
const oneToN = (n: number) => Array.from({ length: n }, (_, i) => i + 1);

describe("a runner's report renders", () => {
  const at = new Date("2026-01-02T03:04:05.000Z");
  const t = at.toISOString();
  const write = (status: ReportWrite["status"], conclusion: ReportWrite["conclusion"], run: ReportWrite["settlement"]["run"]): ReportWrite =>
    ({ jobId: 4n, status, conclusion, at, settlement: { skip: status === "completed" ? [5] : [], runId: 9, run } });
  // job (status, conclusion, at, status, at, status, at, id), running_steps (at, status ×3, conclusion, status ×2, id),
  // queued_steps (at, status ×4, id), then the settlement.
  const own = (s: string, c: string | null) => [s, c, t, s, t, s, t, "4", t, s, s, s, c, s, s, "4", t, s, s, s, s, s, "4"];
  const settlement = (skip: string[], status: string | null, conclusion: string | null) =>
    [t, t, skip, t, status, conclusion, t, status, t, status, t, "9", status, status];
  const cases: [string, ReportWrite, unknown[]][] = [
    ["a start that starts the run", write("running", null, { status: "running", conclusion: null }), [...own("running", null), ...settlement([], "running", null)]],
    ["a failure that skips a dependent and completes the run", write("completed", "failure", { status: "completed", conclusion: "failure" }),
      [...own("completed", "failure"), ...settlement(["5"], "completed", "failure")]],
  ];
  it.each(cases)("%s: values in placeholder order", (_, w, values) => {
    const r = render(reportWriteSql(w));
    expect(r.values).toEqual(values);
    expect(numbered(r)).toEqual(oneToN(values.length));
  });

  it("one text for every report", () => {
    expect(render(reportWriteSql(cases[1]![1])).text).toBe(render(reportWriteSql(cases[0]![1])).text);
    expect(render(reportWriteSql(cases[0]![1])).text).toMatchInlineSnapshot(`
      "
        WITH job AS (
          UPDATE workflow_jobs SET status = $1::text::job_status, conclusion = $2::text::conclusion, updated_at = $3::timestamptz,
            started_at = CASE WHEN $4::text = 'running' THEN $5::timestamptz ELSE started_at END,
            completed_at = CASE WHEN $6::text = 'running' THEN completed_at ELSE $7::timestamptz END
          WHERE id = $8::bigint RETURNING id
        ), running_steps AS (
          UPDATE workflow_steps SET completed_at = $9::timestamptz,
            status = CASE WHEN $10::text = 'completed' THEN 'completed' ELSE $11::text END::job_status,
            conclusion = CASE WHEN $12::text = 'completed' THEN COALESCE($13::text, 'failure') ELSE $14::text END::conclusion
          WHERE $15::text <> 'running' AND job_id = $16::bigint AND status = 'running' RETURNING 1
        ), queued_steps AS (
          UPDATE workflow_steps SET completed_at = $17::timestamptz,
            status = CASE WHEN $18::text = 'completed' THEN 'skipped' ELSE $19::text END::job_status,
            conclusion = CASE WHEN $20::text = 'completed' THEN 'skipped' ELSE $21::text END::conclusion
          WHERE $22::text <> 'running' AND job_id = $23::bigint AND status = 'queued' RETURNING 1
        ), skipped AS (
          UPDATE workflow_jobs SET status = 'skipped', conclusion = 'skipped', completed_at = $24::timestamptz, updated_at = $25::timestamptz
          WHERE id = ANY($26::bigint[]) AND status = 'queued' RETURNING id
        ), skipped_steps AS (
          UPDATE workflow_steps SET status = 'skipped', conclusion = 'skipped', completed_at = $27::timestamptz
          WHERE job_id IN (SELECT id FROM skipped) AND status IN ('queued', 'running') RETURNING 1
        ), run AS (
          UPDATE workflow_runs SET status = $28::text::run_status, conclusion = $29::text::conclusion, updated_at = $30::timestamptz,
            started_at = CASE WHEN $31::text = 'running' THEN $32::timestamptz ELSE started_at END,
            completed_at = CASE WHEN $33::text = 'completed' THEN $34::timestamptz ELSE completed_at END
          WHERE id = $35::bigint AND (($36::text = 'running' AND status = 'queued') OR ($37::text = 'completed' AND status <> 'completed'))
          RETURNING status::text AS status
        )
        SELECT (SELECT status FROM run) AS run_status"
    `);
  });
});
