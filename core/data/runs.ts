import { randomBytes } from "node:crypto";
import type { Tx } from "../db.ts";
import { Prisma } from "../db.ts";
import type { WorkflowSpec } from "../workflow.ts";
import type { Conclusion } from "../lifecycle/types.ts";
import { parseWorkflow } from "../workflow.ts";
import type { Signal } from "./cancel.ts";
import { groupColumns, groupContext, supersedeOlder } from "./concurrency.ts";

export interface RunSeed {
  repoId: bigint;
  workflowFile: string;
  headSha: string;
  headRef: string;
  event: string;
  eventPayload: Prisma.InputJsonValue;
  actorUserId: bigint | null;
  parentRunId: bigint | null;
  triggerEventId: string | null;
  /** Rerun chain (docs/decisions.md): attempt 1 and no original for an original run. */
  attempt?: number;
  originalRunId?: bigint | null;
}

/**
 * A job's state at creation when it does not start queued: a partial rerun carries jobs
 * over from its source run (`reused`), or skips at once one that could never run.
 */
export interface JobInit {
  status: "completed" | "cancelled" | "skipped";
  conclusion: Conclusion;
  startedAt: Date | null;
  completedAt: Date;
  reused: boolean;
  /** By step index; a step without an entry is skipped. */
  steps: { status: "completed" | "cancelled" | "skipped"; conclusion: Conclusion; startedAt: Date | null; completedAt: Date }[];
}

export interface CreatedRun {
  id: bigint;
  runIndex: number;
  jobIds: bigint[];
  /** Runners to tell after commit: older runs/jobs cancelled by `concurrency: cancel-in-progress`. */
  signals: Signal[];
}

export type SourceLookup =
  | { ok: true; workflow: WorkflowSpec }
  | { ok: false; reason: "source_unavailable" }
  | { ok: false; reason: "source_invalid"; errors: string[] };

/** The workflow file as it was at `headSha` — never a later version. */
export async function loadWorkflowAt(tx: Tx, repoId: bigint, path: string, headSha: string): Promise<SourceLookup> {
  const src = await tx.workflowSource.findUnique({
    where: { repoId_path_headSha: { repoId, path, headSha } },
    select: { content: true },
  });
  if (!src) return { ok: false, reason: "source_unavailable" };
  const parsed = parseWorkflow(src.content);
  return parsed.ok ? { ok: true, workflow: parsed.workflow } : { ok: false, reason: "source_invalid", errors: parsed.errors };
}

/**
 * Allocates the repo's next run_index. The UPDATE takes the repo row lock, so concurrent
 * creators queue behind each other and, as the increment rolls back with its
 * transaction, indexes stay unique and gapless.
 */
async function allocateRunIndex(tx: Tx, repoId: bigint): Promise<number> {
  const rows = await tx.$queryRaw<{ run_index: number }[]>`
    UPDATE repos SET next_run_index = next_run_index + 1 WHERE id = ${repoId}
    RETURNING next_run_index - 1 AS run_index`;
  const row = rows[0];
  if (!row) throw new Error(`repo ${repoId} vanished while allocating a run index`);
  return Number(row.run_index);
}

export async function createRun(tx: Tx, seed: RunSeed, workflow: WorkflowSpec, initial?: ReadonlyMap<string, JobInit>): Promise<CreatedRun> {
  const runIndex = await allocateRunIndex(tx, seed.repoId);
  const group = groupContext(seed, workflow);
  const run = await tx.workflowRun.create({
    data: {
      ...seed,
      runIndex,
      workflowName: workflow.name ?? seed.workflowFile.split("/").pop() ?? seed.workflowFile,
      status: "queued",
      ...groupColumns(workflow.concurrency, group),
    },
    select: { id: true },
  });
  const jobs = await tx.workflowJob.createManyAndReturn({
    data: workflow.jobs.map((j, i) => ({
      runId: run.id,
      jobIndex: i,
      jobKey: j.key,
      name: j.name,
      runsOn: j.runsOn,
      needs: j.needs,
      timeoutMinutes: j.timeoutMinutes,
      ...groupColumns(j.concurrency, group),
      ...jobInit(initial?.get(j.key)),
    })),
    select: { id: true, jobKey: true },
  });
  const idByKey = new Map(jobs.map((j) => [j.jobKey, j.id]));
  await tx.workflowStep.createMany({
    data: workflow.jobs.flatMap((j) =>
      j.steps.map((s, i) => ({ jobId: idByKey.get(j.key)!, stepIndex: i, name: s.name, run: s.run, ...stepInit(initial?.get(j.key), i) })),
    ),
  });
  const signals = await supersedeOlder(tx, run.id, seed.actorUserId, workflow);
  return { id: run.id, runIndex, jobIds: workflow.jobs.map((j) => idByKey.get(j.key)!), signals };
}

function jobInit(init: JobInit | undefined) {
  if (!init) return {};
  const { status, conclusion, startedAt, completedAt, reused } = init;
  return { status, conclusion, startedAt, completedAt, reused };
}

function stepInit(init: JobInit | undefined, index: number) {
  if (!init) return {};
  return init.steps[index] ?? { status: "skipped" as const, conclusion: "skipped" as const, startedAt: null, completedAt: init.completedAt };
}

export function rerunTriggerId(sourceRunId: bigint): string {
  return `rerun:${sourceRunId}:${randomBytes(8).toString("hex")}`;
}
