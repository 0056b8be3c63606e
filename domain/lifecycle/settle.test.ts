import { describe, expect, it } from "vitest";
import { failFast, jobsToSkip, rollUp, settle, settleAround, type FailFast, type MatrixMember, type RollUp } from "./settle.ts";
import { aroundOf } from "../../test/setup/around.ts";
import { CONCLUSIONS, isOpen, type Conclusion, type JobStatus, type JobView, type RunStatus } from "./types.ts";

function job(
  jobIndex: number,
  jobKey: string,
  status: JobStatus,
  conclusion: Conclusion | null = null,
  needs: string[] = [],
): JobView {
  return { jobIndex, jobKey, needs, status, conclusion };
}
/** A terminal job with its natural status for the conclusion. */
function done(jobIndex: number, jobKey: string, conclusion: Conclusion, needs: string[] = []): JobView {
  const status: JobStatus = conclusion === "cancelled" ? "cancelled" : conclusion === "skipped" ? "skipped" : "completed";
  return job(jobIndex, jobKey, status, conclusion, needs);
}

describe("rollUp: open runs", () => {
  const rows: [string, RunStatus, JobView[], RollUp][] = [
    ["all queued stays queued", "queued", [job(0, "a", "queued"), job(1, "b", "queued")], { status: "queued" }],
    ["a job starts → running", "queued", [job(0, "a", "running"), job(1, "b", "queued")], { status: "running" }],
    [
      "a job cancelled while queued does not start the run",
      "queued",
      [done(0, "a", "cancelled"), job(1, "b", "queued")],
      { status: "queued" },
    ],
    [
      "a running run never goes back to queued",
      "running",
      [done(0, "a", "success"), job(1, "b", "queued")],
      { status: "running" },
    ],
    ["running run with only queued jobs stays running", "running", [job(0, "a", "queued")], { status: "running" }],
    ["running job keeps it open", "running", [done(0, "a", "failure"), job(1, "b", "running")], { status: "running" }],
    [
      "queued job keeps it open even after a failure",
      "running",
      [done(0, "a", "failure"), job(1, "b", "queued")],
      { status: "running" },
    ],
  ];
  it.each(rows)("%s", (_name, current, jobs, want) => {
    expect(rollUp(current, jobs)).toEqual(want);
  });
});

describe("rollUp: every job conclusion alone", () => {
  const decided: Record<Conclusion, Conclusion> = {
    success: "success",
    failure: "failure",
    neutral: "success",
    cancelled: "cancelled",
    skipped: "success",
    timed_out: "timed_out",
    action_required: "action_required",
  };
  it.each(CONCLUSIONS.map((c) => [c, decided[c]] as const))("one job %s → run %s", (c, want) => {
    expect(rollUp("running", [done(0, "a", c)])).toEqual({ status: "completed", conclusion: want });
  });
});

describe("rollUp: completed runs (docs/lifecycle.md, Settling a run)", () => {
  const rows: [string, JobView[], Conclusion][] = [
    ["all success", [done(0, "a", "success"), done(1, "b", "success")], "success"],
    ["a failure decides", [done(0, "a", "success"), done(1, "b", "failure")], "failure"],
    [
      "first by job_index decides, not array order",
      [done(2, "c", "failure"), done(1, "b", "timed_out"), done(3, "d", "action_required")],
      "timed_out",
    ],
    ["action_required before failure", [done(5, "b", "failure"), done(1, "a", "action_required")], "action_required"],
    ["decisive beats an earlier cancelled", [done(0, "a", "cancelled"), done(1, "b", "failure")], "failure"],
    ["cancelled beats success", [done(0, "a", "success"), done(1, "b", "cancelled")], "cancelled"],
    ["cancelled with skipped dependents", [done(0, "a", "cancelled"), done(1, "b", "skipped", ["a"])], "cancelled"],
    ["failure with skipped dependents", [done(0, "a", "failure"), done(1, "b", "skipped", ["a"])], "failure"],
    ["neutral is not decisive", [done(0, "a", "neutral"), done(1, "b", "success")], "success"],
    ["all skipped", [done(0, "a", "skipped"), done(1, "b", "skipped")], "success"],
  ];
  it.each(rows)("%s → %s", (_name, jobs, want) => {
    expect(rollUp("running", jobs)).toEqual({ status: "completed", conclusion: want });
  });

  it.each<RunStatus>(["queued", "running", "completed"])("zero jobs → failure (current %s)", (current) => {
    expect(rollUp(current, [])).toEqual({ status: "completed", conclusion: "failure" });
  });

  it("a queued run whose jobs were all cancelled before starting completes", () => {
    expect(rollUp("queued", [done(0, "a", "cancelled"), done(1, "b", "cancelled")])).toEqual({
      status: "completed",
      conclusion: "cancelled",
    });
  });

  it("does not reorder the caller's array", () => {
    const jobs = [done(2, "c", "failure"), done(1, "b", "timed_out")];
    rollUp("running", jobs);
    expect(jobs.map((j) => j.jobKey)).toEqual(["c", "b"]);
  });
});

