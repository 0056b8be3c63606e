import type { Report } from "./report.ts";

export interface ReapView {
  status: string;
  cancelRequested: boolean;
  cancelRequestedAt: Date | null;
  startedAt: Date | null;
  timeoutMinutes: number;
  runnerHeartbeatAt: Date | null;
  runnerRevoked: boolean;
}

export interface ReapPolicy {
  heartbeatWindowMs: number;
  /**
   * False while the reaper has not seen the database healthy for a whole heartbeat
   * window (it just started, or the database was down): silent runners may only have
   * been unable to write their heartbeats, so nobody is declared lost yet.
   */
  judgeRunnerLoss?: boolean;
  timeoutSlackMs: number;
  cancelDeadlineMs: number;
}

export type ReapDecision =
  | { outcome: "keep" }
  | { outcome: "end"; report: Report; reason: "runner_lost" | "timed_out" | "cancel_unanswered" };

/**
 * Whether the server must end a running job nobody will finish: its runner stopped
 * heartbeating (or was revoked), it outlived timeout-minutes (plus slack for the runner
 * to report timed_out itself), or a cancel went unanswered past the deadline. A
 * requested cancel is honoured in the ending.
 */
export function decideReap(j: ReapView, now: Date, p: ReapPolicy): ReapDecision {
  if (j.status !== "running") return { outcome: "keep" };
  const t = now.getTime();
  const ending = (fallback: Report, reason: "runner_lost" | "timed_out" | "cancel_unanswered"): ReapDecision => ({
    outcome: "end",
    report: j.cancelRequested ? { status: "cancelled" } : fallback,
    reason,
  });
  const silent = j.runnerHeartbeatAt === null || t - j.runnerHeartbeatAt.getTime() > p.heartbeatWindowMs;
  const lost = j.runnerRevoked || (silent && p.judgeRunnerLoss !== false);
  if (lost) return ending({ status: "completed", conclusion: "failure" }, "runner_lost");
  if (j.startedAt && t - j.startedAt.getTime() > j.timeoutMinutes * 60_000 + p.timeoutSlackMs) {
    return ending({ status: "completed", conclusion: "timed_out" }, "timed_out");
  }
  if (j.cancelRequested && j.cancelRequestedAt && t - j.cancelRequestedAt.getTime() > p.cancelDeadlineMs) {
    return ending({ status: "cancelled" }, "cancel_unanswered");
  }
  return { outcome: "keep" };
}
