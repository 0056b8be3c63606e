import { UnrecoverableError } from "bullmq";
import { inTx, isTransientDbError, isUniqueViolation, Prisma, type PrismaClient, type Tx } from "../core/db.ts";
import type { IntentPayload, IntentResult } from "../core/contracts.ts";
import { intentResult } from "../core/contracts.ts";
import type { Logger } from "../core/logger.ts";

export type IntentKind = "cancel_job" | "rerun_run" | "cancel_run" | "force_cancel_run" | "rerun_failed_jobs" | "rerun_job" | "bulk_cancel";

export interface ProcessorDeps {
  prisma: PrismaClient;
  publish: (channel: string, message: string) => Promise<unknown>;
  queuePrefix: string;
  log: Logger;
  /** Fault injection for tests: keep the transaction open before commit. */
  holdTxMs: number;
  /** Reruns allowed per chain from one original run (RERUN_LIMIT); default DEFAULT_RERUN_LIMIT. */
  rerunLimit?: number;
}

export const DEFAULT_RERUN_LIMIT = 50;

export interface Applied {
  result: IntentResult;
  /** Runs after commit (signals must never announce what could still roll back). */
  afterCommit?: () => Promise<void>;
}

const IDEMPOTENCY_WINDOW_MS = 24 * 3600 * 1000;

type Prior = { kind: "new" } | { kind: "replay"; result: IntentResult } | { kind: "conflict" };

/**
 * Has this request been applied already? The BullMQ job id filtered most repeats; this is
 * the durable answer: by idempotency key within its window, else by the request's uid.
 */
async function findPrior(tx: Tx, kind: IntentKind, p: IntentPayload, now: Date): Promise<Prior> {
  if (p.idempotencyKey !== null) {
    const rows = await tx.$queryRaw<{ id: bigint; target_id: bigint; result: unknown; created_at: Date }[]>`
      SELECT id, target_id, result, created_at FROM lifecycle_intents
      WHERE actor_user_id = ${BigInt(p.actorUserId)} AND kind = ${kind}::intent_kind AND idempotency_key = ${p.idempotencyKey}
      FOR UPDATE`;
    const row = rows[0];
    if (row && now.getTime() - row.created_at.getTime() < IDEMPOTENCY_WINDOW_MS) {
      if (Number(row.target_id) !== p.targetId) return { kind: "conflict" };
      return { kind: "replay", result: intentResult.parse(row.result) };
    }
    if (row) {
      // The key's window has passed: the old record stays as history, the key is free.
      await tx.$executeRaw`UPDATE lifecycle_intents SET idempotency_key = NULL, uid = uid || '-expired-' || id::text WHERE id = ${row.id}`;
    }
    return { kind: "new" };
  }
  const prior = await tx.lifecycleIntent.findUnique({ where: { uid: p.intentUid }, select: { result: true } });
  return prior ? { kind: "replay", result: intentResult.parse(prior.result) } : { kind: "new" };
}

/**
 * Applies one intent exactly once: decide and write in one transaction together with
 * the intent's record, then run post-commit effects. Transient failures are thrown for
 * BullMQ to retry with backoff; anything else is permanent.
 */
export async function applyIntent(
  deps: ProcessorDeps,
  kind: IntentKind,
  p: IntentPayload,
  apply: (tx: Tx, now: Date) => Promise<Applied>,
): Promise<IntentResult> {
  let out: Applied;
  try {
    out = await inTx(deps.prisma, async (tx) => {
      const now = new Date();
      const prior = await findPrior(tx, kind, p, now);
      if (prior.kind === "replay") return { result: prior.result };
      if (prior.kind === "conflict") {
        return { result: { ok: false, error: "idempotency_conflict", message: "idempotency key reused with a different target" } };
      }
      const applied = await apply(tx, now);
      await tx.lifecycleIntent.create({
        data: {
          uid: p.intentUid,
          kind,
          targetId: BigInt(p.targetId),
          actorUserId: BigInt(p.actorUserId),
          tokenId: p.tokenId === null ? null : BigInt(p.tokenId),
          idempotencyKey: p.idempotencyKey,
          requestId: p.requestId,
          reason: p.reason ?? null,
          state: applied.result.ok ? "applied" : "rejected",
          result: applied.result as Prisma.InputJsonValue,
          createdAt: now,
          appliedAt: now,
        },
      });
      if (deps.holdTxMs > 0) {
        deps.log.warn({ intent: p.intentUid, holdMs: deps.holdTxMs }, "fault injection: holding transaction before commit");
        await new Promise((r) => setTimeout(r, deps.holdTxMs));
      }
      return applied;
    }, 15_000 + deps.holdTxMs);
  } catch (e) {
    if (isTransientDbError(e) || isUniqueViolation(e)) throw e;
    throw new UnrecoverableError(`intent ${p.intentUid} failed: ${(e as Error).message}`);
  }
  if (out.afterCommit) {
    // The change is committed; a lost signal is caught by the runner's cancel-check poll.
    await out.afterCommit().catch((e: unknown) => deps.log.warn({ err: e, intent: p.intentUid }, "post-commit effect failed"));
  }
  return out.result;
}

export function actorOf(p: IntentPayload): { userId: bigint; tokenId: bigint | null; reason: string | null } {
  return { userId: BigInt(p.actorUserId), tokenId: p.tokenId === null ? null : BigInt(p.tokenId), reason: p.reason ?? null };
}

export function rejected(error: Exclude<IntentResult, { ok: true }>["error"], message: string): Applied {
  return { result: { ok: false, error, message } };
}
