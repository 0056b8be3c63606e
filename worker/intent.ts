import { UnrecoverableError } from "bullmq";
import type pg from "pg";
import { inTx, isTransientDbError, isUniqueViolation, type PrismaClient, type Tx } from "../infra/db.ts";
import { poolSql, prismaSql, query, sqlTx, type Sql } from "../infra/sql.ts";
import { sql as q, type Fragment } from "../infra/sqlf.ts";
import type { PendingWrite } from "../infra/sql.ts";
import type { IntentPayload, IntentResult } from "../domain/contracts.ts";
import { intentResult } from "../domain/contracts.ts";
import type { Logger } from "../infra/logger.ts";
import { findTokenByIdForTarget, type Target } from "../domain/data/access.ts";
import { intentOfKind, type IntentRecordKind } from "../domain/intents.ts";
import { authorizeIntent } from "../domain/authorize.ts";
import { assertNever } from "../infra/assert.ts";
// One constant for the key window and the intent age limit that must end before it.
import { IDEMPOTENCY_WINDOW_MS } from "../infra/signing.ts";

/** lifecycle_intents.kind: one per intent of the table (domain/intents.ts). */
export type IntentKind = IntentRecordKind;

export interface ProcessorDeps {
  prisma: PrismaClient;
  /** Raw connections for the intents that run on plain SQL (every cancel). */
  pool: pg.Pool;
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
  /** Writes still to run: they go out in one statement with the intent's record. */
  write?: PendingWrite | null;
  /** Runs after commit (signals must never announce what could still roll back). */
  afterCommit?: () => Promise<void>;
}

export const intentByUidSql = (uid: string) => q`SELECT result::text FROM lifecycle_intents WHERE uid = ${uid}::text`;
/** The intent's record: what lifecycle_intents stores for one application (or refusal). */
export interface IntentRecord {
  uid: string;
  kind: IntentKind;
  targetId: number;
  actorUserId: number;
  tokenId: number | null;
  idempotencyKey: string | null;
  requestId: string | null;
  reason: string | null;
  state: "applied" | "rejected";
  /** The result as TypeScript built it (JSON text); completeResult may finish it inside the statement. */
  result: string;
  at: Date;
}

const recordInsert = (r: IntentRecord, completeResult: (json: Fragment) => Fragment = (j) => j) => {
  const at = r.at.toISOString();
  return q`
  INSERT INTO lifecycle_intents (uid, kind, target_id, actor_user_id, token_id, idempotency_key, request_id, reason, state, result, created_at, applied_at)
  VALUES (${r.uid}::text, ${r.kind}::text::intent_kind, ${String(r.targetId)}::bigint, ${String(r.actorUserId)}::bigint,
    ${r.tokenId === null ? null : String(r.tokenId)}::bigint, ${r.idempotencyKey}::text, ${r.requestId}::text, ${r.reason}::text,
    ${r.state}::text::intent_state, ${completeResult(q`${r.result}::text::jsonb`)}, ${at}::timestamptz, ${at}::timestamptz)
  ON CONFLICT (uid) DO NOTHING RETURNING result`;
};

/**
 * The statement that records an intent: with its pending writes first, when it has some
 * (one round trip for both). It returns the stored result when the statement completed it.
 */
export function recordStatement(r: IntentRecord, w: PendingWrite | null): Fragment {
  const intent = q`intent AS (${recordInsert(r, w?.completeResult)})`;
  const ctes = w ? q`${w.ctes}, ${intent}` : intent;
  const result = w?.completeResult ? q`, (SELECT result::text FROM intent) AS result` : q``;
  return q`WITH ${ctes} SELECT (SELECT count(*) FROM intent)::int AS recorded${result}`;
}

type Prior = { kind: "new" } | { kind: "replay"; result: IntentResult } | { kind: "conflict" };

/**
 * Has this request been applied already? The BullMQ job id filtered most repeats; this is
 * the durable answer: by idempotency key within its window, else by the request's uid.
 */
