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

/** The reaper's thresholds, from the config (RUNNER_HEARTBEAT_WINDOW_MS, JOB_TIMEOUT_SLACK_MS, CANCEL_DEADLINE_MS). */
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

export type ReapReason = "runner_lost" | "timed_out" | "cancel_unanswered";

export type ReapDecision =
  | { outcome: "keep" }
  | { outcome: "end"; report: Report; reason: ReapReason };

/**
 * The instants the policy measures against at `now`; each is strict (a job exactly at a
 * cut-off is kept). decideReap uses them, and so does the SQL that preselects candidates
 * (domain/data/reaper.ts), so the thresholds are computed in one place.
 */
export interface ReapCutoffs {
  /** A runner whose last heartbeat is older than this is silent. */
  heartbeatBefore: Date;
  /** A job whose timeout-minutes ran out before this has outlived its slack. */
  timeoutBefore: Date;
  /** A cancel requested before this went unanswered past the deadline. */
  cancelBefore: Date;
}

export function reapCutoffs(now: Date, p: ReapPolicy): ReapCutoffs {
  const before = (ms: number) => new Date(now.getTime() - ms);
  return { heartbeatBefore: before(p.heartbeatWindowMs), timeoutBefore: before(p.timeoutSlackMs), cancelBefore: before(p.cancelDeadlineMs) };
}

/**
 * Whether the server must end a running job nobody will finish: its runner stopped
 * heartbeating (or was revoked), it outlived timeout-minutes (plus slack for the runner
 * to report timed_out itself), or a cancel went unanswered past the deadline. A
 * requested cancel is honoured in the ending. The first reason that holds, in that
 * order, is the one reported (docs/lifecycle.md#the-reaper).
 */
export function decideReap(j: ReapView, now: Date, p: ReapPolicy): ReapDecision {
  if (j.status !== "running") return { outcome: "keep" };
  const c = reapCutoffs(now, p);
  const ending = (fallback: Report, reason: ReapReason): ReapDecision => ({
    outcome: "end",
    report: j.cancelRequested ? { status: "cancelled" } : fallback,
    reason,
  });
  const silent = j.runnerHeartbeatAt === null || j.runnerHeartbeatAt < c.heartbeatBefore;
  const lost = j.runnerRevoked || (silent && p.judgeRunnerLoss !== false);
  if (lost) return ending({ status: "completed", conclusion: "failure" }, "runner_lost");
  if (j.startedAt && j.startedAt.getTime() + j.timeoutMinutes * 60_000 < c.timeoutBefore.getTime()) {
    return ending({ status: "completed", conclusion: "timed_out" }, "timed_out");
  }
  if (j.cancelRequested && j.cancelRequestedAt && j.cancelRequestedAt < c.cancelBefore) {
    return ending({ status: "cancelled" }, "cancel_unanswered");
  }
  return { outcome: "keep" };
}
