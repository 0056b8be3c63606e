import { describe, expect, it } from "vitest";
import { settle } from "./settle.ts";
import { CANCELLED, decideJobCancel, planCancel, type CancelIntent, type CancelJobRow, type CancelPlan, type CancelTarget, type JobCancel } from "./cancel.ts";
import type { JobStatus } from "./types.ts";

// Every job status × cancelRequested × force (docs/lifecycle.md, "Cancel").
const jobTable: [JobStatus, boolean, boolean, JobCancel][] = [
  ["queued", false, false, { outcome: "end_now" }],
  // A queued job can carry the flag only transiently; it still ends at once.
  ["queued", true, false, { outcome: "end_now" }],
  ["queued", false, true, { outcome: "end_now" }],
  ["queued", true, true, { outcome: "end_now" }],
  ["running", false, false, { outcome: "flag" }],
  ["running", true, false, { outcome: "noop", reason: "already_requested" }],
  ["running", false, true, { outcome: "end_now" }],
  ["running", true, true, { outcome: "end_now" }],
  ...(["completed", "cancelled", "skipped"] as const).flatMap((s) =>
    [false, true].flatMap((flagged) => [false, true].map((force): [JobStatus, boolean, boolean, JobCancel] => [s, flagged, force, { outcome: "noop", reason: "terminal" }]))),
];

describe("decideJobCancel", () => {
  it.each(jobTable)("status=%s cancelRequested=%s force=%s → %o", (status, cancelRequested, force, expected) => {
    expect(decideJobCancel({ status, cancelRequested }, force)).toEqual(expected);
  });

  it("covers every job status, flagged or not, forced or not", () => {
    const statuses: JobStatus[] = ["queued", "running", "completed", "cancelled", "skipped"];
    for (const s of statuses) expect(jobTable.filter(([st]) => st === s)).toHaveLength(4);
  });

  it("rejects an unknown status instead of guessing", () => {
    expect(() => decideJobCancel({ status: "bogus" as JobStatus, cancelRequested: false }, false)).toThrow(/job status/);
  });
});

const now = new Date("2026-01-02T03:04:05.000Z");
const actor = { userId: 7n, tokenId: 8n, reason: "why" };
const run = { id: 9 };
const row = (id: number, status: JobStatus, over: Partial<CancelJobRow> = {}): CancelJobRow =>
  ({ id, status, cancel_requested: false, runner_id: status === "running" ? 100 + id : null, ...over });
const intent = (target: CancelTarget, force = false): CancelIntent => ({ target, force, actor, now });
const signal = (jobId: number, runnerId: number | null, force = false) =>
  ({ jobId: BigInt(jobId), runId: 9n, runnerId: runnerId === null ? null : BigInt(runnerId), requestedAt: now, force });
const cancel = (end: number[], flag: number[], signals: ReturnType<typeof signal>[], force = false): CancelPlan => ({
  kind: "cancel", end, flag, signals, force, actor, at: now,
  settle: end.length === 0 ? null : new Map(end.map((j) => [j, CANCELLED])),
});

const mixed = [row(1, "queued"), row(2, "running"), row(3, "running", { cancel_requested: true }), row(4, "completed"), row(5, "skipped")];