async function findPrior(sql: Sql, kind: IntentKind, p: IntentPayload, now: Date): Promise<Prior> {
  if (p.idempotencyKey !== null) {
    const [row] = await query<{ id: string; target_id: string; result: string; created_ms: number }>(sql, q`
      SELECT id::text, target_id::text, result::text, (extract(epoch FROM created_at) * 1000)::float8 AS created_ms FROM lifecycle_intents
      WHERE actor_user_id = ${String(p.actorUserId)}::bigint AND kind = ${kind}::text::intent_kind AND idempotency_key = ${p.idempotencyKey}::text FOR UPDATE`);
    if (row && now.getTime() - row.created_ms < IDEMPOTENCY_WINDOW_MS) {
      if (Number(row.target_id) !== p.targetId) return { kind: "conflict" };
      return { kind: "replay", result: intentResult.parse(JSON.parse(row.result)) };
    }
    if (row) {
      // The key's window has passed: the old record stays as history, the key is free.
      await query(sql, q`UPDATE lifecycle_intents SET idempotency_key = NULL, uid = uid || '-expired-' || id::text WHERE id = ${row.id}::bigint RETURNING 1`);
    }
    return { kind: "new" };
  }
  const [prior] = await query<{ result: string }>(sql, intentByUidSql(p.intentUid));
  return prior ? { kind: "replay", result: intentResult.parse(JSON.parse(prior.result)) } : { kind: "new" };
}

const NOT_FOUND = { job: "job not found", run: "run not found", repo: "repository not found" } as const;

/**
 * The API checked the token and the user's role before it enqueued the intent; between that
 * and now either may have changed. Checked again here, in the intent's own transaction, the
 * intent is refused (and recorded so) with the answer the API would now give; null: go on.
 */
async function reauthorize(sql: Sql, kind: IntentKind, p: IntentPayload, now: Date): Promise<Applied | null> {
  // What the target id names (the table's target); the repository is checked from there.
  const of = intentOfKind(kind).target;
  const target: Target = { kind: of, id: BigInt(p.targetId) };
  const found = p.tokenId === null ? null : await findTokenByIdForTarget(sql, BigInt(p.tokenId), target);
  const a = authorizeIntent(found, BigInt(p.actorUserId), now.getTime());
  switch (a.kind) {
    case "allowed":
      return null;
    case "unauthorized":
    case "forbidden":
      return rejected(a.kind, a.message);
    case "not_found":
      return rejected("not_found", NOT_FOUND[of]);
    default:
      return assertNever(a, "authorization");
  }
}

/** Thrown inside the transaction to roll it back: another delivery recorded this intent first. */
class AlreadyApplied extends Error {
  override name = "AlreadyApplied";
}

/**
 * Inserts the intent's record, in the same statement as the intent's own pending writes
 * when it has some (one round trip for both).
 */
async function recordIntent(sql: Sql, kind: IntentKind, p: IntentPayload, applied: Applied, now: Date): Promise<IntentResult> {
  const result = applied.result;
  const record: IntentRecord = {
    uid: p.intentUid, kind, targetId: p.targetId, actorUserId: p.actorUserId, tokenId: p.tokenId, idempotencyKey: p.idempotencyKey,
    requestId: p.requestId, reason: p.reason ?? null, state: result.ok ? "applied" : "rejected", result: JSON.stringify(result), at: now,
  };
  const [row] = await query<{ recorded: number; result?: string }>(sql, recordStatement(record, applied.write ?? null));
  if (row!.recorded === 0) throw new AlreadyApplied();
  return row!.result === undefined ? result : intentResult.parse(JSON.parse(row!.result));
}

/** Opens the transaction an intent is applied in: Prisma's, or a raw one on the pool. */
type TxRunner<D> = <R>(fn: (db: D, sql: Sql) => Promise<R>, timeoutMs: number) => Promise<R>;

