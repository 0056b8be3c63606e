import { describe, expect, it } from "vitest";
import { decideReap, type ReapPolicy, type ReapView } from "./reap.ts";

const now = new Date("2026-11-26T12:00:00Z");
const ago = (ms: number) => new Date(now.getTime() - ms);
const policy: ReapPolicy = { heartbeatWindowMs: 60_000, timeoutSlackMs: 60_000, cancelDeadlineMs: 300_000 };
const job = (o: Partial<ReapView> = {}): ReapView => ({
  status: "running", cancelRequested: false, cancelRequestedAt: null, startedAt: ago(1000), timeoutMinutes: 10,
  runnerHeartbeatAt: ago(1000), runnerRevoked: false, ...o,
});

describe("decideReap", () => {
  it.each([
    ["a healthy running job", job(), policy, { outcome: "keep" }],
    ["a job that is not running", job({ status: "queued", runnerHeartbeatAt: null }), policy, { outcome: "keep" }],
    ["a silent runner", job({ runnerHeartbeatAt: ago(61_000) }), policy, { outcome: "end", reason: "runner_lost", report: { status: "completed", conclusion: "failure" } }],
    ["a runner that never heartbeated", job({ runnerHeartbeatAt: null }), policy, { outcome: "end", reason: "runner_lost" }],
    ["a revoked runner", job({ runnerRevoked: true }), policy, { outcome: "end", reason: "runner_lost" }],
    ["a silent runner of a cancel-requested job", job({ runnerHeartbeatAt: ago(61_000), cancelRequested: true, cancelRequestedAt: ago(61_000) }), policy, { outcome: "end", reason: "runner_lost", report: { status: "cancelled" } }],
    ["a silent runner while loss cannot be judged (database just back)", job({ runnerHeartbeatAt: ago(61_000) }), { ...policy, judgeRunnerLoss: false }, { outcome: "keep" }],
    ["a revoked runner while loss cannot be judged", job({ runnerRevoked: true }), { ...policy, judgeRunnerLoss: false }, { outcome: "end", reason: "runner_lost" }],
    ["a job past timeout-minutes plus slack", job({ startedAt: ago(10 * 60_000 + 61_000) }), policy, { outcome: "end", reason: "timed_out", report: { status: "completed", conclusion: "timed_out" } }],
    ["a job past timeout-minutes within the slack", job({ startedAt: ago(10 * 60_000 + 59_000) }), policy, { outcome: "keep" }],
    ["a cancel unanswered past the deadline", job({ cancelRequested: true, cancelRequestedAt: ago(301_000) }), policy, { outcome: "end", reason: "cancel_unanswered", report: { status: "cancelled" } }],
    ["a cancel still within the deadline", job({ cancelRequested: true, cancelRequestedAt: ago(299_000) }), policy, { outcome: "keep" }],
  ] as const)("%s", (_name, view, p, expected) => {
    expect(decideReap(view, now, p)).toMatchObject(expected);
  });
});
