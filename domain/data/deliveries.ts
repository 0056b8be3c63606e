import { id, ids, query, type Sql } from "../../infra/sql.ts";
import { sql } from "../../infra/sqlf.ts";
import type { EventType } from "./outbox.ts";

// Webhook deliveries (docs/events.md, "Webhooks"). A hook hears a run's events in event
// order: a delivery waits (`waiting`) while an earlier delivery of the same hook and run is
// unfinished, and the one that finishes hands the chain to the next. Both sides take the
// chain's advisory lock first, so the dispatcher that adds a delivery and the worker that
// finishes one never miss each other.

export type DeliveryState = "waiting" | "queued" | "retrying" | "delivered" | "failed";

/** A dispatched event as deliveries need it. */
export interface DeliverableEvent {
  id: bigint;
  type: EventType;
  action: string;
  repoId: bigint;
  runId: bigint | null;
}

const chainKeys = (pairs: readonly { hookId: string; runId: string }[]) =>
  [...new Set(pairs.map((p) => `${p.hookId}:${p.runId}`))].sort();

/** Takes the chains' locks in one order (a finishing delivery holds one, so no cycle). */
async function lockChains(db: Sql, keys: readonly string[]): Promise<void> {
  if (keys.length === 0) return;
  await query(db, sql`SELECT pg_advisory_xact_lock(hashtextextended('hook-chain:' || k, 0)) FROM unnest(${keys}::text[]) AS k ORDER BY k`);
}

/**
 * One delivery per active hook of the event's repository that subscribes to its type; the
 * first of a chain with nothing unfinished before it is `queued` (to be sent now), the
 * rest `waiting`. Returns the ids to enqueue.
 */
export async function createDeliveries(db: Sql, events: readonly DeliverableEvent[]): Promise<bigint[]> {
  const sendable = events.filter((e) => e.type !== "intent" && e.runId !== null);
  if (sendable.length === 0) return [];
  const repos = [...new Set(sendable.map((e) => e.repoId.toString()))];
  const hooks = await query<{ id: string; repo_id: string; events: string[] }>(db, sql`
    SELECT id::text, repo_id::text, events FROM repo_hooks WHERE repo_id = ANY(${repos}::bigint[]) AND active`);
  const pairs = sendable.flatMap((e) => hooks.filter((h) => h.repo_id === e.repoId.toString() && h.events.includes(e.type))
    .map((h) => ({ hookId: h.id, runId: e.runId!.toString(), e })));
  if (pairs.length === 0) return [];
  await lockChains(db, chainKeys(pairs));
  const rows = await query<{ id: string; state: DeliveryState }>(db, sql`
    WITH v AS (
      SELECT * FROM unnest(${pairs.map((p) => p.hookId)}::bigint[], ${ids(pairs.map((p) => p.e.id))}::bigint[], ${pairs.map((p) => p.runId)}::bigint[],
        ${pairs.map((p) => p.e.type)}::text[], ${pairs.map((p) => p.e.action)}::text[]) AS v(hook_id, event_id, run_id, event, action)
    ), ranked AS (
      SELECT v.*, row_number() OVER (PARTITION BY v.hook_id, v.run_id ORDER BY v.event_id) AS n,
        EXISTS (SELECT 1 FROM hook_deliveries d WHERE d.hook_id = v.hook_id AND d.run_id = v.run_id AND d.state IN ('waiting', 'queued', 'retrying')) AS behind
      FROM v
    )
    INSERT INTO hook_deliveries (hook_id, guid, event_id, run_id, event, action, state)
    SELECT hook_id, gen_random_uuid(), event_id, run_id, event, action,
      (CASE WHEN n = 1 AND NOT behind THEN 'queued' ELSE 'waiting' END)::delivery_state
    FROM ranked ORDER BY event_id, hook_id
    RETURNING id::text, state::text AS state`);
  return rows.filter((r) => r.state === "queued").map((r) => BigInt(r.id));
}

/** What a delivery attempt sends. Null when the delivery is gone (its hook deleted). */
export interface ToSend {
  id: bigint;
  hookId: bigint;
  repoId: bigint;
  guid: string;
  runId: bigint | null;
  event: string;
  action: string;
  state: DeliveryState;
  attempts: number;
  url: string;
  secretEncrypted: string | null;
  hookActive: boolean;
  /** The event's payload as sent; null once the event was pruned. */
  payload: string | null;
}

export async function deliveryToSend(db: Sql, deliveryId: bigint): Promise<ToSend | null> {
  const [r] = await query<{ id: string; hook_id: string; repo_id: string; guid: string; run_id: string | null; event: string; action: string; state: DeliveryState; attempts: number; url: string; secret_encrypted: string | null; active: boolean; payload: string | null }>(db, sql`
    SELECT d.id::text, d.hook_id::text, h.repo_id::text, d.guid::text, d.run_id::text, d.event, d.action, d.state::text AS state, d.attempts,
      h.url, h.secret_encrypted, h.active, e.payload::text AS payload
    FROM hook_deliveries d JOIN repo_hooks h ON h.id = d.hook_id LEFT JOIN events e ON e.id = d.event_id
    WHERE d.id = ${id(deliveryId)}::bigint`);
  if (!r) return null;
  return {
    id: BigInt(r.id), hookId: BigInt(r.hook_id), repoId: BigInt(r.repo_id), guid: r.guid, runId: r.run_id === null ? null : BigInt(r.run_id), event: r.event, action: r.action,
    state: r.state, attempts: r.attempts, url: r.url, secretEncrypted: r.secret_encrypted, hookActive: r.active, payload: r.payload,
  };
}

