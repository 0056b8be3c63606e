import { describe, expect, it } from "vitest";
import { waitFor } from "./setup/db.ts";
import { kitSuite } from "./setup/kit-suite.ts";
import { events, runEnds, runWithJobs } from "./setup/system.ts";
import { call, pushAndRun } from "./setup/world.ts";

// Rerun of failed jobs end to end: api, worker and a runner-sim fleet as separate
// processes, started by the test kit (testing/README.md). Only the failed job executes
// again; the job that succeeded is carried over.

const sys = kitSuite("reruns-e2e", { RUNNERS: "2", RUNNER_CAPACITY: "2", RUNNER_NAME_PREFIX: "rr" });
const started = (jobId: number) => events(sys.sim).filter((e) => e.msg === "job claimed" && e.job_id === jobId).length;

const WORKFLOW = `name: CI
on: push
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - name: Compile
        run: echo compiling; sleep 0.3
  test:
    needs: [build]
    runs-on: ubuntu-latest
    steps:
      - run: echo testing
      - run: exit 1
`;

describe("rerun of failed jobs with api, worker and runner-sim processes", () => {
  it("executes only the failed job again, reuses the one that succeeded, and ends with the right conclusion", async () => {
    const src = await pushAndRun(sys.db.prisma, "alice/demo", WORKFLOW, "e2ee0001");
    const first = await runEnds(sys.db, src.run_id);
    expect(first.conclusion).toBe("failure");
    expect(first.jobs.map((j) => [j.jobKey, j.conclusion])).toEqual([["build", "success"], ["test", "failure"]]);

    const res = await call(sys.api, "POST", `/api/v1/runs/${src.run_id}/rerun-failed-jobs`, { token: sys.world.tokens.bob });
    expect(res).toMatchObject({ status: 201, body: { parent_run_id: src.run_id, head_sha: "e2ee0001" } });
    const again = await runEnds(sys.db, res.body.run_id);
    // The same workflow at the same commit: `exit 1` fails again, and so does the run.
    expect(again).toMatchObject({ conclusion: "failure", attempt: 2, originalRunId: first.id });
    expect(again.jobs.map((j) => [j.jobKey, j.status, j.conclusion, j.reused])).toEqual([
      ["build", "completed", "success", true],
      ["test", "completed", "failure", false],
    ]);
    const [build, test] = again.jobs as [typeof again.jobs[0], typeof again.jobs[0]];
    expect(build).toMatchObject({ runnerId: null, startedAt: first.jobs[0]!.startedAt, completedAt: first.jobs[0]!.completedAt });
    expect(test.runnerId).not.toBeNull();
    expect(test.startedAt!.getTime()).toBeGreaterThan(first.completedAt!.getTime());
    // The fleet claimed each of the source's jobs once, the new run's test once, its build never.
    await waitFor("the runner-sim's log of the new test job", async () => started(Number(test.id)) === 1);
    expect([started(src.job_ids[0]!), started(src.job_ids[1]!), started(Number(build.id)), started(Number(test.id))]).toEqual([1, 1, 0, 1]);
    expect(await sys.db.prisma.jobToken.count({ where: { jobId: build.id } })).toBe(0);
    expect(test.steps.sort((a, b) => a.stepIndex - b.stepIndex).map((s) => s.conclusion)).toEqual(["success", "failure"]);
    // The read view says the same.
    const view = await call(sys.api, "GET", `/api/v1/runs/${res.body.run_id}`, { token: sys.world.tokens.carol });
    expect(view.body).toMatchObject({ status: "completed", conclusion: "failure", attempt: 2, original_run_id: src.run_id, parent_run_id: src.run_id });
    expect(view.body.jobs.map((j: any) => [j.job_key, j.reused])).toEqual([["build", true], ["test", false]]);
  });
});
