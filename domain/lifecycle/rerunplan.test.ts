import { describe, expect, it } from "vitest";
import { planRerun, type PlanJob, type RerunPlan, type RerunScope, type SourceJob } from "./rerunplan.ts";
import type { Conclusion, JobStatus } from "./types.ts";

/** "b:a,c" is job b needing a and c. */
function wf(...specs: string[]): PlanJob[] {
  return specs.map((s) => {
    const [key, needs] = s.split(":") as [string, string | undefined];
    return { jobKey: key, needs: needs ? needs.split(",") : [] };
  });
}

const STATUS: Record<Conclusion, JobStatus> = {
  success: "completed", failure: "completed", neutral: "completed", timed_out: "completed",
  action_required: "completed", cancelled: "cancelled", skipped: "skipped",
};
/** "a=success" is job a that ended completed/success in the source. */
function src(...specs: string[]): SourceJob[] {
  return specs.map((s) => {
    const [key, c] = s.split("=") as [string, Conclusion];
    return { jobKey: key, status: STATUS[c], conclusion: c };
  });
}

const plan = (queued: string[], reused: string[], skipped: string[] = []): RerunPlan => ({ ok: true, queued, reused, skipped });
const FAILED: RerunScope = { kind: "failed" };
const job = (jobKey: string): RerunScope => ({ kind: "job", jobKey });

describe("planRerun: failed jobs", () => {
  const rows: [string, PlanJob[], SourceJob[], RerunPlan][] = [
    ["single failed job", wf("a"), src("a=failure"), plan(["a"], [])],
    ["all succeeded: nothing to rerun", wf("a", "b:a"), src("a=success", "b=success"), { ok: false, reason: "nothing_to_rerun" }],
    ["no jobs at all: nothing to rerun", [], [], { ok: false, reason: "nothing_to_rerun" }],
    ["chain: a ok, b failed, c skipped", wf("a", "b:a", "c:b"), src("a=success", "b=failure", "c=skipped"), plan(["b", "c"], ["a"])],
    ["chain: first job failed", wf("a", "b:a", "c:b"), src("a=failure", "b=skipped", "c=skipped"), plan(["a", "b", "c"], [])],
    [
      "a succeeded job that needs a failed one is run again",
      wf("a", "b:a"),
      src("a=failure", "b=success"),
      plan(["a", "b"], []),
    ],
    [
      "diamond: one branch failed, the join is rerun, the other branch reused",
      wf("a", "b:a", "c:a", "d:b,c"),
      src("a=success", "b=success", "c=failure", "d=skipped"),
      plan(["c", "d"], ["a", "b"]),
    ],
    [
      "diamond: the root failed, everything runs",
      wf("a", "b:a", "c:a", "d:b,c"),
      src("a=failure", "b=skipped", "c=skipped", "d=skipped"),
      plan(["a", "b", "c", "d"], []),
    ],
    [
      "independent jobs: only the failed ones",
      wf("a", "b", "c"),
      src("a=success", "b=timed_out", "c=cancelled"),
      plan(["b", "c"], ["a"]),
    ],
    ["every non-success conclusion is rerun", wf("a", "b", "c", "d"), src("a=neutral", "b=action_required", "c=skipped", "d=success"), plan(["a", "b", "c"], ["d"])],
    ["a job missing in the source is queued", wf("a", "b"), src("a=success"), plan(["b"], ["a"])],
    [
      "a job missing in the source queues its dependents",
      wf("a", "n", "b:n", "c:a"),
      src("a=success", "b=success", "c=success"),
      plan(["n", "b"], ["a", "c"]),
    ],
    ["source jobs not in the workflow are ignored", wf("a"), src("a=failure", "gone=failure"), plan(["a"], [])],
    [
      "long chain, failure in the middle",
      wf("a", "b:a", "c:b", "d:c", "e:d"),
      src("a=success", "b=success", "c=failure", "d=skipped", "e=skipped"),
      plan(["c", "d", "e"], ["a", "b"]),
    ],
  ];
  it.each(rows)("%s", (_name, jobs, source, want) => {
    expect(planRerun(jobs, source, FAILED)).toEqual(want);
  });
});

