import type { PrismaClient } from "../infra/db.ts";
import { prismaSql } from "../infra/sql.ts";
import { num } from "../domain/ids.ts";
import { getHook, listDeliveries, listHooks, type DeliverySummary, type Hook } from "../domain/data/hooks.ts";
import type { DeliveryState } from "../domain/data/deliveries.ts";
import { AdminError, repoByFullName } from "./ops.ts";

// `admin hook list` and `admin hook deliveries`: a repository's webhooks and their delivery
// log as an operator sees them, read with the same data functions as the hooks API. A
// hook's secret never leaves the database: only whether it has one.

export const DELIVERY_STATES = ["delivered", "failed", "retrying", "queued", "waiting"] as const satisfies readonly DeliveryState[];
export const DEFAULT_DELIVERY_LIMIT = 30;
/** The API's per_page ceiling: a longer log is for SQL, not a terminal. */
export const MAX_DELIVERY_LIMIT = 100;

export interface HookRow {
  id: number;
  url: string;
  events: string[];
  active: boolean;
  has_secret: boolean;
  last_delivery: { state: DeliveryState; status_code: number | null; error: string | null } | null;
}

export interface DeliveryRow {
  id: number;
  guid: string;
  event: string;
  action: string;
  state: DeliveryState;
  attempts: number;
  status_code: number | null;
  error: string | null;
  duration_ms: number | null;
  created_at: string;
}

const hookRow = (h: Hook): HookRow => ({
  id: num(h.id), url: h.url, events: [...h.events], active: h.active, has_secret: h.hasSecret,
  last_delivery: h.last === null ? null : { state: h.last.state, status_code: h.last.statusCode, error: h.last.error },
});

const deliveryRow = (d: DeliverySummary): DeliveryRow => ({
  id: num(d.id), guid: d.guid, event: d.event, action: d.action, state: d.state, attempts: d.attempts,
  status_code: d.statusCode, error: d.error, duration_ms: d.durationMs, created_at: d.createdAt.toISOString(),
});

export async function listRepoHooks(prisma: PrismaClient, repo: string): Promise<{ repo: string; hooks: HookRow[] }> {
  const r = await repoByFullName(prisma, repo);
  return { repo: r.fullName, hooks: (await listHooks(prismaSql(prisma), r.id)).map(hookRow) };
}

function deliveryState(s: string | undefined): DeliveryState | undefined {
  if (s === undefined || (DELIVERY_STATES as readonly string[]).includes(s)) return s as DeliveryState | undefined;
  throw new AdminError(`--state must be one of ${DELIVERY_STATES.join(", ")}, got "${s}"`);
}

export async function listHookDeliveries(
  prisma: PrismaClient,
  a: { repo: string; hook: bigint; limit?: number; state?: string },
): Promise<{ repo: string; hook: number; deliveries: DeliveryRow[] }> {
  const limit = a.limit ?? DEFAULT_DELIVERY_LIMIT;
  if (limit < 1 || limit > MAX_DELIVERY_LIMIT) throw new AdminError(`--limit must be 1 to ${MAX_DELIVERY_LIMIT}, got ${limit}`);
  const state = deliveryState(a.state);
  const r = await repoByFullName(prisma, a.repo);
  const db = prismaSql(prisma);
  // Bound to the repository: another repository's hook id is "no hook" here too.
  if ((await getHook(db, r.id, a.hook)) === null) throw new AdminError(`no hook ${a.hook} on ${r.fullName}`);
  const rows = await listDeliveries(db, a.hook, limit, null, state);
  return { repo: r.fullName, hook: num(a.hook), deliveries: rows.map(deliveryRow) };
}

function lastOf(l: HookRow["last_delivery"]): string {
  if (l === null) return "no deliveries yet";
  return `last ${l.state}${l.status_code === null ? "" : ` ${l.status_code}`}${l.error === null ? "" : ` (${l.error})`}`;
}

/** One line per hook; the human form, not a contract. */
export function sayHooks(r: { repo: string; hooks: HookRow[] }): string {
  if (r.hooks.length === 0) return `no hooks on ${r.repo}`;
  return r.hooks.map((h) =>
    `hook ${h.id} ${h.url} [${h.events.join(",")}] ${h.active ? "active" : "inactive"}, ${h.has_secret ? "secret" : "no secret"}; ${lastOf(h.last_delivery)}`,
  ).join("\n");
}

export function sayDeliveries(r: { repo: string; hook: number; deliveries: DeliveryRow[] }): string {
  if (r.deliveries.length === 0) return `no deliveries for hook ${r.hook} on ${r.repo}`;
  return r.deliveries.map((d) => [
    `delivery ${d.id} ${d.guid} ${d.event}.${d.action} ${d.state}`,
    `attempts ${d.attempts}`,
    d.status_code === null ? "no status" : `status ${d.status_code}`,
    d.duration_ms === null ? null : `${d.duration_ms}ms`,
    d.created_at,
    d.error === null ? null : `error: ${d.error}`,
  ].filter((x) => x !== null).join(" ")).join("\n");
}