const planTable: [string, CancelJobRow[], CancelIntent, CancelPlan][] = [
  ["a queued job ends now, no runner to tell", [row(1, "queued")], intent({ kind: "job", jobId: 1 }), cancel([1], [], [])],
  ["a running job is flagged and its runner told", [row(1, "running")], intent({ kind: "job", jobId: 1 }), cancel([], [1], [signal(1, 101)])],
  ["a running job under force ends now, its runner told to kill", [row(1, "running")], intent({ kind: "run" }, true), cancel([1], [], [signal(1, 101, true)], true)],
  ["a running job not yet assigned a runner is still signalled", [row(1, "running", { runner_id: null })], intent({ kind: "job", jobId: 1 }), cancel([], [1], [signal(1, null)])],
  ["a terminal job is a no-op", [row(1, "completed")], intent({ kind: "job", jobId: 1 }), { kind: "noop", reason: "terminal" }],
  ["a flagged running job is a no-op without force", [row(1, "running", { cancel_requested: true })], intent({ kind: "job", jobId: 1 }), { kind: "noop", reason: "already_requested" }],
  ["a job not in the locked run", [row(1, "queued")], intent({ kind: "job", jobId: 2 }), { kind: "noop", reason: "no_such_job" }],
  ["a job target touches only that job", [row(1, "queued"), row(2, "queued")], intent({ kind: "job", jobId: 2 }), cancel([2], [], [])],
  ["a run with mixed jobs: queued ends, running flagged, flagged and terminal left", mixed, intent({ kind: "run" }), cancel([1], [2], [signal(2, 102)])],
  ["force on a run ends every open job, flagged ones too", mixed, intent({ kind: "run" }, true), cancel([1, 2, 3], [], [signal(2, 102, true), signal(3, 103, true)], true)],
  ["a run with only terminal jobs is a no-op", [row(1, "completed"), row(2, "cancelled")], intent({ kind: "run" }, true), { kind: "noop", reason: "terminal" }],
  ["a run with no jobs is a no-op", [], intent({ kind: "run" }), { kind: "noop", reason: "nothing_open" }],
  ["some jobs of a run (fail-fast): only those, open ones", mixed, intent({ kind: "jobs", jobIds: [1, 4, 42] }), cancel([1], [], [])],
  ["some jobs of a run, none open", mixed, intent({ kind: "jobs", jobIds: [4, 5] }), { kind: "noop", reason: "terminal" }],
];

describe("planCancel", () => {
  it.each(planTable)("%s", (_, jobs, i, expected) => {
    expect(planCancel(run, jobs, i)).toEqual(expected);
  });

  // Jobs waiting on needs are queued: a run cancel ends them with the rest (cancelled, not
  // skipped); a cancel of what they need leaves them to the settlement, which skips them.
  const waiting = [
    { ...row(1, "running"), key: "build", needs: [] },
    { ...row(2, "queued"), key: "test", needs: ["build"] },
    { ...row(3, "queued"), key: "deploy", needs: ["test"] },
  ];
  type Waiting = (typeof waiting)[number];
  // The settlement's view after the plan (domain/data/settlement.ts does the same on the locked rows).
  const settled = (jobs: readonly Waiting[], p: CancelPlan, current: "queued" | "running" = "running") => {
    const changes = p.kind === "cancel" && p.settle ? p.settle : new Map<number, typeof CANCELLED>();
    return settle(current, jobs.map((j) => ({
      jobIndex: j.id, jobKey: j.key, needs: j.needs, status: changes.get(j.id)?.status ?? j.status, conclusion: changes.get(j.id)?.conclusion ?? null,
    })));
  };

  it("a run cancel ends jobs waiting on needs at once", () => {
    const p = planCancel(run, waiting, intent({ kind: "run" }));
    expect(p).toEqual(cancel([2, 3], [1], [signal(1, 101)]));
    expect(settled(waiting, p).skip).toEqual([]);
  });

  it("a forced run cancel ends the running job they wait on too", () => {
    const p = planCancel(run, waiting, intent({ kind: "run" }, true));
    expect(p).toEqual(cancel([1, 2, 3], [], [signal(1, 101, true)], true));
    expect(settled(waiting, p).run).toEqual({ status: "completed", conclusion: "cancelled" });
  });

  it("cancelling what they need leaves them to the settlement, which skips them", () => {
    const jobs = waiting.map((j) => (j.id === 1 ? { ...j, status: "queued" as const, runner_id: null } : j));
    const p = planCancel(run, jobs, intent({ kind: "job", jobId: 1 }));
    expect(p).toEqual(cancel([1], [], []));
    expect(settled(jobs, p, "queued").skip).toEqual(["test", "deploy"]);
  });

  it("only a flag leaves the run to its runner: no settlement input", () => {
    const p = planCancel(run, [row(1, "running")], intent({ kind: "run" }));
    expect(p.kind === "cancel" && p.settle).toBeNull();
  });
});
