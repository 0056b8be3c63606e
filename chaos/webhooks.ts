import type { PrismaClient } from "../infra/db.ts";
import { until } from "./infra.ts";
import type { Reception } from "./receiver.ts";

// What one webhook's receiver got, held against the outbox: every dispatched job/run event
// of the repository arrives once (by X-GitHub-Delivery), a run's in event id order, and no
// delivery gives up. A guid seen again after an unanswered request is a retry; seen again
// after a 200 it is a duplicate.

export interface DeliveryTally {
  /** Dispatched workflow_job/workflow_run events of the repository written after the hook existed. */
  events: number;
  /** Of those, answered 200 by the receiver. */
  received: number;
  lost: number;
  /** Events received (answered 200) more than once, under one guid or several. */
  duplicated: number;
  /** Receptions of a run's event after one of a later event of that run. */
  outOfOrder: number;
  /** Deliveries that took more than one attempt (the outage was felt: must not be 0). */
  retried: number;
  /** The most attempts one delivery took. */
  maxAttempts: number;
  /** Requests for a guid the receiver had seen but not answered (cut by the outage). */
  receiverRetries: number;
  /** Deliveries that ended failed (refused, or out of attempts). */
  failed: number;
  /** Requests whose guid is no delivery of the hook. */
  unknown: number;
  /** Requests whose X-Hub-Signature-256 did not match. */
  badSignature: number;
}

export const DELIVERY_MUST_BE_ZERO = ["lost", "duplicated", "outOfOrder", "failed", "unknown", "badSignature"] as const;

export interface EventRow {
  id: bigint;
  /** Written after the hook was created: it must have been delivered. */
  expected: boolean;
}

export interface DeliveryRow {
  guid: string;
  eventId: bigint;
  runId: bigint | null;
  state: string;
  attempts: number;
}

export function emptyDeliveryTally(): DeliveryTally {
  return { events: 0, received: 0, lost: 0, duplicated: 0, outOfOrder: 0, retried: 0, maxAttempts: 0, receiverRetries: 0, failed: 0, unknown: 0, badSignature: 0 };
}

export function addDeliveryTally(a: DeliveryTally, b: DeliveryTally): DeliveryTally {
  const out = { ...a };
  for (const k of Object.keys(b) as (keyof DeliveryTally)[]) out[k] = k === "maxAttempts" ? Math.max(a[k], b[k]) : a[k] + b[k];
  return out;
}

/** Walks the receptions in arrival order: the first 200 of each guid, retries before it, duplicates after it. */
function replay(received: readonly Reception[], byGuid: Map<string, DeliveryRow>, t: DeliveryTally) {
  const seen = new Map<string, { count: number; accepted: boolean }>();
  const accepted: DeliveryRow[] = [];
  const duplicatedEvents = new Set<bigint>();
  for (const r of received) {
    const d = byGuid.get(r.guid);
    if (!d) {
      t.unknown++;
      continue;
    }
    if (!r.signed) t.badSignature++;
    const s = seen.get(r.guid) ?? { count: 0, accepted: false };
    seen.set(r.guid, s);
    s.count++;
    if (s.accepted) {
      duplicatedEvents.add(d.eventId);
      continue;
    }
    if (s.count > 1) t.receiverRetries++;
    if (r.answered) {
      s.accepted = true;
      accepted.push(d);
    }
  }
  return { accepted, duplicatedEvents };
}

/** Per run, the accepted receptions must come in event id order. */
function outOfOrder(accepted: readonly DeliveryRow[]): number {
  const last = new Map<string, bigint>();
  let n = 0;
  for (const d of accepted) {
    const run = String(d.runId);
    const prev = last.get(run);
    if (prev !== undefined && d.eventId < prev) n++;
    else last.set(run, d.eventId);
  }
  return n;
}

export function reconcileDeliveries(events: readonly EventRow[], deliveries: readonly DeliveryRow[], received: readonly Reception[]): DeliveryTally {
  const t = emptyDeliveryTally();
  const byGuid = new Map(deliveries.map((d) => [d.guid, d]));
  const { accepted, duplicatedEvents } = replay(received, byGuid, t);
  const acceptedGuids = new Map<bigint, number>();
  for (const d of accepted) acceptedGuids.set(d.eventId, (acceptedGuids.get(d.eventId) ?? 0) + 1);
  for (const [id, n] of acceptedGuids) if (n > 1) duplicatedEvents.add(id);
  for (const e of events.filter((x) => x.expected)) {
    t.events++;
    if (acceptedGuids.has(e.id)) t.received++;
    else t.lost++;
  }
  t.duplicated = duplicatedEvents.size;
  t.outOfOrder = outOfOrder(accepted);
  t.retried = deliveries.filter((d) => d.attempts > 1).length;
  t.maxAttempts = Math.max(0, ...deliveries.map((d) => d.attempts));
  t.failed = deliveries.filter((d) => d.state === "failed").length;
  return t;
}

export interface HookUnderTest {
  repoId: bigint;
  hookId: bigint;
  /** Events written after this were written after the hook was committed. */
  cut: Date;
}

const UNFINISHED = ["waiting", "queued", "retrying"];

export async function loadEvents(prisma: PrismaClient, h: HookUnderTest): Promise<{ events: EventRow[]; undispatched: number }> {
  const rows = await prisma.$queryRaw<{ id: bigint | null; expected: boolean }[]>`
    SELECT id, created_at > ${h.cut} AS expected FROM events
    WHERE repo_id = ${h.repoId} AND type::text IN ('workflow_job', 'workflow_run')`;
  const undispatched = rows.filter((r) => r.id === null && r.expected).length;
  return { events: rows.flatMap((r) => (r.id === null ? [] : [{ id: r.id, expected: r.expected }])), undispatched };
}

export async function loadDeliveries(prisma: PrismaClient, h: HookUnderTest): Promise<DeliveryRow[]> {
  const rows = await prisma.$queryRaw<{ guid: string; event_id: bigint; run_id: bigint | null; state: string; attempts: number }[]>`
    SELECT guid::text AS guid, event_id, run_id, state::text AS state, attempts FROM hook_deliveries WHERE hook_id = ${h.hookId} AND NOT redelivery`;
  return rows.map((r) => ({ guid: r.guid, eventId: r.event_id, runId: r.run_id, state: r.state, attempts: r.attempts }));
}

/** Waits until every event is dispatched and every delivery has ended; what has not by the deadline is counted, not thrown. */
export async function waitDeliveriesSettled(prisma: PrismaClient, h: HookUnderTest, timeoutMs: number): Promise<number> {
  const open = async () => {
    const { undispatched } = await loadEvents(prisma, h);
    const unfinished = (await loadDeliveries(prisma, h)).filter((d) => UNFINISHED.includes(d.state)).length;
    return undispatched + unfinished;
  };
  await until("every event dispatched and every delivery ended", async () => (await open()) === 0, timeoutMs, 250).catch(() => {});
  return open();
}