describe("jobsToSkip", () => {
  const sorted = (xs: string[]) => [...xs].sort();

  const rows: [string, JobView[], string[]][] = [
    ["direct dependent of a failure", [done(0, "a", "failure"), job(1, "b", "queued", null, ["a"])], ["b"]],
    ["success needs are not skipped", [done(0, "a", "success"), job(1, "b", "queued", null, ["a"])], []],
    ["open needs are not skipped", [job(0, "a", "running"), job(1, "b", "queued", null, ["a"])], []],
    ["queued needs are not skipped", [job(0, "a", "queued"), job(1, "b", "queued", null, ["a"])], []],
    [
      "transitive chain",
      [
        done(0, "a", "failure"),
        job(1, "b", "queued", null, ["a"]),
        job(2, "c", "queued", null, ["b"]),
        job(3, "d", "queued", null, ["c"]),
      ],
      ["b", "c", "d"],
    ],
    [
      "transitive chain listed in reverse order",
      [
        job(3, "d", "queued", null, ["c"]),
        job(2, "c", "queued", null, ["b"]),
        job(1, "b", "queued", null, ["a"]),
        done(0, "a", "failure"),
      ],
      ["b", "c", "d"],
    ],
    [
      "diamond: each job once",
      [
        done(0, "a", "failure"),
        job(1, "b", "queued", null, ["a"]),
        job(2, "c", "queued", null, ["a"]),
        job(3, "d", "queued", null, ["b", "c"]),
      ],
      ["b", "c", "d"],
    ],
    [
      "diamond with one dead branch",
      [
        done(0, "a", "success"),
        done(1, "b", "failure", ["a"]),
        job(2, "c", "queued", null, ["a"]),
        job(3, "d", "queued", null, ["b", "c"]),
      ],
      ["d"],
    ],
    [
      "running dependents are never skipped, nor what waits on them",
      [done(0, "a", "failure"), job(1, "b", "running", null, ["a"]), job(2, "c", "queued", null, ["b"])],
      [],
    ],
    [
      "already skipped jobs are not listed again, their dependents are",
      [done(0, "a", "failure"), done(1, "b", "skipped", ["a"]), job(2, "c", "queued", null, ["b"])],
      ["c"],
    ],
    [
      "terminal dependents are left alone",
      [done(0, "a", "failure"), done(1, "b", "success", ["a"])],
      [],
    ],
    [
      "unrelated queued jobs are left alone",
      [done(0, "a", "failure"), job(1, "b", "queued"), job(2, "c", "queued", null, ["b"])],
      [],
    ],
    ["nothing terminal", [job(0, "a", "queued"), job(1, "b", "queued", null, ["a"])], []],
    ["no jobs", [], []],
  ];
  it.each(rows)("%s", (_name, jobs, want) => {
    const got = jobsToSkip(jobs);
    expect(sorted(got)).toEqual(sorted(want));
    expect(new Set(got).size).toBe(got.length);
  });

  it.each(CONCLUSIONS.filter((c) => c !== "success"))("a need that ended %s skips its dependents", (c) => {
    expect(jobsToSkip([done(0, "a", c), job(1, "b", "queued", null, ["a"]), job(2, "c", "queued", null, ["b"])]).sort()).toEqual([
      "b",
      "c",
    ]);
  });
});

describe("settle", () => {
  it("on a completed run returns run=null and never completes it again", () => {
    const s = settle("completed", [done(0, "a", "failure"), done(1, "b", "skipped", ["a"])]);
    expect(s).toEqual({ skip: [], run: null, completes: false });
  });

  const rows: [string, RunStatus, JobView[], { skip: string[]; run: RollUp; completes: boolean }][] = [
    [
      "failure skips the rest and completes the run",
      "running",
      [done(0, "a", "failure"), job(1, "b", "queued", null, ["a"]), job(2, "c", "queued", null, ["b"])],
      { skip: ["b", "c"], run: { status: "completed", conclusion: "failure" }, completes: true },
    ],
    [
      "cancel of a queued root completes a queued run as cancelled",
      "queued",
      [done(0, "a", "cancelled"), job(1, "b", "queued", null, ["a"])],
      { skip: ["b"], run: { status: "completed", conclusion: "cancelled" }, completes: true },
    ],
    [
      "neutral root: dependents skipped, run succeeds",
      "running",
      [done(0, "a", "neutral"), job(1, "b", "queued", null, ["a"])],
      { skip: ["b"], run: { status: "completed", conclusion: "success" }, completes: true },
    ],
    [
      "an independent job keeps the run open",
      "running",
      [done(0, "a", "failure"), job(1, "b", "queued", null, ["a"]), job(2, "c", "running")],
      { skip: ["b"], run: { status: "running" }, completes: false },
    ],
    [
      "success: nothing to skip, next job waits",
      "running",
      [done(0, "a", "success"), job(1, "b", "queued", null, ["a"])],
      { skip: [], run: { status: "running" }, completes: false },
    ],
    [
      "all done with success",
      "running",
      [done(0, "a", "success"), done(1, "b", "success", ["a"])],
      { skip: [], run: { status: "completed", conclusion: "success" }, completes: true },
    ],
  ];
  it.each(rows)("%s", (_name, current, jobs, want) => {
    const s = settle(current, jobs);
    expect({ ...s, skip: [...s.skip].sort() }).toEqual(want);
  });

  it("does not mutate the jobs it is given", () => {
    const jobs = [done(0, "a", "failure"), job(1, "b", "queued", null, ["a"])];
    const before = structuredClone(jobs);
    settle("running", jobs);
    expect(jobs).toEqual(before);
  });
});

