import type { PrismaClient } from "../db.ts";
import { inTx } from "../db.ts";
import { reportJobTx } from "./jobs.ts";
import { newOpaqueToken } from "../tokens.ts";
import { judgeRegistration } from "../lifecycle/credentials.ts";
import { assertNever } from "../assert.ts";

export type Registration =
  | { kind: "registered"; id: bigint; token: string; endedJobs: bigint[] }
  | { kind: "revoked" }
  | { kind: "operator_owned" };

/**
 * Self-registration: registers a runner by name, or starts a new life for one that
 * registered itself: its old runner and job tokens stop working, and jobs its previous
 * life still held are ended (cancelled if a cancel was requested, failed otherwise) —
 * nobody is left to finish them. An operator-registered name is refused and untouched.
 */
export async function registerOrRotate(
  prisma: PrismaClient,
  a: { name: string; labels: string[]; capacity: number },
): Promise<Registration> {
  const t = newOpaqueToken("shithub_runner_");
  const now = new Date();
  const reg = await inTx(prisma, async (tx) => {
    // The row lock keeps two registrations of one name from interleaving their rotations.
    const [existing] = await tx.$queryRaw<{ id: bigint; revoked: boolean; self_registered: boolean }[]>`
      SELECT id, revoked_at IS NOT NULL AS revoked, self_registered FROM runners WHERE name = ${a.name} FOR UPDATE`;
    const d = judgeRegistration(existing ? { revoked: existing.revoked, selfRegistered: existing.self_registered } : null);
    switch (d.kind) {
      case "revoked":
      case "operator_owned":
        return d;
      case "create": {
        const runner = await tx.runner.create({ data: { name: a.name, labels: a.labels, capacity: a.capacity, status: "idle", lastHeartbeatAt: now, selfRegistered: true } });
        await tx.runnerToken.create({ data: { runnerId: runner.id, tokenHash: t.hash } });
        return { kind: "ok" as const, id: runner.id };
      }
      case "rotate": {
        const id = existing!.id;
        await tx.runner.update({ where: { id }, data: { labels: a.labels, capacity: a.capacity, status: "idle", lastHeartbeatAt: now } });
        await tx.runnerToken.updateMany({ where: { runnerId: id, revokedAt: null }, data: { revokedAt: now } });
        await tx.jobToken.updateMany({ where: { runnerId: id, revokedAt: null }, data: { revokedAt: now } });
        await tx.runnerToken.create({ data: { runnerId: id, tokenHash: t.hash } });
        return { kind: "ok" as const, id };
      }
      default:
        return assertNever(d, "registration");
    }
  });
  if (reg.kind !== "ok") return reg;
  const held = await prisma.workflowJob.findMany({ where: { runnerId: reg.id, status: "running" }, select: { id: true, cancelRequested: true } });
  for (const j of held) {
    await inTx(prisma, (tx) =>
      reportJobTx(tx, j.id, j.cancelRequested ? { status: "cancelled" } : { status: "completed", conclusion: "failure" }, now),
    );
  }
  return { kind: "registered", id: reg.id, token: t.token, endedJobs: held.map((j) => j.id) };
}
