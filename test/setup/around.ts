import type { Around } from "../../domain/lifecycle/settle.ts";
import { isOpen, type JobView } from "../../domain/lifecycle/types.ts";

/**
 * What a change of `jobs[i]` to `to` sees through the data layer's bounded reads
 * (jobAroundSql, dependentsSql), computed from every job of the run: the oracle both the
 * pure rule and the statements are compared with.
 */
export function aroundOf(jobs: readonly JobView[], i: number, to: Pick<JobView, "status" | "conclusion">): Around {
  const others = jobs.filter((_, k) => k !== i);
  const decisive = others.filter((j) => j.conclusion === "failure" || j.conclusion === "timed_out" || j.conclusion === "action_required");
  const first = [...decisive].sort((a, b) => a.jobIndex - b.jobIndex)[0];
  const reach = new Set([jobs[i]!.jobKey]);
  const dependents: JobView[] = [];
  for (let grew = true; grew; ) {
    grew = false;
    for (const j of others) {
      if (j.status === "queued" && !reach.has(j.jobKey) && j.needs.some((n) => reach.has(n))) {
        reach.add(j.jobKey);
        dependents.push(j);
        grew = true;
      }
    }
  }
  return {
    job: { ...jobs[i]!, ...to },
    rest: {
      open: others.filter((j) => isOpen(j.status)).length,
      running: others.filter((j) => j.status === "running").length,
      firstDecisive: first ? { jobIndex: first.jobIndex, conclusion: first.conclusion! } : null,
      cancelled: others.some((j) => j.conclusion === "cancelled"),
    },
    dependents,
  };
}