describe("planRerun: one job", () => {
  const rows: [string, PlanJob[], SourceJob[], string, RerunPlan][] = [
    ["a lone job", wf("a"), src("a=success"), "a", plan(["a"], [])],
    ["the job and its dependents", wf("a", "b:a", "c:b", "d"), src("a=success", "b=success", "c=success", "d=success"), "b", plan(["b", "c"], ["a", "d"])],
    [
      "a carried-over failure keeps its conclusion",
      wf("a", "b", "c:b"),
      src("a=failure", "b=success", "c=success"),
      "b",
      plan(["b", "c"], ["a"]),
    ],
    [
      "needs that did not succeed are run again first",
      wf("a", "b:a", "c:b"),
      src("a=failure", "b=skipped", "c=skipped"),
      "c",
      plan(["a", "b", "c"], []),
    ],
    [
      "only the needs that did not succeed",
      wf("a", "b:a", "c:b", "x"),
      src("a=success", "b=failure", "c=skipped", "x=failure"),
      "c",
      plan(["b", "c"], ["a", "x"]),
    ],
    [
      "diamond: rerun one branch, the join follows",
      wf("a", "b:a", "c:a", "d:b,c"),
      src("a=success", "b=success", "c=success", "d=success"),
      "b",
      plan(["b", "d"], ["a", "c"]),
    ],
    [
      "diamond: a dependent that needs a carried-over failure is skipped at once",
      wf("a", "b:a", "c:a", "d:b,c"),
      src("a=success", "b=success", "c=failure", "d=skipped"),
      "b",
      plan(["b"], ["a", "c"], ["d"]),
    ],
    [
      "skipping reaches the dependents of a skipped job",
      wf("a", "f", "b:a,f", "c:b"),
      src("a=success", "f=failure", "b=skipped", "c=skipped"),
      "a",
      plan(["a"], ["f"], ["b", "c"]),
    ],
    ["a job missing in the source is queued too", wf("a", "b", "n"), src("a=success", "b=success"), "a", plan(["a", "n"], ["b"])],
    ["the job is not in the workflow", wf("a"), src("a=success", "gone=failure"), "gone", { ok: false, reason: "job_not_in_workflow" }],
  ];
  it.each(rows)("%s", (_name, jobs, source, key, want) => {
    expect(planRerun(jobs, source, job(key))).toEqual(want);
  });

  it("never queues a job whose need is carried over without success (any scope)", () => {
    const jobs = wf("a", "b:a", "c:a", "d:b,c", "e:d", "f");
    const conclusions: Conclusion[] = ["success", "failure", "cancelled", "skipped", "timed_out"];
    for (let mask = 0; mask < conclusions.length ** jobs.length; mask += 31) {
      const source = src(...jobs.map((j, i) => `${j.jobKey}=${conclusions[Math.floor(mask / 5 ** i) % 5]!}`));
      for (const scope of [FAILED, ...jobs.map((j) => job(j.jobKey))]) {
        const p = planRerun(jobs, source, scope);
        if (!p.ok) continue;
        const ok = new Set([...p.queued, ...p.reused.filter((k) => source.find((s) => s.jobKey === k)!.conclusion === "success")]);
        for (const k of p.queued) expect(jobs.find((j) => j.jobKey === k)!.needs.every((n) => ok.has(n)), `${k} in ${JSON.stringify(scope)}`).toBe(true);
        expect([...p.queued, ...p.reused, ...p.skipped].sort()).toEqual(jobs.map((j) => j.jobKey).sort());
        if (scope.kind === "job") expect(p.queued).toContain(scope.jobKey);
      }
    }
  });
});
