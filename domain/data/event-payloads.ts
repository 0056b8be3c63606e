import type { Sql } from "../../infra/sql.ts";
import { assertNever } from "../../infra/assert.ts";
import { Links } from "../github/views.ts";
import { workflowJobPayload, workflowRunPayload, type JobAction, type RunAction } from "../events/payloads.ts";
import { readRepoCard, readRunnerNames, readStepsOf, stepsByJob, type Attempt, type RepoCard, type StepOf } from "./github.ts";
import { readJobsByIds, readRunsByIds, type JobRow, type RunRow } from "./reads.ts";
import type { PendingEvent } from "./outbox.ts";

// An event's payload, built once by the dispatcher and then sent as it is to every hook
// and stream. The row the trigger saved says the state at the change (status, conclusion,
// times, runner); everything else (names, the repository, steps) is read now. Null: the
// event is neither delivered nor streamed (an intent's), or its run is gone.

type Snapshot = Record<string, unknown>;
const str = (s: Snapshot, k: string) => (typeof s[k] === "string" ? (s[k] as string) : null);
const date = (s: Snapshot, k: string) => {
  const v = str(s, k);
  return v === null ? null : new Date(v);
};

/**
 * The rows a batch of events needs, read in a handful of statements for the whole batch
 * (runs, their originals, repositories, jobs, steps, runner names), not per event: the
 * dispatcher runs beside the lifecycle path on the same machine.
 */
export class PayloadReader {
  private constructor(
    private readonly origin: string,
    private readonly runs: Map<bigint, RunRow>,
    private readonly repos: Map<bigint, RepoCard>,
    private readonly jobs: Map<bigint, JobRow>,
    private readonly steps: Map<bigint, StepOf[]>,
    private readonly runners: Map<string, string>,
  ) {}

  static async forBatch(db: Sql, origin: string, events: readonly PendingEvent[]): Promise<PayloadReader> {
    const runIds = distinct(events.flatMap((e) => (e.type === "intent" || e.runId === null ? [] : [e.runId])));
    const runs = new Map((await readRunsByIds(db, runIds)).map((r) => [r.id, r]));
    const originals = distinct([...runs.values()].flatMap((r) => (r.originalRunId !== null && !runs.has(r.originalRunId) ? [r.originalRunId] : [])));
    for (const r of await readRunsByIds(db, originals)) runs.set(r.id, r);
    const repos = new Map<bigint, RepoCard>();
    for (const id of distinct([...runs.values()].map((r) => r.repoId))) {
      const card = await readRepoCard(db, id);
      if (card) repos.set(id, card);
    }
    const jobIds = distinct(events.flatMap((e) => (e.type === "workflow_job" && e.jobId !== null ? [e.jobId] : [])));
    const jobs = new Map((await readJobsByIds(db, jobIds)).map((j) => [j.id, j]));
    const steps = stepsByJob(await readStepsOf(db, jobIds));
    const runnerIds = distinct(events.flatMap((e) => { const r = runnerOf(e.snapshot); return r === null ? [] : [r]; }));
    const runners = await readRunnerNames(db, runnerIds);
    return new PayloadReader(origin, runs, repos, jobs, steps, runners);
  }

  payload(e: PendingEvent): string | null {
    switch (e.type) {
      case "intent":
        return null;
      case "workflow_run":
        return this.runPayload(e);
      case "workflow_job":
        return this.jobPayload(e);
      default:
        return assertNever(e.type, "event type");
    }
  }

  private context(runId: bigint) {
    const run = this.runs.get(runId);
    const original = run && (run.originalRunId === null ? run : this.runs.get(run.originalRunId));
    const repo = run && this.repos.get(run.repoId);
    if (!run || !original || !repo) return null;
    return { run, original, repo, links: new Links(this.origin, { owner: repo.owner.login, name: repo.name }) };
  }

  private runPayload(e: PendingEvent): string | null {
    const c = e.runId === null ? null : this.context(e.runId);
    if (!c) return null;
    const s = e.snapshot;
    const latest: Attempt = {
      ...c.run, status: str(s, "status") ?? c.run.status, conclusion: str(s, "conclusion"),
      startedAt: date(s, "started_at"), completedAt: date(s, "completed_at"), updatedAt: date(s, "updated_at") ?? e.createdAt,
    };
    const original: Attempt = c.original === c.run ? latest : { ...c.original, updatedAt: c.original.createdAt };
    return JSON.stringify(workflowRunPayload(e.action as RunAction, { original, latest, repo: c.repo, sender: c.run.actor, links: c.links }));
  }

  private jobPayload(e: PendingEvent): string | null {
    const c = e.runId === null ? null : this.context(e.runId);
    const current = e.jobId === null ? undefined : this.jobs.get(e.jobId);
    if (!c || !current) return null;
    const s = e.snapshot;
    const runner = runnerOf(s);
    const job: JobRow = {
      ...current, status: str(s, "status") ?? current.status, conclusion: str(s, "conclusion"),
      runnerId: runner, startedAt: date(s, "started_at"), completedAt: date(s, "completed_at"),
    };
    const attempt: Attempt = { ...c.run, updatedAt: c.run.completedAt ?? c.run.startedAt ?? c.run.createdAt };
    const ctx = {
      attempt, originalId: c.original.id, steps: this.steps.get(job.id) ?? [],
      runnerName: runner === null ? null : this.runners.get(runner.toString()) ?? null,
    };
    const sender = job.status === "cancelled" && job.cancelRequester ? job.cancelRequester : c.run.actor;
    return JSON.stringify(workflowJobPayload(e.action as JobAction, { job, ctx, repo: c.repo, sender, links: c.links }));
  }
}

/** The runner a job's snapshot names (to_jsonb writes a bigint as a number). */
function runnerOf(s: Snapshot): bigint | null {
  const v = s["runner_id"];
  return typeof v === "number" || typeof v === "string" ? BigInt(v) : null;
}

const distinct = (ids: readonly bigint[]) => [...new Set(ids)];
