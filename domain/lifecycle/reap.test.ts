import { describe, expect, it } from "vitest";
import { decideReap, reapCutoffs, type ReapDecision, type ReapPolicy, type ReapView } from "./reap.ts";

const now = new Date("2026-11-26T12:00:00Z");
const ago = (ms: number) => new Date(now.getTime() - ms);
const policy: ReapPolicy = { heartbeatWindowMs: 60_000, timeoutSlackMs: 60_000, cancelDeadlineMs: 300_000 };
const blind: ReapPolicy = { ...policy, judgeRunnerLoss: false };
const job = (o: Partial<ReapView> = {}): ReapView => ({
  status: "running", cancelRequested: false, cancelRequestedAt: null, startedAt: ago(1000), timeoutMinutes: 10,
  runnerHeartbeatAt: ago(1000), runnerRevoked: false, ...o,
});
const timeout = 10 * 60_000;

const keep: ReapDecision = { outcome: "keep" };
const lost = { outcome: "end", reason: "runner_lost", report: { status: "completed", conclusion: "failure" } } as const;
const lostCancelled = { outcome: "end", reason: "runner_lost", report: { status: "cancelled" } } as const;
const timedOut = { outcome: "end", reason: "timed_out", report: { status: "completed", conclusion: "timed_out" } } as const;
const timedOutCancelled = { outcome: "end", reason: "timed_out", report: { status: "cancelled" } } as const;
const unanswered = { outcome: "end", reason: "cancel_unanswered", report: { status: "cancelled" } } as const;

describe("decideReap", () => {
  it.each<[string, ReapView, ReapPolicy, ReapDecision]>([
    // keep
    ["a healthy running job", job(), policy, keep],
    ["a job that is not running, however overdue", job({ status: "queued", runnerHeartbeatAt: null, runnerRevoked: true, startedAt: ago(timeout * 10) }), policy, keep],
    ["a completed job", job({ status: "completed", runnerHeartbeatAt: null }), policy, keep],
    ["a heartbeat exactly at the window", job({ runnerHeartbeatAt: ago(60_000) }), policy, keep],
    ["a silent runner while loss cannot be judged (database just back)", job({ runnerHeartbeatAt: ago(61_000) }), blind, keep],
    ["a runner that never heartbeated, while loss cannot be judged", job({ runnerHeartbeatAt: null }), blind, keep],
    ["a job past timeout-minutes within the slack", job({ startedAt: ago(timeout + 59_000) }), policy, keep],
    ["a job exactly at timeout-minutes plus slack", job({ startedAt: ago(timeout + 60_000) }), policy, keep],
    ["a running job without a start time", job({ startedAt: null }), policy, keep],
    ["a cancel still within the deadline", job({ cancelRequested: true, cancelRequestedAt: ago(299_000) }), policy, keep],
    ["a cancel exactly at the deadline", job({ cancelRequested: true, cancelRequestedAt: ago(300_000) }), policy, keep],
    ["a cancel requested without a time", job({ cancelRequested: true, cancelRequestedAt: null }), policy, keep],
    ["an old cancel time on a job whose cancel is not requested", job({ cancelRequestedAt: ago(301_000) }), policy, keep],
    // runner_lost
    ["a silent runner", job({ runnerHeartbeatAt: ago(61_000) }), policy, lost],
    ["a heartbeat one millisecond past the window", job({ runnerHeartbeatAt: ago(60_001) }), policy, lost],
    ["a runner that never heartbeated", job({ runnerHeartbeatAt: null }), policy, lost],
    ["a revoked runner", job({ runnerRevoked: true }), policy, lost],
    ["a revoked runner while loss cannot be judged", job({ runnerRevoked: true }), blind, lost],
    ["a silent runner of a cancel-requested job", job({ runnerHeartbeatAt: ago(61_000), cancelRequested: true, cancelRequestedAt: ago(61_000) }), policy, lostCancelled],
    ["a lost runner of a job also past its timeout and its cancel deadline: runner_lost first",
      job({ runnerRevoked: true, startedAt: ago(timeout * 2), cancelRequested: true, cancelRequestedAt: ago(600_000) }), policy, lostCancelled],
    // timed_out
    ["a job past timeout-minutes plus slack", job({ startedAt: ago(timeout + 61_000) }), policy, timedOut],
    ["a job one millisecond past timeout-minutes plus slack", job({ startedAt: ago(timeout + 60_001) }), policy, timedOut],
    ["a job with timeout-minutes 0 past the slack", job({ startedAt: ago(61_000), timeoutMinutes: 0 }), policy, timedOut],
    ["a timed-out job whose silent runner cannot be judged", job({ startedAt: ago(timeout + 61_000), runnerHeartbeatAt: ago(61_000) }), blind, timedOut],
    ["a timed-out job with a cancel requested, also past the deadline: timed_out first, ended cancelled",
      job({ startedAt: ago(timeout + 61_000), cancelRequested: true, cancelRequestedAt: ago(301_000) }), policy, timedOutCancelled],
    // cancel_unanswered
    ["a cancel unanswered past the deadline", job({ cancelRequested: true, cancelRequestedAt: ago(301_000) }), policy, unanswered],
    ["a cancel one millisecond past the deadline", job({ cancelRequested: true, cancelRequestedAt: ago(300_001) }), policy, unanswered],
    ["an unanswered cancel whose silent runner cannot be judged", job({ cancelRequested: true, cancelRequestedAt: ago(301_000), runnerHeartbeatAt: null }), blind, unanswered],
  ])("%s", (_name, view, p, expected) => {
    expect(decideReap(view, now, p)).toEqual(expected);
  });
});

describe("reapCutoffs", () => {
  it("puts each threshold of the policy before now, as the candidates' SQL binds them", () => {
    expect(reapCutoffs(now, { heartbeatWindowMs: 60_000, timeoutSlackMs: 30_000, cancelDeadlineMs: 10_000 })).toEqual({
      heartbeatBefore: ago(60_000), timeoutBefore: ago(30_000), cancelBefore: ago(10_000),
    });
  });

  it("ignores judgeRunnerLoss: the candidates' pre-filter includes silent runners, decideReap withholds them", () => {
    expect(reapCutoffs(now, blind)).toEqual(reapCutoffs(now, policy));
  });
});
