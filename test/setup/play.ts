import type { PrismaClient } from "../../infra/db.ts";
import { call, claim } from "./world.ts";

export type Outcomes = Record<string, "success" | "failure">;

/**
 * Plays run `runId` through the runner protocol as `runnerToken`'s runner: claims every
 * queued job and ends it with `outcomes[job_key]` (success when unnamed), each step
 * logging one line, `log of <job_key> step <n>`.
 */
export async function playRun(base: string, prisma: PrismaClient, runnerToken: string, runId: number | bigint, outcomes: Outcomes = {}): Promise<void> {
  for (;;) {
    const queued = await prisma.workflowJob.count({ where: { runId: BigInt(runId), status: "queued" } });
    if (queued === 0) return;
    const c = await claim(base, runnerToken);
    const job = c.status === 200 ? c.body.job : undefined;
    if (!job) throw new Error(`no job claimable of run ${runId} (heartbeat answered ${c.status})`);
    const outcome = outcomes[job.job_key] ?? "success";
    for (const [i, st] of (job.steps as { id: number }[]).entries()) {
      await call(base, "POST", `/api/v1/jobs/${job.id}/logs`, { token: c.body.token, body: { step_id: st.id, seq: 0, content: `log of ${job.job_key} step ${i + 1}` } });
      await call(base, "POST", `/api/v1/jobs/${job.id}/steps/${st.id}/status`, { token: c.body.token, body: { status: "completed", conclusion: outcome } });
    }
    const r = await call(base, "POST", `/api/v1/jobs/${job.id}/status`, { token: c.body.token, body: { status: "completed", conclusion: outcome } });
    if (r.status !== 200) throw new Error(`ending job ${job.id} answered ${r.status}`);
  }
}
