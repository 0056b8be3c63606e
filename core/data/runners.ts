import type { PrismaClient } from "../db.ts";
import { inTx } from "../db.ts";
import { reportJobTx } from "./jobs.ts";
import { newOpaqueToken } from "../tokens.ts";

export type Registration =
  | { kind: "registered"; id: bigint; token: string; endedJobs: bigint[] }
  | { kind: "revoked" };

/**
 * Registers a runner by name, or starts a new life for an existing one: its old tokens
 * stop working, and jobs its previous life still held are ended (cancelled if a cancel
 * was requested, failed otherwise) — nobody is left to finish them.
 */
export async function registerOrRotate(
  prisma: PrismaClient,
  a: { name: string; labels: string[]; capacity: number },
): Promise<Registration> {
  const t = newOpaqueToken("shithub_runner_");
  const now = new Date();
  const reg = await inTx(prisma, async (tx) => {
    const existing = await tx.runner.findUnique({ where: { name: a.name } });
    if (existing?.revokedAt) return { kind: "revoked" as const };
    const runner = existing
      ? await tx.runner.update({ where: { id: existing.id }, data: { labels: a.labels, capacity: a.capacity, status: "idle", lastHeartbeatAt: now } })
      : await tx.runner.create({ data: { name: a.name, labels: a.labels, capacity: a.capacity, status: "idle", lastHeartbeatAt: now } });
    await tx.runnerToken.updateMany({ where: { runnerId: runner.id, revokedAt: null }, data: { revokedAt: now } });
    await tx.runnerToken.create({ data: { runnerId: runner.id, tokenHash: t.hash } });
    return { kind: "ok" as const, id: runner.id };
  });
  if (reg.kind === "revoked") return reg;
  const held = await prisma.workflowJob.findMany({ where: { runnerId: reg.id, status: "running" }, select: { id: true, cancelRequested: true } });
  for (const j of held) {
    await inTx(prisma, (tx) =>
      reportJobTx(tx, j.id, j.cancelRequested ? { status: "cancelled" } : { status: "completed", conclusion: "failure" }, now),
    );
  }
  return { kind: "registered", id: reg.id, token: t.token, endedJobs: held.map((j) => j.id) };
}