describe("failFast", () => {
  const m = (id: number, jobKey: string, matrixKey: string | null, status: JobStatus, failFast = true): MatrixMember => ({ id, jobKey, matrixKey, failFast, status });
  const matrix = [m(1, "build (18)", "build", "running"), m(2, "build (20)", "build", "running"), m(3, "build (22)", "build", "queued"), m(4, "build (24)", "build", "completed"), m(5, "lint", null, "queued")];
  const rows: [string, MatrixMember[], { id: number; conclusion: Conclusion }, FailFast][] = [
    ["a failure cancels the open rest of its matrix", matrix, { id: 1, conclusion: "failure" }, { cancel: true, jobIds: [2, 3], reason: "fail-fast: build (18) failed" }],
    ["a timeout too", matrix, { id: 2, conclusion: "timed_out" }, { cancel: true, jobIds: [1, 3], reason: "fail-fast: build (20) timed out" }],
    ["success cancels nothing", matrix, { id: 1, conclusion: "success" }, { cancel: false }],
    ["a cancelled job cancels nothing", matrix, { id: 1, conclusion: "cancelled" }, { cancel: false }],
    ["fail-fast: false", matrix.map((j) => ({ ...j, failFast: false })), { id: 1, conclusion: "failure" }, { cancel: false }],
    ["a job outside a matrix", matrix, { id: 5, conclusion: "failure" }, { cancel: false }],
    ["nothing left open", [m(1, "b (1)", "b", "running"), m(2, "b (2)", "b", "skipped")], { id: 1, conclusion: "failure" }, { cancel: false }],
    ["another matrix is left alone", [m(1, "a (1)", "a", "running"), m(2, "b (1)", "b", "queued"), m(3, "a (2)", "a", "queued")], { id: 1, conclusion: "failure" },
      { cancel: true, jobIds: [3], reason: "fail-fast: a (1) failed" }],
  ];
  it.each(rows)("%s", (_name, jobs, finished, want) => {
    expect(failFast(jobs, finished)).toEqual(want);
  });
});

describe("settleAround: one job's change on bounded data settles as settle over the whole run", () => {
  // A seeded generator, so a failure names a case that can be replayed.
  function rng(seed: number) {
    let s = seed >>> 0;
    return (n: number) => {
      s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
      return s % n;
    };
  }
  const ENDINGS: [JobStatus, Conclusion][] = [
    ["completed", "success"], ["completed", "failure"], ["completed", "timed_out"], ["completed", "neutral"],
    ["completed", "action_required"], ["cancelled", "cancelled"],
  ];

  it("for 2,000 random runs and every change a runner or a cancel makes to them", () => {
    let compared = 0;
    for (let seed = 1; seed <= 2000; seed++) {
      const r = rng(seed);
      const n = 1 + r(7);
      // Job indexes shuffled against the order of the rows, so "first by index" is tested.
      const order = Array.from({ length: n }, (_, k) => k).sort(() => r(3) - 1);
      let jobs: JobView[] = order.map((idx, k) => job(idx, `j${k}`, "queued", null, Array.from({ length: k }, (_, m) => `j${m}`).filter(() => r(3) === 0)));
      let run: RunStatus = "queued";
      for (let step = 0; step < 3 * n && jobs.some((j) => isOpen(j.status)); step++) {
        const open = jobs.map((j, k) => [j, k] as const).filter(([j]) => isOpen(j.status));
        const [j, i] = open[r(open.length)]!;
        const [status, conclusion] = j.status === "queued" && r(3) > 0 ? (["running", null] as const) : ENDINGS[r(ENDINGS.length)]!;
        const to = { status, conclusion };
        const after = jobs.map((x, k) => (k === i ? { ...x, ...to } : x));
        const whole = settle(run, after);
        const bounded = settleAround(run, aroundOf(jobs, i, to));
        expect({ seed, step, skip: [...bounded.skip].sort(), run: bounded.run }).toEqual({ seed, step, skip: [...whole.skip].sort(), run: whole.run });
        compared++;
        const skipped = new Set(whole.skip);
        jobs = after.map((x) => (skipped.has(x.jobKey) ? { ...x, status: "skipped", conclusion: "skipped" } : x));
        if (whole.run) run = whole.run.status;
      }
    }
    expect(compared).toBeGreaterThan(5000);
  });
});