/** One attempt's record: what was sent and what came back. */
export interface AttemptRecord {
  state: "retrying" | "delivered" | "failed";
  attempts: number;
  requestHeaders: Record<string, string>;
  statusCode: number | null;
  responseHeaders: Record<string, string>;
  responseBody: string;
  error: string | null;
  durationMs: number;
  at: Date;
}

/**
 * Records an attempt; when it finishes the delivery, hands the chain to the next waiting
 * delivery of that hook and run, whose id is returned to enqueue (null: none).
 */
export async function recordAttempt(db: Sql, d: Pick<ToSend, "id" | "hookId" | "runId">, a: AttemptRecord): Promise<bigint | null> {
  if (d.runId !== null) await lockChains(db, chainKeys([{ hookId: d.hookId.toString(), runId: d.runId.toString() }]));
  const at = a.at.toISOString();
  await query(db, sql`
    UPDATE hook_deliveries SET state = ${a.state}::text::delivery_state, attempts = ${a.attempts}::int,
      request_headers = ${JSON.stringify(a.requestHeaders)}::jsonb, status_code = ${a.statusCode}::int,
      response_headers = ${JSON.stringify(a.responseHeaders)}::jsonb, response_body = ${a.responseBody}::text, error = ${a.error}::text,
      duration_ms = ${Math.round(a.durationMs)}::int, updated_at = ${at}::timestamptz,
      delivered_at = CASE WHEN ${a.state}::text = 'delivered' THEN ${at}::timestamptz ELSE delivered_at END
    WHERE id = ${id(d.id)}::bigint`);
  return a.state === "retrying" ? null : releaseNext(db, d);
}

/** Ends a delivery that can no longer be sent (hook deactivated, event pruned) and releases its chain. */
export async function abandon(db: Sql, d: Pick<ToSend, "id" | "hookId" | "runId">, reason: string, at: Date): Promise<bigint | null> {
  if (d.runId !== null) await lockChains(db, chainKeys([{ hookId: d.hookId.toString(), runId: d.runId.toString() }]));
  await query(db, sql`
    UPDATE hook_deliveries SET state = 'failed', error = ${reason}::text, updated_at = ${at.toISOString()}::timestamptz
    WHERE id = ${id(d.id)}::bigint AND state IN ('waiting', 'queued', 'retrying')`);
  return releaseNext(db, d);
}

async function releaseNext(db: Sql, d: Pick<ToSend, "hookId" | "runId">): Promise<bigint | null> {
  if (d.runId === null) return null;
  const [next] = await query<{ id: string }>(db, sql`
    UPDATE hook_deliveries SET state = 'queued', updated_at = clock_timestamp() WHERE id = (
      SELECT id FROM hook_deliveries WHERE hook_id = ${id(d.hookId)}::bigint AND run_id = ${id(d.runId)}::bigint AND state = 'waiting'
      ORDER BY event_id LIMIT 1)
      AND NOT EXISTS (SELECT 1 FROM hook_deliveries WHERE hook_id = ${id(d.hookId)}::bigint AND run_id = ${id(d.runId)}::bigint AND state IN ('queued', 'retrying'))
    RETURNING id::text`);
  return next ? BigInt(next.id) : null;
}

/**
 * Deliveries that should be in the delivery queue and have not moved for `idleMs`: the
 * queue lost them (Redis restarted without persistence, or an enqueue after commit
 * failed). Re-adding one that is still there is a no-op (its job id is the delivery's).
 */
export async function idleDeliveries(db: Sql, idleMs: number, limit: number): Promise<bigint[]> {
  const rows = await query<{ id: string }>(db, sql`
    SELECT id::text FROM hook_deliveries WHERE state IN ('queued', 'retrying')
      AND updated_at < clock_timestamp() - make_interval(secs => ${idleMs / 1000}::float8)
    ORDER BY updated_at LIMIT ${limit}::int`);
  return rows.map((r) => BigInt(r.id));
}

/**
 * A new delivery of a delivered or failed one's event, with the same guid (GitHub's
 * redelivery), queued at once. Null when there is no such finished delivery (one still
 * being sent is not sent twice).
 */
export async function redeliver(db: Sql, hookId: bigint, deliveryId: bigint): Promise<bigint | null> {
  const [r] = await query<{ id: string }>(db, sql`
    INSERT INTO hook_deliveries (hook_id, guid, event_id, run_id, event, action, redelivery, state)
    SELECT hook_id, guid, event_id, run_id, event, action, true, 'queued' FROM hook_deliveries
    WHERE id = ${id(deliveryId)}::bigint AND hook_id = ${id(hookId)}::bigint AND state IN ('delivered', 'failed')
    RETURNING id::text`);
  return r ? BigInt(r.id) : null;
}

/** Finished deliveries older than `before`, a batch at a time. */
export async function pruneDeliveries(db: Sql, before: Date, limit: number): Promise<number> {
  const rows = await query(db, sql`
    DELETE FROM hook_deliveries WHERE id IN (
      SELECT id FROM hook_deliveries WHERE state IN ('delivered', 'failed') AND updated_at < ${before.toISOString()}::timestamptz ORDER BY id LIMIT ${limit}::int)
    RETURNING 1`);
  return rows.length;
}
