import { jobsToSkip } from "./settle.ts";
import type { Conclusion, JobStatus, JobView } from "./types.ts";

// Partial reruns: which jobs of the new run are queued again and which are carried over
// from the source run as they ended there (marked `reused`, never executed again).

/** A job of the workflow the new run is built from, in file order. */
export interface PlanJob {
  jobKey: string;
  needs: readonly string[];
}

/** How a job ended in the source run (matched to the new run's jobs by job_key). */
export interface SourceJob {
  jobKey: string;
  status: JobStatus;
  conclusion: Conclusion | null;
}

/**
 * - `failed`: every job that did not end completed/success in the source (failure,
 *   timed_out, cancelled, skipped, neutral, …) or is missing from it.
 * - `job`: that one job, the jobs it needs (transitively) that did not succeed in the
 *   source, and the jobs missing from the source.
 * In both, every job that needs a queued job (transitively) is queued too.
 */
export type RerunScope = { kind: "failed" } | { kind: "job"; jobKey: string };

export type RerunPlan =
  | {
      ok: true;
      /** Queued in the new run, to be executed; never empty (else `nothing_to_rerun`). */
      queued: string[];
      /** Carried over with the source's status and conclusion. */
      reused: string[];
      /**
       * Would be queued but needs a carried-over job that did not succeed, so it could never
       * run: skipped at creation, as the run would skip it at its first settlement.
       */
      skipped: string[];
    }
  | { ok: false; reason: "nothing_to_rerun" | "job_not_in_workflow" };

export function planRerun(jobs: readonly PlanJob[], source: readonly SourceJob[], scope: RerunScope): RerunPlan {
  const bySource = new Map(source.map((j) => [j.jobKey, j]));
  const byKey = new Map(jobs.map((j) => [j.jobKey, j]));
  const succeeded = (key: string) => {
    const s = bySource.get(key);
    return s !== undefined && s.status === "completed" && s.conclusion === "success";
  };

  const seeds = new Set<string>();
  for (const j of jobs) if (!bySource.has(j.jobKey)) seeds.add(j.jobKey);
  if (scope.kind === "failed") {
    for (const j of jobs) if (!succeeded(j.jobKey)) seeds.add(j.jobKey);
  } else {
    if (!byKey.has(scope.jobKey)) return { ok: false, reason: "job_not_in_workflow" };
    seeds.add(scope.jobKey);
    // The job can only run once everything it needs succeeded: what did not is run again.
    const seen = new Set<string>();
    const stack = [...byKey.get(scope.jobKey)!.needs];
    while (stack.length > 0) {
      const k = stack.pop()!;
      if (seen.has(k)) continue;
      seen.add(k);
      if (!succeeded(k)) seeds.add(k);
      stack.push(...(byKey.get(k)?.needs ?? []));
    }
  }

  // Everything that needs a queued job, directly or transitively, is queued too.
  const queued = new Set(seeds);
  let changed = true;
  while (changed) {
    changed = false;
    for (const j of jobs) {
      if (!queued.has(j.jobKey) && j.needs.some((n) => queued.has(n))) {
        queued.add(j.jobKey);
        changed = true;
      }
    }
  }

  const initial: JobView[] = jobs.map((j, i) => {
    const s = bySource.get(j.jobKey);
    return queued.has(j.jobKey) || s === undefined
      ? { jobIndex: i, jobKey: j.jobKey, needs: j.needs, status: "queued", conclusion: null }
      : { jobIndex: i, jobKey: j.jobKey, needs: j.needs, status: s.status, conclusion: s.conclusion };
  });
  const skipped = new Set(jobsToSkip(initial));
  const keys = jobs.map((j) => j.jobKey);
  const runnable = keys.filter((k) => queued.has(k) && !skipped.has(k));
  // A new run opens queued, so it needs a job to run (the seed nearest the roots always is).
  if (runnable.length === 0) return { ok: false, reason: "nothing_to_rerun" };
  return {
    ok: true,
    queued: runnable,
    reused: keys.filter((k) => !queued.has(k)),
    skipped: keys.filter((k) => skipped.has(k)),
  };
}
