import { describe, expect, it } from "vitest";
import { runEnds, systemSuite } from "./setup/system.ts";
import { call, pushAndRun } from "./setup/world.ts";

// What a job's log says beyond its lines: a failed step's log ends with its exit code (the
// runner writes it, as a real runner does), and a reused job's log says which job's log it
// is — api, worker and a runner-sim fleet as separate processes.

const sys = systemSuite("job-logs", { RUNNERS: "1", RUNNER_CAPACITY: "2", RUNNER_NAME_PREFIX: "jl" });

const WORKFLOW = `name: CI
on: push
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - name: Compile
        run: echo compiling
  test:
    needs: [build]
    runs-on: ubuntu-latest
    steps:
      - name: Unit tests
        run: echo testing; exit 3
`;

const log = async (jobId: number) => {
  const r = await call(sys.api, "GET", `/api/v1/jobs/${jobId}/logs`, { token: sys.world.tokens.carol });
  expect(r.status).toBe(200);
  return r.body as string;
};

describe("job logs", () => {
  it("end a failed step with its exit code, and point a reused job to the log of the job that ran", async () => {
    const src = await pushAndRun(sys.db.prisma, "alice/demo", WORKFLOW, "1091091a");
    const first = await runEnds(sys.db, src.run_id);
    expect(first.jobs.map((j) => j.conclusion)).toEqual(["success", "failure"]);
    const [build, test] = src.job_ids as [number, number];
    expect(await log(test)).toBe("##[group]Unit tests\ntesting\n##[error]Process completed with exit code 3.\n##[endgroup]\n");
    // A step that succeeded ends as it did.
    expect(await log(build)).toBe("##[group]Compile\ncompiling\n##[endgroup]\n");

    // Two reruns of the failed job: build is reused from the run before, which reused it too.
    let parent = src.run_id;
    for (const attempt of [2, 3]) {
      const res = await call(sys.api, "POST", `/api/v1/runs/${parent}/rerun-failed-jobs`, { token: sys.world.tokens.bob });
      expect(res.status).toBe(201);
      const again = await runEnds(sys.db, res.body.run_id);
      expect(again).toMatchObject({ attempt, conclusion: "failure" });
      const reused = again.jobs.find((j) => j.jobKey === "build")!;
      expect(reused.reused).toBe(true);
      expect(await log(Number(reused.id))).toBe(
        `##[notice]This job was not run again: a rerun reused it from job ${build} of run ${src.run_id}, as it ended there. Its log: /api/v1/jobs/${build}/logs\n` +
          "##[group]Compile\n##[endgroup]\n",
      );
      // The job that ran again has its own log, exit code and all.
      expect(await log(Number(again.jobs.find((j) => j.jobKey === "test")!.id))).toMatch(/testing\n##\[error\]Process completed with exit code 3\.\n##\[endgroup\]\n$/);
      parent = res.body.run_id;
    }
  });
});
