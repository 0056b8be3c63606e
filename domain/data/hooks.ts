import { id, query, type Sql } from "../../infra/sql.ts";
import { sql } from "../../infra/sqlf.ts";
import type { DeliveryState } from "./deliveries.ts";

// Repositories' webhooks and their delivery log (docs/events.md, "Webhooks"). Every
// statement is bound to the repository the caller was judged on, so a hook id of another
// repository finds nothing.

export const HOOK_EVENTS = ["workflow_job", "workflow_run"] as const;
export type HookEvent = (typeof HOOK_EVENTS)[number];
/** GitHub's limit: hooks per repository for one event. */
export const MAX_HOOKS_PER_REPO = 20;

export interface Hook {
  id: bigint;
  repoId: bigint;
  url: string;
  hasSecret: boolean;
  events: HookEvent[];
  active: boolean;
  createdAt: Date;
  updatedAt: Date;
  /** The last finished delivery's outcome, GitHub's `last_response`. */
  last: { statusCode: number | null; state: DeliveryState; error: string | null } | null;
}

const HOOK_COLUMNS = sql.raw(`h.id::text, h.repo_id::text, h.url, h.secret_encrypted IS NOT NULL AS has_secret, h.events, h.active, h.created_at, h.updated_at,
    (SELECT json_build_object('statusCode', d.status_code, 'state', d.state, 'error', d.error) FROM hook_deliveries d
      WHERE d.hook_id = h.id AND d.state IN ('delivered', 'failed', 'retrying') ORDER BY d.updated_at DESC, d.id DESC LIMIT 1) AS last`);
type RawHook = { id: string; repo_id: string; url: string; has_secret: boolean; events: HookEvent[]; active: boolean; created_at: Date; updated_at: Date; last: Hook["last"] };
const hookOf = (r: RawHook): Hook => ({
  id: BigInt(r.id), repoId: BigInt(r.repo_id), url: r.url, hasSecret: r.has_secret, events: r.events, active: r.active,
  createdAt: r.created_at, updatedAt: r.updated_at, last: r.last,
});

export async function listHooks(db: Sql, repoId: bigint): Promise<Hook[]> {
  return (await query<RawHook>(db, sql`SELECT ${HOOK_COLUMNS} FROM repo_hooks h WHERE h.repo_id = ${id(repoId)}::bigint ORDER BY h.id`)).map(hookOf);
}

export async function getHook(db: Sql, repoId: bigint, hookId: bigint): Promise<Hook | null> {
  const [r] = await query<RawHook>(db, sql`SELECT ${HOOK_COLUMNS} FROM repo_hooks h WHERE h.repo_id = ${id(repoId)}::bigint AND h.id = ${id(hookId)}::bigint`);
  return r ? hookOf(r) : null;
}

export interface NewHook {
  url: string;
  secretEncrypted: string | null;
  events: readonly HookEvent[];
  active: boolean;
  createdBy: bigint;
}

/** Null when the repository already has MAX_HOOKS_PER_REPO hooks (counted under its row lock). */
export async function createHook(db: Sql, repoId: bigint, h: NewHook): Promise<bigint | null> {
  const repo = id(repoId);
  const [r] = await query<{ id: string }>(db, sql`
    WITH repo AS (SELECT id FROM repos WHERE id = ${repo}::bigint FOR UPDATE)
    INSERT INTO repo_hooks (repo_id, url, secret_encrypted, events, active, created_by)
    SELECT repo.id, ${h.url}::text, ${h.secretEncrypted}::text, ${[...h.events]}::text[], ${h.active}::boolean, ${id(h.createdBy)}::bigint FROM repo
    WHERE (SELECT count(*) FROM repo_hooks WHERE repo_id = ${repo}::bigint) < ${MAX_HOOKS_PER_REPO}::int
    RETURNING id::text`);
  return r ? BigInt(r.id) : null;
}

/** A PATCH's changes; `secretEncrypted: null` removes the secret, undefined keeps it. */
export interface HookChanges {
  url?: string;
  secretEncrypted?: string | null;
  events?: readonly HookEvent[];
  active?: boolean;
}

export async function updateHook(db: Sql, repoId: bigint, hookId: bigint, c: HookChanges): Promise<boolean> {
  const rows = await query(db, sql`
    UPDATE repo_hooks SET
      url = COALESCE(${c.url ?? null}::text, url),
      secret_encrypted = CASE WHEN ${c.secretEncrypted !== undefined}::boolean THEN ${c.secretEncrypted ?? null}::text ELSE secret_encrypted END,
      events = COALESCE(${c.events ? [...c.events] : null}::text[], events),
      active = COALESCE(${c.active ?? null}::boolean, active),
      updated_at = clock_timestamp()
    WHERE repo_id = ${id(repoId)}::bigint AND id = ${id(hookId)}::bigint RETURNING 1`);
  return rows.length > 0;
}