const onPrisma = (deps: ProcessorDeps): TxRunner<Tx> => (fn, t) => inTx(deps.prisma, (tx) => fn(tx, prismaSql(tx)), t);
const onPool = (deps: ProcessorDeps): TxRunner<Sql> => (fn, t) => sqlTx(deps.pool, (sql) => fn(sql, sql), t);

/**
 * Applies one intent exactly once: decide and write in one transaction together with
 * the intent's record, then run post-commit effects. Transient failures are thrown for
 * BullMQ to retry with backoff; anything else is permanent.
 */
async function applyOn<D>(deps: ProcessorDeps, run: TxRunner<D>, kind: IntentKind, p: IntentPayload, apply: (db: D, now: Date) => Promise<Applied>): Promise<IntentResult> {
  let out: Applied;
  try {
    out = await run(async (db, sql) => {
      const now = new Date();
      // Without a key, the uid's unique index is the check: the record's insert finds an
      // earlier application (a redelivery) and the transaction rolls back; that saves a
      // round trip on every first delivery, which is nearly all of them.
      const prior: Prior = p.idempotencyKey === null ? { kind: "new" } : await findPrior(sql, kind, p, now);
      if (prior.kind === "replay") return { result: prior.result };
      if (prior.kind === "conflict") {
        return { result: { ok: false, error: "idempotency_conflict", message: "idempotency key reused with a different target" } };
      }
      const applied = (await reauthorize(sql, kind, p, now)) ?? (await apply(db, now));
      const stored = await recordIntent(sql, kind, p, applied, now);
      if (deps.holdTxMs > 0) {
        deps.log.warn({ intent: p.intentUid, holdMs: deps.holdTxMs }, "fault injection: holding transaction before commit");
        await new Promise((r) => setTimeout(r, deps.holdTxMs));
      }
      return { ...applied, result: stored };
    }, 15_000 + deps.holdTxMs);
  } catch (e) {
    if (e instanceof AlreadyApplied) return replay(deps, p);
    if (isTransientDbError(e) || isUniqueViolation(e)) throw e;
    throw new UnrecoverableError(`intent ${p.intentUid} failed: ${(e as Error).message}`);
  }
  if (out.afterCommit) {
    // The change is committed; a lost signal is caught by the runner's cancel-check poll.
    await out.afterCommit().catch((e: unknown) => deps.log.warn({ err: e, intent: p.intentUid }, "post-commit effect failed"));
  }
  return out.result;
}

async function replay(deps: ProcessorDeps, p: IntentPayload): Promise<IntentResult> {
  const [prior] = await query<{ result: string }>(poolSql(deps.pool), intentByUidSql(p.intentUid));
  if (!prior) throw new Error(`intent ${p.intentUid} was recorded by another delivery but cannot be read back`);
  return intentResult.parse(JSON.parse(prior.result));
}

/** An intent whose writes go through Prisma (reruns: many rows of many models). */
export function applyIntent(deps: ProcessorDeps, kind: IntentKind, p: IntentPayload, apply: (tx: Tx, now: Date) => Promise<Applied>): Promise<IntentResult> {
  return applyOn(deps, onPrisma(deps), kind, p, apply);
}

/** An intent written in plain SQL on a raw connection: the hot path, with no ORM in the way. */
export function applyIntentSql(deps: ProcessorDeps, kind: IntentKind, p: IntentPayload, apply: (sql: Sql, now: Date) => Promise<Applied>): Promise<IntentResult> {
  return applyOn(deps, onPool(deps), kind, p, apply);
}

export function actorOf(p: IntentPayload): { userId: bigint; tokenId: bigint | null; reason: string | null } {
  return { userId: BigInt(p.actorUserId), tokenId: p.tokenId === null ? null : BigInt(p.tokenId), reason: p.reason ?? null };
}

export function rejected(error: Exclude<IntentResult, { ok: true }>["error"], message: string): Applied {
  return { result: { ok: false, error, message } };
}
