import type pg from "pg";
import type { Logger } from "../../infra/logger.ts";
import { poolSql, sqlTx } from "../../infra/sql.ts";
import { PayloadReader } from "../../domain/data/event-payloads.ts";
import { markDispatched, nextEventIds, pendingEvents, pruneEvents, tryDispatchLock, type Dispatched, type PendingEvent } from "../../domain/data/outbox.ts";
import { createDeliveries, idleDeliveries, pruneDeliveries } from "../../domain/data/deliveries.ts";
import { orderBatch } from "../../domain/events/order.ts";

// The outbox's dispatcher (docs/events.md, "Outbox"): every worker runs one; one at a time
// dispatches (an advisory lock). A pass takes the oldest undispatched events, gives each
// its id, payload and deliveries in one transaction, then after commit queues the
// deliveries that may go now and announces the new events to the API's streams. A crash
// before the commit leaves the events undispatched for the next pass; one after it leaves
// deliveries that the sweep below puts back in the queue.

export interface DispatcherDeps {
  pool: pg.Pool;
  log: Logger;
  /** PUBLIC_URL: the origin the payloads' URLs point at. */
  origin: string;
  enqueue: (deliveryIds: readonly bigint[]) => Promise<void>;
  /** Tells the streams that events up to this id are dispatched (a hint; they read Postgres). */
  announce: (lastId: bigint) => Promise<unknown>;
  pollMs: number;
  retentionMs: number;
  batch?: number;
  /** Called after each pass with how many events it dispatched and how long it took. */
  onPass?: (events: number, seconds: number) => void;
}

export interface Dispatcher {
  /** Look now instead of at the next poll. */
  kick(): void;
  close(): Promise<void>;
}

const SWEEP_EVERY_MS = 2_500;
const PRUNE_EVERY_MS = 60_000;
/** A delivery that should be queued and has not moved for this long is queued again (a no-op if it is there). */
const IDLE_DELIVERY_MS = 5_000;

export function startDispatcher(deps: DispatcherDeps): Dispatcher {
  let closed = false;
  let wake: (() => void) | null = null;
  let failing = false;
  const timers = { sweep: 0, prune: 0 };
  const loop = (async () => {
    while (!closed) {
      let n = 0;
      try {
        n = await dispatchPass(deps);
        await housekeeping(deps, timers);
        if (failing) deps.log.info("event dispatch recovered");
        failing = false;
      } catch (e) {
        if (!failing) deps.log.warn({ err: (e as Error).message }, "event dispatch failed; retrying");
        failing = true;
      }
      if (n === 0 && !closed) {
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, failing ? Math.max(deps.pollMs, 1_000) : deps.pollMs);
          wake = () => { clearTimeout(t); resolve(); };
        });
        wake = null;
      }
    }
  })();
  return {
    kick: () => wake?.(),
    close: async () => {
      closed = true;
      wake?.();
      await loop;
    },
  };
}

/** One pass; the number of events it dispatched (0: nothing to do, or another worker holds the lock). */
export async function dispatchPass(deps: Pick<DispatcherDeps, "pool" | "log" | "origin" | "enqueue" | "announce" | "batch" | "onPass">): Promise<number> {
  const started = performance.now();
  const out = await sqlTx(deps.pool, async (db) => {
    if (!(await tryDispatchLock(db))) return null;
    const pending = orderBatch(await pendingEvents(db, deps.batch ?? 200));
    if (pending.length === 0) return null;
    const ids = await nextEventIds(db, pending.length);
    const reader = await PayloadReader.forBatch(db, deps.origin, pending);
    const dispatched: Dispatched[] = pending.map((e, i) => ({ seq: e.seq, id: ids[i]!, payload: payloadOf(reader, e, deps.log) }));
    await markDispatched(db, dispatched, new Date());
    const sendable = pending.map((e, i) => ({ ...e, id: ids[i]! })).filter((_, i) => dispatched[i]!.payload !== null);
    const deliveries = await createDeliveries(db, sendable);
    return { count: pending.length, lastId: ids[ids.length - 1]!, deliveries };
  });
  if (!out) return 0;
  deps.onPass?.(out.count, (performance.now() - started) / 1000);
  // Committed: a lost enqueue is found by the sweep, a lost announcement by the streams' own poll.
  await deps.enqueue(out.deliveries).catch((e: unknown) => deps.log.warn({ err: (e as Error).message, deliveries: out.deliveries.length }, "could not queue webhook deliveries; the sweep will"));
  await deps.announce(out.lastId).catch(() => undefined);
  return out.count;
}

// A payload that cannot be built (a row that breaks a rule the builders check) must not
// stop every later event: it is dispatched without one, and said so.
function payloadOf(reader: PayloadReader, e: PendingEvent, log: Logger): string | null {
  try {
    return reader.payload(e);
  } catch (err) {
    log.error({ err: (err as Error).message, event_seq: e.seq.toString(), type: e.type, action: e.action }, "event payload could not be built; not delivered");
    return null;
  }
}

async function housekeeping(deps: DispatcherDeps, last: { sweep: number; prune: number }): Promise<void> {
  const now = Date.now();
  if (now - last.sweep >= SWEEP_EVERY_MS) {
    last.sweep = now;
    const idle = await idleDeliveries(poolSql(deps.pool), IDLE_DELIVERY_MS, 500);
    if (idle.length > 0) await deps.enqueue(idle);
  }
  if (now - last.prune >= PRUNE_EVERY_MS) {
    last.prune = now;
    const before = new Date(now - deps.retentionMs);
    const events = await pruneEvents(poolSql(deps.pool), before, 5_000);
    const deliveries = await pruneDeliveries(poolSql(deps.pool), before, 5_000);
    if (events + deliveries > 0) deps.log.info({ events, deliveries }, "pruned dispatched events and finished deliveries past retention");
  }
}
