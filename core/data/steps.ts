import type { Tx } from "../db.ts";
import { decideReport, type Report } from "../lifecycle/report.ts";
import type { Conclusion, JobStatus } from "../lifecycle/types.ts";
import { assertNever } from "../assert.ts";

export type StepApplied = { kind: "ok"; changed: boolean } | { kind: "conflict"; message: string } | { kind: "not_found" };

/** A runner's report for one step of a job it holds. */
export async function reportStepTx(tx: Tx, jobId: bigint, stepId: bigint, report: Report, now: Date): Promise<StepApplied> {
  const rows = await tx.$queryRaw<{ status: JobStatus; conclusion: Conclusion | null; force_cancelled: boolean }[]>`
    SELECT s.status::text AS status, s.conclusion::text AS conclusion, j.force_cancelled
    FROM workflow_steps s JOIN workflow_jobs j ON j.id = s.job_id
    WHERE s.id = ${stepId} AND s.job_id = ${jobId} FOR UPDATE OF s`;
  const step = rows[0];
  if (!step) return { kind: "not_found" };
  const d = step.force_cancelled ? { outcome: "noop" as const } : decideReport(step, report);
  switch (d.outcome) {
    case "noop":
      return { kind: "ok", changed: false };
    case "conflict":
      return { kind: "conflict", message: `step ${d.message}` };
    case "start":
      await tx.workflowStep.update({ where: { id: stepId }, data: { status: "running", startedAt: now } });
      return { kind: "ok", changed: true };
    case "finish":
      await tx.workflowStep.update({
        where: { id: stepId },
        data: { status: d.status, conclusion: d.conclusion, completedAt: now },
      });
      return { kind: "ok", changed: true };
    default:
      return assertNever(d, "report decision");
  }
}

export type LogApplied = { kind: "ok"; changed: boolean } | { kind: "conflict"; message: string } | { kind: "not_found" };

/** Appends one log chunk; a retried chunk (same seq, same content) is accepted once. */
export async function appendLog(tx: Tx, jobId: bigint, stepId: bigint, seq: number, content: string): Promise<LogApplied> {
  const step = await tx.workflowStep.findFirst({ where: { id: stepId, jobId }, select: { id: true } });
  if (!step) return { kind: "not_found" };
  const inserted = await tx.$executeRaw`
    INSERT INTO step_log_chunks (step_id, seq, content) VALUES (${stepId}, ${seq}, ${content})
    ON CONFLICT (step_id, seq) DO NOTHING`;
  if (inserted === 1) return { kind: "ok", changed: true };
  const prior = await tx.stepLogChunk.findUnique({ where: { stepId_seq: { stepId, seq } }, select: { content: true } });
  return prior?.content === content ? { kind: "ok", changed: false } : { kind: "conflict", message: `log chunk ${seq} already written` };
}
