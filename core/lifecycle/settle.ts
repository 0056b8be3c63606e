import type { Conclusion, JobView, RunStatus } from "./types.ts";
import { isOpen, isTerminal } from "./types.ts";

export type RollUp =
  | { status: "queued" }
  | { status: "running" }
  | { status: "completed"; conclusion: Conclusion };

const DECISIVE: ReadonlySet<Conclusion> = new Set(["failure", "timed_out", "action_required"]);

/**
 * Jobs that can never run because something they need (directly or transitively)
 * ended without success. Only queued jobs are skipped; running ones finish on their own.
 */
export function jobsToSkip(jobs: readonly JobView[]): string[] {
  const dead = new Set(
    jobs.filter((j) => isTerminal(j.status) && j.conclusion !== "success").map((j) => j.jobKey),
  );
  const skipped: string[] = [];
  let changed = true;
  while (changed) {
    changed = false;
    for (const j of jobs) {
      if (j.status !== "queued" || dead.has(j.jobKey)) continue;
      if (j.needs.some((n) => dead.has(n))) {
        dead.add(j.jobKey);
        skipped.push(j.jobKey);
        changed = true;
      }
    }
  }
  return skipped;
}

/** Run roll-up of DESIGN.md §5. */
export function rollUp(current: RunStatus, jobs: readonly JobView[]): RollUp {
  if (jobs.some((j) => isOpen(j.status))) {
    // A run leaves `queued` only when one of its jobs actually starts.
    const started = current !== "queued" || jobs.some((j) => j.status === "running");
    return started ? { status: "running" } : { status: "queued" };
  }
  if (jobs.length === 0) return { status: "completed", conclusion: "failure" };
  const ordered = [...jobs].sort((a, b) => a.jobIndex - b.jobIndex);
  const decisive = ordered.find((j) => j.conclusion !== null && DECISIVE.has(j.conclusion));
  if (decisive?.conclusion) return { status: "completed", conclusion: decisive.conclusion };
  if (ordered.some((j) => j.conclusion === "cancelled")) return { status: "completed", conclusion: "cancelled" };
  return { status: "completed", conclusion: "success" };
}

export interface Settlement {
  skip: string[];
  /** The run's new state; null when the run is already completed (it never reopens). */
  run: RollUp | null;
  /** The run becomes completed by this settlement. */
  completes: boolean;
}

/** Skips what can no longer run, then rolls the run up over the result. */
export function settle(current: RunStatus, jobs: readonly JobView[]): Settlement {
  const skip = jobsToSkip(jobs);
  const skipSet = new Set(skip);
  const after = jobs.map((j) =>
    skipSet.has(j.jobKey) ? { ...j, status: "skipped" as const, conclusion: "skipped" as const } : j,
  );
  const run = current === "completed" ? null : rollUp(current, after);
  return { skip, run, completes: run?.status === "completed" };
}
