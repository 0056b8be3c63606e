import { describe, expect, it } from "vitest";
import { render, type Fragment } from "../../infra/sqlf.ts";
import { groupBusySql, groupLockSql, matrixRunningSql, pickJobSql } from "./claim.ts";
import { candidatesSql } from "./reaper.ts";
import { lockStepSql } from "./steps.ts";
import { bulkFilters, matchRunsSql } from "./bulkcancel.ts";
import { factsSql, unrunnableSql } from "./waiting.ts";

// The statements of the claim, the reaper, a step's report, bulk cancel and waiting_for, as they
// render (infra/sqlf.ts): placeholders $1…$n once each in order, and the values they bind.

const numbered = (r: { text: string; values: unknown[] }) => [...r.text.matchAll(/\$(\d+)/g)].map((m) => Number(m[1]));
const oneToN = (n: number) => Array.from({ length: n }, (_, i) => i + 1);

const now = new Date("2026-01-02T03:04:05.000Z");
const ago = (ms: number) => new Date(now.getTime() - ms).toISOString();
const policy = { heartbeatWindowMs: 60_000, timeoutSlackMs: 30_000, cancelDeadlineMs: 10_000 };
const f = (x: object) => bulkFilters.parse(x);

describe("composed statements render", () => {
  const cases: [string, Fragment, unknown[], string[]][] = [
    ["pick a job: the labels once, the group and matrix on the row's own columns", pickJobSql(["linux", "x64"]), [["linux", "x64"]],
      ["<@ $1::text[]", "oj.concurrency_group = j.concurrency_group AND orr.repo_id = r.repo_id", "mj.run_id = j.run_id AND mj.matrix_key = j.matrix_key"]],
    ["the group's lock", groupLockSql(3n, "deploy"), ["concurrency:3:deploy"], ["hashtextextended($1::text, 0)"]],
    ["the group busy, read again", groupBusySql(3n, "deploy"), ["deploy", "3"], ["oj.concurrency_group = $1::text AND orr.repo_id = $2::bigint"]],
    ["the matrix running, read again", matrixRunningSql(9n, "m"), ["9", "m"], ["mj.run_id = $1::bigint AND mj.matrix_key = $2::text"]],
    ["the reaper's candidates", candidatesSql(policy, now, 50), [ago(60_000), ago(30_000), ago(10_000), 50],
      ["r.last_heartbeat_at < $1::timestamptz", "< $2::timestamptz", "j.cancel_requested_at < $3::timestamptz", "LIMIT $4::int"]],
    ["a step, locked", lockStepSql(4n, 5n), ["5", "4"], ["WHERE s.id = $1::bigint AND s.job_id = $2::bigint FOR UPDATE OF s"]],
    ["bulk cancel, no filter", matchRunsSql(3n, f({})), ["3", 100], ["WHERE repo_id = $1::bigint AND status IN ('queued', 'running') ORDER BY id LIMIT $2::int"]],
    ["bulk cancel, every filter", matchRunsSql(3n, f({ status: "queued", workflow_file: "ci.yml", head_ref: "main", created_before: now.toISOString(), limit: 5 })),
      ["3", "queued", "ci.yml", ".shithub/workflows/ci.yml", "main", "refs/heads/main", now.toISOString(), 5],
      ["WHERE repo_id = $1::bigint AND status = $2::text::run_status AND workflow_file IN ($3::text, $4::text) AND head_ref IN ($5::text, $6::text) AND created_at < $7::timestamptz ORDER BY id LIMIT $8::int"]],
  ];
  it.each(cases)("%s", (_, fr, values, parts) => {
    const r = render(fr);
    expect(r.values).toEqual(values);
    expect(numbered(r)).toEqual(oneToN(values.length));
    for (const p of parts) expect(r.text).toContain(p);
  });

  it("a filter's text does not depend on its values, only on which filters are set", () => {
    const a = render(matchRunsSql(1n, f({ head_ref: "a" }))).text;
    expect(render(matchRunsSql(2n, f({ head_ref: "b", limit: 3 }))).text).toBe(a);
    expect(render(matchRunsSql(2n, f({ workflow_file: "b" }))).text).not.toBe(a);
  });

  it("the pick's text", () => {
    expect(render(pickJobSql([])).text).toMatchInlineSnapshot(`
      "
          WITH c AS MATERIALIZED (
            SELECT id FROM workflow_jobs
            WHERE status = 'queued' AND NOT cancel_requested AND string_to_array(runs_on, ',') <@ $1::text[])
          SELECT j.id, j.run_id, r.repo_id, j.concurrency_group, j.matrix_key, j.max_parallel FROM c
          JOIN workflow_jobs j ON j.id = c.id
          JOIN workflow_runs r ON r.id = j.run_id
          WHERE j.status = 'queued' AND NOT j.cancel_requested
            AND (coalesce(cardinality(j.needs), 0) = 0 OR NOT EXISTS (
              SELECT 1 FROM workflow_jobs d
              WHERE d.run_id = j.run_id AND d.job_key = ANY(j.needs)
                AND (d.status <> 'completed' OR d.conclusion IS DISTINCT FROM 'success')))
            -- concurrency: (run level) no older run of the group still open in the repository;
            AND (r.concurrency_group IS NULL OR NOT EXISTS (
              SELECT 1 FROM workflow_runs o
              WHERE o.repo_id = r.repo_id AND o.concurrency_group = r.concurrency_group
                AND o.id < r.id AND o.status <> 'completed'))
            -- (job level) no job of the group running in the repository.
            AND (j.concurrency_group IS NULL OR NOT EXISTS (
          SELECT 1 FROM workflow_jobs oj JOIN workflow_runs orr ON orr.id = oj.run_id
          WHERE oj.status = 'running' AND oj.concurrency_group = j.concurrency_group AND orr.repo_id = r.repo_id))
            -- max-parallel: fewer than that many of the job's matrix running (index on run_id, matrix_key, status).
            AND (j.max_parallel IS NULL OR (SELECT count(*) FROM workflow_jobs mj WHERE mj.run_id = j.run_id AND mj.matrix_key = j.matrix_key AND mj.status = 'running') < j.max_parallel)
          ORDER BY j.id
          LIMIT 1
          FOR UPDATE OF j, r SKIP LOCKED"
    `);
  });
});

describe("waiting_for's statements render", () => {
  it("the online-runner condition binds the window once per use, numbered in place", () => {
    const stale = new Date("2026-01-02T03:00:00.000Z");
    const facts = render(factsSql([4n, 5n], stale));
    expect(facts.values).toEqual([stale.toISOString(), ["4", "5"]]);
    expect(numbered(facts)).toEqual([1, 2]);
    expect(facts.text).toContain("ru.last_heartbeat_at >= $1::timestamptz");
    expect(facts.text).toContain("WHERE j.id = ANY($2::bigint[]) AND j.status = 'queued'");
    const unrunnable = render(unrunnableSql(stale));
    expect(unrunnable).toEqual({ text: expect.stringContaining("ru.last_heartbeat_at >= $1::timestamptz") as unknown as string, values: [stale.toISOString()] });
    expect(numbered(unrunnable)).toEqual([1]);
  });
});