/** Deletes the hook and its delivery log. */
export async function deleteHook(db: Sql, repoId: bigint, hookId: bigint): Promise<boolean> {
  const rows = await query(db, sql`DELETE FROM repo_hooks WHERE repo_id = ${id(repoId)}::bigint AND id = ${id(hookId)}::bigint RETURNING 1`);
  return rows.length > 0;
}

export interface DeliverySummary {
  id: bigint;
  guid: string;
  event: string;
  action: string;
  state: DeliveryState;
  redelivery: boolean;
  attempts: number;
  statusCode: number | null;
  durationMs: number | null;
  error: string | null;
  createdAt: Date;
  deliveredAt: Date | null;
  runId: bigint | null;
}

const DELIVERY_COLUMNS = sql.raw(`d.id::text, d.guid::text, d.event, d.action, d.state::text AS state, d.redelivery, d.attempts, d.status_code,
    d.duration_ms, d.error, d.created_at, d.delivered_at, d.run_id::text`);
type RawDelivery = { id: string; guid: string; event: string; action: string; state: DeliveryState; redelivery: boolean; attempts: number; status_code: number | null; duration_ms: number | null; error: string | null; created_at: Date; delivered_at: Date | null; run_id: string | null };
const deliveryOf = (r: RawDelivery): DeliverySummary => ({
  id: BigInt(r.id), guid: r.guid, event: r.event, action: r.action, state: r.state, redelivery: r.redelivery, attempts: r.attempts,
  statusCode: r.status_code, durationMs: r.duration_ms, error: r.error, createdAt: r.created_at, deliveredAt: r.delivered_at,
  runId: r.run_id === null ? null : BigInt(r.run_id),
});

/** Newest first; `before`: the page after the delivery with that id (cursor pagination); `state`: only those in it (the admin CLI). */
export async function listDeliveries(db: Sql, hookId: bigint, perPage: number, before: bigint | null, state?: DeliveryState): Promise<DeliverySummary[]> {
  const rows = await query<RawDelivery>(db, sql`
    SELECT ${DELIVERY_COLUMNS} FROM hook_deliveries d WHERE d.hook_id = ${id(hookId)}::bigint
      AND (${before === null ? null : id(before)}::bigint IS NULL OR d.id < ${before === null ? null : id(before)}::bigint)
      AND (${state ?? null}::text IS NULL OR d.state::text = ${state ?? null}::text)
    ORDER BY d.id DESC LIMIT ${perPage}::int`);
  return rows.map(deliveryOf);
}

export interface DeliveryDetail extends DeliverySummary {
  requestHeaders: Record<string, string> | null;
  /** What was sent; null once the event is past retention. */
  payload: string | null;
  responseHeaders: Record<string, string> | null;
  responseBody: string | null;
}

export async function getDelivery(db: Sql, hookId: bigint, deliveryId: bigint): Promise<DeliveryDetail | null> {
  const [r] = await query<RawDelivery & { request_headers: Record<string, string> | null; payload: string | null; response_headers: Record<string, string> | null; response_body: string | null }>(db, sql`
    SELECT ${DELIVERY_COLUMNS}, d.request_headers, e.payload::text AS payload, d.response_headers, d.response_body
    FROM hook_deliveries d LEFT JOIN events e ON e.id = d.event_id
    WHERE d.hook_id = ${id(hookId)}::bigint AND d.id = ${id(deliveryId)}::bigint`);
  return r ? { ...deliveryOf(r), requestHeaders: r.request_headers, payload: r.payload, responseHeaders: r.response_headers, responseBody: r.response_body } : null;
}

/** The repository's facts for the hook routes' admin check: the caller's role on it, and its owner. */
export async function repoRole(db: Sql, repoId: bigint, userId: bigint): Promise<{ ownerId: bigint; role: string | null; archived: boolean } | null> {
  const [r] = await query<{ owner_id: string; role: string | null; is_archived: boolean }>(db, sql`
    SELECT r.owner_id::text, c.role::text AS role, r.is_archived FROM repos r
    LEFT JOIN repo_collaborators c ON c.repo_id = r.id AND c.user_id = ${id(userId)}::bigint
    WHERE r.id = ${id(repoId)}::bigint`);
  return r ? { ownerId: BigInt(r.owner_id), role: r.role, archived: r.is_archived } : null;
}
