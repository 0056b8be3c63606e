import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sqlTx } from "../infra/sql.ts";
import { dependents, lockJobAround, lockRun } from "../domain/data/settlement.ts";
import type { JobView } from "../domain/lifecycle/types.ts";
import { aroundOf } from "./setup/around.ts";
import { createTestDb, type TestDb } from "./setup/db.ts";
import { buildWorld, pushAndRun, registerTestRunner } from "./setup/world.ts";

// The report path reads a job and the rest of its run as counts (jobAroundSql) and, when
// the job ends without success, its queued dependents (dependentsSql). Both must say what
// a read of every job says, whatever the states of the run's jobs.

const DAG = `name: Dag
on: push
jobs:
  a: { runs-on: ubuntu-latest, steps: [{ run: echo a }] }
  b: { runs-on: ubuntu-latest, needs: [a], steps: [{ run: echo b }] }
  c: { runs-on: ubuntu-latest, needs: [a], steps: [{ run: echo c }] }
  d: { runs-on: ubuntu-latest, needs: [b, c], steps: [{ run: echo d }] }
  e: { runs-on: ubuntu-latest, needs: [d], steps: [{ run: echo e }] }
  f: { runs-on: ubuntu-latest, steps: [{ run: echo f }] }
  g: { runs-on: ubuntu-latest, needs: [f], steps: [{ run: echo g }] }
`;

type State = [status: string, conclusion: string | null];
const Q: State = ["queued", null];
const R: State = ["running", null];
const done = (c: string): State => [c === "cancelled" ? "cancelled" : c === "skipped" ? "skipped" : "completed", c];

// Job states by key, each a run the read is compared on. The last is not one the rules
// make (d running while b waits): the reads must still follow only queued jobs.
const STATES: Record<string, State>[] = [
  { a: Q, b: Q, c: Q, d: Q, e: Q, f: Q, g: Q },
  { a: done("success"), b: R, c: Q, d: Q, e: Q, f: R, g: Q },
  { a: done("success"), b: done("failure"), c: R, d: Q, e: Q, f: done("timed_out"), g: done("skipped") },
  { a: done("success"), b: done("cancelled"), c: done("action_required"), d: Q, e: Q, f: done("success"), g: R },
  { a: done("neutral"), b: done("success"), c: done("success"), d: done("failure"), e: done("skipped"), f: done("cancelled"), g: done("skipped") },
  { a: R, b: Q, c: Q, d: R, e: Q, f: Q, g: Q },
];

let db: TestDb;
let sha = 0;
let runnerId: string;
beforeAll(async () => {
  db = await createTestDb("around");
  await buildWorld(db.prisma);
  runnerId = String((await registerTestRunner(db.prisma, "around", ["ubuntu-latest"], 8)).id);
});
afterAll(async () => {
  await db?.drop();
});

describe("a job read around its run says what a read of every job says", () => {
  it.each(STATES.map((s, k) => [k, s] as const))("states #%i", async (_, states) => {
    const r = await pushAndRun(db.prisma, "alice/demo", DAG, (++sha).toString(16).padStart(40, "0"));
    for (const [key, [status, conclusion]] of Object.entries(states)) {
      await db.pool.query(`UPDATE workflow_jobs SET status = $3::text::job_status, conclusion = $4::text::conclusion,
        runner_id = CASE WHEN $3 = 'running' THEN $5::bigint END WHERE run_id = $1::bigint AND job_key = $2`,
        [String(r.run_id), key, status, conclusion, runnerId]);
    }
    const { full, seen } = await sqlTx(db.pool, async (sql) => {
      const full = (await lockRun(sql, BigInt(r.run_id)))!;
      const seen = [];
      for (const j of full.jobs) {
        const a = (await lockJobAround(sql, BigInt(j.id)))!;
        seen.push({ job: a.job, rest: a.rest, dependents: (await dependents(sql, a.run.id, j.job_key)).map((d) => d.jobKey).sort() });
      }
      return { full, seen };
    });
    expect(full.jobs).toHaveLength(7);
    const views: JobView[] = full.jobs.map((j) => ({ jobIndex: j.job_index, jobKey: j.job_key, needs: j.needs, status: j.status, conclusion: j.conclusion }));
    const expected = full.jobs.map((j, i) => {
      const o = aroundOf(views, i, { status: j.status, conclusion: j.conclusion });
      return { job: j, rest: o.rest, dependents: o.dependents.map((d) => d.jobKey).sort() };
    });
    expect(seen).toEqual(expected);
  });
});
