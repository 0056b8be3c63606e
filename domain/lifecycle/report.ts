import { assertNever } from "../../infra/assert.ts";
import type { Conclusion, JobStatus } from "./types.ts";

/** What a runner may report for a job or a step (validated at the edge). */
export type Report =
  | { status: "running" }
  | { status: "completed"; conclusion: Exclude<Conclusion, "cancelled"> }
  | { status: "cancelled" }
  | { status: "skipped" };

export type ReportDecision =
  | { outcome: "noop" }
  | { outcome: "start" }
  | { outcome: "finish"; status: "completed" | "cancelled" | "skipped"; conclusion: Conclusion }
  | { outcome: "conflict"; message: string };

function terminalOf(r: Report): { status: "completed" | "cancelled" | "skipped"; conclusion: Conclusion } | null {
  switch (r.status) {
    case "running":
      return null;
    case "completed":
      return { status: "completed", conclusion: r.conclusion };
    case "cancelled":
      return { status: "cancelled", conclusion: "cancelled" };
    case "skipped":
      return { status: "skipped", conclusion: "skipped" };
    default:
      return assertNever(r, "report");
  }
}

/**
 * Transition rule for jobs and steps: open → running | terminal; a repeat of the same
 * terminal state is a no-op (retries are safe); a terminal state never changes.
 * A runner that finished before it saw a cancel request may still report success.
 */
export function decideReport(
  current: { status: JobStatus; conclusion: Conclusion | null },
  report: Report,
): ReportDecision {
  const target = terminalOf(report);
  switch (current.status) {
    case "queued":
      return target ? { outcome: "finish", ...target } : { outcome: "start" };
    case "running":
      return target ? { outcome: "finish", ...target } : { outcome: "noop" };
    case "completed":
    case "cancelled":
    case "skipped":
      if (target && target.status === current.status && target.conclusion === current.conclusion) {
        return { outcome: "noop" };
      }
      return { outcome: "conflict", message: `already ${current.status}` };
    default:
      return assertNever(current.status, "job status");
  }
}
