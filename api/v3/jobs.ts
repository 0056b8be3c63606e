import type { Sql } from "../../infra/sql.ts";
import { readJobsOfRuns, type JobRow } from "../../domain/data/reads.ts";
import { readRunnerNames, readStepsOf, stepsByJob, type Attempt } from "../../domain/data/github.ts";
import { jobView, type Links } from "../../domain/github/views.ts";

/** GitHub's job objects of the given attempts of one chain, attempt by attempt, each in file order. */
export async function jobsOfAttempts(sql: Sql, attempts: readonly Attempt[], originalId: bigint, links: Links) {
  const jobs = await readJobsOfRuns(sql, attempts.map((a) => a.id));
  return jobViews(sql, jobs, attempts, originalId, links);
}

export async function jobViews(sql: Sql, jobs: readonly JobRow[], attempts: readonly Attempt[], originalId: bigint, links: Links) {
  const byRun = new Map(attempts.map((a) => [a.id.toString(), a]));
  const ordered = [...jobs].sort((a, b) => byRun.get(a.runId.toString())!.attempt - byRun.get(b.runId.toString())!.attempt);
  const steps = stepsByJob(await readStepsOf(sql, ordered.map((j) => j.id)));
  const runners = await readRunnerNames(sql, [...new Set(ordered.flatMap((j) => (j.runnerId === null ? [] : [j.runnerId])))]);
  return ordered.map((j) => jobView(j, {
    attempt: byRun.get(j.runId.toString())!, originalId,
    steps: steps.get(j.id) ?? [], runnerName: j.runnerId === null ? null : runners.get(j.runnerId.toString()) ?? null,
  }, links));
}
