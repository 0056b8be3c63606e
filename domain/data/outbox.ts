import { query, type Sql } from "../../infra/sql.ts";
import { sql } from "../../infra/sqlf.ts";

// The outbox's dispatch side (docs/events.md). Triggers write `events` rows in the
// transaction of each change (prisma/checks.sql); the dispatcher takes them in the order
// they were written, one dispatcher at a time (an advisory lock), and gives each its
// public `id` from events_dispatch_seq: ids then increase in the order events become
// visible, so a stream that resumes after id N never misses one that commits later.

/** The dispatcher's lock: any number of workers run a dispatcher, one dispatches at a time. */
export const DISPATCH_LOCK = 0x6576_656e_7473n; // "events"

export type EventType = "workflow_job" | "workflow_run" | "intent";

export interface PendingEvent {
  seq: bigint;
  /** The writing transaction. */
  tx: bigint;
  type: EventType;
  action: string;
  repoId: bigint;
  runId: bigint | null;
  jobId: bigint | null;
  /** The changed row as it was after the change (to_jsonb of it). */
  snapshot: Record<string, unknown>;
  /** The row's status after the change, from the snapshot. */
  status: string | null;
  createdAt: Date;
}

export async function tryDispatchLock(db: Sql): Promise<boolean> {
  const [r] = await query<{ ok: boolean }>(db, sql`SELECT pg_try_advisory_xact_lock(${DISPATCH_LOCK.toString()}::bigint) AS ok`);
  return r?.ok === true;
}

/**
 * The undispatched events of the oldest transactions (those of the first `limit` events,
 * each transaction whole, so one can be put in order), in the order they were written.
 */
export async function pendingEvents(db: Sql, limit: number): Promise<PendingEvent[]> {
  const txs = await query<{ tx: string }>(db, sql`
    SELECT DISTINCT t.tx::text AS tx FROM (SELECT e.tx FROM events e WHERE e.id IS NULL ORDER BY e.seq LIMIT ${limit}::int) t`);
  if (txs.length === 0) return [];
  const rows = await query<{ seq: string; tx: string; type: EventType; action: string; repo_id: string; run_id: string | null; job_id: string | null; snapshot: Record<string, unknown>; created_at: Date }>(db, sql`
    SELECT e.seq::text AS seq, e.tx::text AS tx, e.type::text AS type, e.action, e.repo_id::text AS repo_id, e.run_id::text AS run_id,
      e.job_id::text AS job_id, e.snapshot, e.created_at
    FROM events e WHERE e.id IS NULL AND e.tx = ANY(${txs.map((t) => t.tx)}::bigint[]) ORDER BY e.seq`);
  const big = (v: string | null) => (v === null ? null : BigInt(v));
  return rows.map((r) => ({
    seq: BigInt(r.seq), tx: BigInt(r.tx), type: r.type, action: r.action, repoId: BigInt(r.repo_id), runId: big(r.run_id), jobId: big(r.job_id),
    snapshot: r.snapshot, createdAt: r.created_at, status: typeof r.snapshot["status"] === "string" ? (r.snapshot["status"] as string) : null,
  }));
}

/** `n` new event ids, ascending. */
export async function nextEventIds(db: Sql, n: number): Promise<bigint[]> {
  const rows = await query<{ id: string }>(db, sql`SELECT nextval('events_dispatch_seq')::text AS id FROM generate_series(1, ${n}::int)`);
  return rows.map((r) => BigInt(r.id)).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

export interface Dispatched {
  seq: bigint;
  id: bigint;
  /** The JSON deliveries and streams send; null for what is neither delivered nor streamed (intents, a deleted run's). */
  payload: string | null;
}

/**
 * The batch goes as one JSON document with each payload spliced in as it is (it is JSON
 * already): a text[] parameter would have the driver escape every quote of every payload,
 * which cost the dispatcher more than building them.
 */
export async function markDispatched(db: Sql, events: readonly Dispatched[], at: Date): Promise<void> {
  if (events.length === 0) return;
  await query(db, sql`
    UPDATE events e SET id = v.id, payload = v.payload, dispatched_at = ${at.toISOString()}::timestamptz
    FROM jsonb_to_recordset(${dispatchedDocument(events)}::jsonb) AS v(seq bigint, id bigint, payload jsonb)
    WHERE e.seq = v.seq AND e.id IS NULL`);
}

export const dispatchedDocument = (events: readonly Dispatched[]): string =>
  `[${events.map((e) => `{"seq":${e.seq},"id":${e.id},"payload":${e.payload ?? "null"}}`).join(",")}]`;

/** How far behind the dispatcher is: the age of the oldest undispatched event, 0 when none. */
export async function dispatchLagSeconds(db: Sql): Promise<number> {
  const [r] = await query<{ lag: number | null }>(db, sql`
    SELECT EXTRACT(EPOCH FROM (clock_timestamp() - min(created_at)))::float8 AS lag FROM events WHERE id IS NULL`);
  return Math.max(0, r?.lag ?? 0);
}

/** Dispatched events older than `before`, deleted a batch at a time (their deliveries keep what was sent). */
export async function pruneEvents(db: Sql, before: Date, limit: number): Promise<number> {
  const rows = await query(db, sql`
    DELETE FROM events WHERE seq IN (
      SELECT seq FROM events WHERE id IS NOT NULL AND dispatched_at < ${before.toISOString()}::timestamptz ORDER BY seq LIMIT ${limit}::int)
    RETURNING 1`);
  return rows.length;
}
