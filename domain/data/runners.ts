import type { PrismaClient } from "../../infra/db.ts";
import { inTx, isUniqueViolation } from "../../infra/db.ts";
import { reportJobTx } from "./jobs.ts";
import { newOpaqueToken, sha256 } from "../tokens.ts";
import { judgeRegistration } from "../lifecycle/credentials.ts";
import { assertNever } from "../../infra/assert.ts";
import { prismaSql } from "../../infra/sql.ts";

/** A runner without a heartbeat for this long is offline (the reaper's default RUNNER_HEARTBEAT_WINDOW_MS). */
export const HEARTBEAT_WINDOW_MS = 60_000;

export type Registration =
  | { kind: "registered"; id: bigint; name: string; token: string; endedJobs: bigint[] }
  | { kind: "revoked" }
  | { kind: "operator_owned" }
  | { kind: "live"; name: string; windowMs: number };

/** What decides whether a self-registration may start a new life for a runner that registered itself. */
export interface RotationFacts {
  /** The request carried a current (unrevoked) runner token of that runner. */
  proven: boolean;
  lastHeartbeatMs: number | null;
  nowMs: number;
  windowMs: number;
}

export type RotationDecision = { kind: "rotate" } | { kind: "live" };

/**
 * The registration secret is shared by every host that self-registers, so it alone must
 * not end another host's live runner of that name (its jobs would be failed and its session
 * killed). Either the caller shows it is that runner (its current token), or the runner has
 * been silent for a heartbeat window: it is gone, and its name may start a new life.
 */
export function judgeRotation(f: RotationFacts): RotationDecision {
  if (f.proven) return { kind: "rotate" };
  if (f.lastHeartbeatMs === null || f.nowMs - f.lastHeartbeatMs > f.windowMs) return { kind: "rotate" };
  return { kind: "live" };
}

interface ExistingRow {
  id: bigint;
  name: string;
  revoked: boolean;
  self_registered: boolean;
  last_heartbeat_at: Date | null;
}

/**
 * Self-registration: registers a runner by name, or starts a new life for one that
 * registered itself (judgeRotation): its old runner and job tokens stop working, and jobs
 * its previous life still held are ended (cancelled if a cancel was requested, failed
 * otherwise) — nobody is left to finish them. An operator-registered name is refused and
 * untouched. Names are one namespace regardless of case ("Sim-1" is "sim-1"); the
 * stored spelling is kept and answered.
 */
export async function registerOrRotate(
  prisma: PrismaClient,
  a: { name: string; labels: string[]; capacity: number; currentToken?: string },
  windowMs = HEARTBEAT_WINDOW_MS,
): Promise<Registration> {
  const t = newOpaqueToken("shithub_runner_");
  const now = new Date();
  const proof = a.currentToken === undefined ? null : sha256(a.currentToken);
  // Two first registrations of one name race to create it: the loser meets the unique
  // index (lower(name)), and on a second pass finds the winner's row like any later caller.
  const reg = await retryOnceOnUnique(() => inTx(prisma, async (tx) => {
    // The row lock keeps two registrations of one name from interleaving their rotations.
    const [existing] = await tx.$queryRaw<ExistingRow[]>`
      SELECT r.id, r.name, r.revoked_at IS NOT NULL AS revoked, r.self_registered, r.last_heartbeat_at
      FROM runners r WHERE lower(r.name) = lower(${a.name}) FOR UPDATE OF r`;
    const d = judgeRegistration(existing ? { revoked: existing.revoked, selfRegistered: existing.self_registered } : null);
    switch (d.kind) {
      case "revoked":
      case "operator_owned":
        return d;
      case "create": {
        const runner = await tx.runner.create({ data: { name: a.name, labels: a.labels, capacity: a.capacity, status: "idle", lastHeartbeatAt: now, selfRegistered: true } });
        await tx.runnerToken.create({ data: { runnerId: runner.id, tokenHash: t.hash } });
        return { kind: "ok" as const, id: runner.id, name: runner.name };
      }
      case "rotate": {
        const e = existing!;
        // The proof is spent here, in a statement of its own under the runner's row lock: it
        // sees what a registration that held the lock before committed (READ COMMITTED takes a
        // new snapshot per statement), so two racing with one token start one life, not two.
        const proven = proof !== null && (await tx.$queryRaw<unknown[]>`
          UPDATE runner_tokens SET revoked_at = ${now} WHERE runner_id = ${e.id} AND revoked_at IS NULL AND token_hash = ${proof} RETURNING 1`).length > 0;
        const r = judgeRotation({ proven, lastHeartbeatMs: e.last_heartbeat_at?.getTime() ?? null, nowMs: now.getTime(), windowMs });
        if (r.kind === "live") return { kind: "live" as const, name: e.name, windowMs };
        await tx.runner.update({ where: { id: e.id }, data: { labels: a.labels, capacity: a.capacity, status: "idle", lastHeartbeatAt: now } });
        await tx.runnerToken.updateMany({ where: { runnerId: e.id, revokedAt: null }, data: { revokedAt: now } });
        await tx.jobToken.updateMany({ where: { runnerId: e.id, revokedAt: null }, data: { revokedAt: now } });
        await tx.runnerToken.create({ data: { runnerId: e.id, tokenHash: t.hash } });
        return { kind: "ok" as const, id: e.id, name: e.name };
      }
      default:
        return assertNever(d, "registration");
    }
  }));
  if (reg.kind !== "ok") return reg;
  const held = await prisma.workflowJob.findMany({ where: { runnerId: reg.id, status: "running" }, select: { id: true, cancelRequested: true } });
  for (const j of held) {
    await inTx(prisma, (tx) =>
      reportJobTx(prismaSql(tx), j.id, j.cancelRequested ? { status: "cancelled" } : { status: "completed", conclusion: "failure" }, now),
    );
  }
  return { kind: "registered", id: reg.id, name: reg.name, token: t.token, endedJobs: held.map((j) => j.id) };
}

/** The 409 a live runner's name gets: what the caller can do about it. */
export function liveMessage(name: string, windowMs: number): string {
  const s = Math.round(windowMs / 1000);
  return `runner ${name} is online (a heartbeat within the last ${s} s): re-register with its current runner token as current_token, or stop it and retry once it has been silent for ${s} s`;
}

async function retryOnceOnUnique<T>(f: () => Promise<T>): Promise<T> {
  try {
    return await f();
  } catch (e) {
    if (!isUniqueViolation(e)) throw e;
    return f();
  }
}
