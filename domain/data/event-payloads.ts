import type { Sql } from "../../infra/sql.ts";
import { assertNever } from "../../infra/assert.ts";
import { Links } from "../github/views.ts";
import { workflowJobPayload, workflowRunPayload, type JobAction, type RunAction } from "../events/payloads.ts";
import { readRepoCard, readRunnerNames, readStepsOf, type Attempt, type RepoCard } from "./github.ts";
import { readJob, readRun, type JobRow, type RunRow } from "./reads.ts";
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

/** Reads shared by the events of one batch (several events of one run read it once). */
export class PayloadReader {
  private readonly runs = new Map<bigint, Promise<RunRow | null>>();
  private readonly repos = new Map<bigint, Promise<RepoCard | null>>();
  constructor(private readonly db: Sql, private readonly origin: string) {}

  private run(id: bigint) {
    let r = this.runs.get(id);
    if (!r) this.runs.set(id, (r = readRun(this.db, id)));
    return r;
  }

  private repo(id: bigint) {
    let r = this.repos.get(id);
    if (!r) this.repos.set(id, (r = readRepoCard(this.db, id)));
    return r;
  }

  async payload(e: PendingEvent): Promise<string | null> {
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

  private async context(runId: bigint) {
    const run = await this.run(runId);
    if (!run) return null;
    const [original, repo] = await Promise.all([run.originalRunId === null ? run : this.run(run.originalRunId), this.repo(run.repoId)]);
    if (!original || !repo) return null;
    return { run, original, repo, links: new Links(this.origin, { owner: repo.owner.login, name: repo.name }) };
  }

  private async runPayload(e: PendingEvent): Promise<string | null> {
    const c = e.runId === null ? null : await this.context(e.runId);
    if (!c) return null;
    const s = e.snapshot;
    const latest: Attempt = {
      ...c.run, status: str(s, "status") ?? c.run.status, conclusion: str(s, "conclusion"),
      startedAt: date(s, "started_at"), completedAt: date(s, "completed_at"), updatedAt: date(s, "updated_at") ?? e.createdAt,
    };
    const original: Attempt = c.original === c.run ? latest : { ...c.original, updatedAt: c.original.createdAt };
    return JSON.stringify(workflowRunPayload(e.action as RunAction, { original, latest, repo: c.repo, sender: c.run.actor, links: c.links }));
  }

  private async jobPayload(e: PendingEvent): Promise<string | null> {
    if (e.jobId === null || e.runId === null) return null;
    const [c, current] = await Promise.all([this.context(e.runId), readJob(this.db, e.jobId)]);
    if (!c || !current) return null;
    const s = e.snapshot;
    const runner = str(s, "runner_id") ?? (typeof s["runner_id"] === "number" ? String(s["runner_id"]) : null);
    const job: JobRow = {
      ...current, status: str(s, "status") ?? current.status, conclusion: str(s, "conclusion"),
      runnerId: runner === null ? null : BigInt(runner), startedAt: date(s, "started_at"), completedAt: date(s, "completed_at"),
    };
    const [steps, names] = await Promise.all([readStepsOf(this.db, [job.id]), readRunnerNames(this.db, job.runnerId === null ? [] : [job.runnerId])]);
    const attempt: Attempt = { ...c.run, updatedAt: c.run.completedAt ?? c.run.startedAt ?? c.run.createdAt };
    const ctx = { attempt, originalId: c.original.id, steps, runnerName: job.runnerId === null ? null : names.get(job.runnerId.toString()) ?? null };
    const sender = job.status === "cancelled" && job.cancelRequester ? job.cancelRequester : c.run.actor;
    return JSON.stringify(workflowJobPayload(e.action as JobAction, { job, ctx, repo: c.repo, sender, links: c.links }));
  }
}
