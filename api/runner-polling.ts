import type { Logger } from "../infra/logger.ts";
import type { Sql } from "../infra/sql.ts";
import { probeClaimable } from "../domain/data/heartbeat.ts";
import { runnerSeenKey } from "../domain/runner-seen.ts";

// Long-polling heartbeats (docs/scaling.md, "Runner long-polling"). One hub per API process:
// one subscription to the outbox dispatcher's hint (`${QUEUE_PREFIX}:events`, published when
// events were dispatched: a job created, a job ended — what queues or unblocks a job), and
// on each hint one probe per label set that someone waits with, not one per waiter. A probe
// that finds a job wakes one waiter of that set; the woken one claims and kicks again, so a
// job is not claimed for by twenty runners at once. A hint is only a hint: a lost one costs
// a waiter at most its wait, after which its runner beats again.

/** What the hub needs of a Redis connection in subscriber mode (ioredis). */
export interface HintSubscriber {
  status: string;
  on(event: "message", f: (channel: string, message: string) => void): unknown;
  once(event: "ready", f: () => void): unknown;
  subscribe(channel: string): Promise<unknown>;
  off(event: "message", f: (channel: string, message: string) => void): unknown;
}

/** What RUNNER_SEEN_WRITE_MS needs of a Redis command connection (the api's producer). */
export interface SeenStore {
  set(key: string, value: string, px: "PX", ms: number): Promise<unknown>;
}

export type WaitEnd = "woken" | "timeout" | "aborted";

interface Waiter {
  wake(end: WaitEnd): void;
}

interface Group {
  labels: readonly string[];
  waiters: Set<Waiter>;
}

export interface WaitersDeps {
  sql: Sql;
  log: Logger;
  subscriber: HintSubscriber | null;
  channel: string;
}

export class RunnerWaiters {
  private readonly groups = new Map<string, Group>();
  private kicking = false;
  private again = false;
  /** Set by close(): a heartbeat that arrives on a kept-alive connection during shutdown must not be held. */
  private closed = false;
  private readonly onMessage = (channel: string) => {
    if (channel === this.deps.channel) this.kick();
  };

  constructor(private readonly deps: WaitersDeps) {
    const s = deps.subscriber;
    if (!s) return;
    s.on("message", this.onMessage);
    // As the event hub does: a SUBSCRIBE written before the connection is ready can be lost.
    const sub = () => void s.subscribe(deps.channel).catch((e: unknown) => deps.log.warn({ err: (e as Error).message }, "runner wake-ups not subscribed; long polls end at their wait"));
    if (s.status === "ready") sub();
    else s.once("ready", sub);
  }

  /** Runners waiting now, all label sets together. */
  get size(): number {
    let n = 0;
    for (const g of this.groups.values()) n += g.waiters.size;
    return n;
  }

  /** Waits until a job these labels could take is probably there, `ms` passes, or `signal` aborts. */
  wait(labels: readonly string[], ms: number, signal: AbortSignal): Promise<WaitEnd> {
    if (this.closed) return Promise.resolve("aborted");
    const key = [...labels].sort().join(",");
    let g = this.groups.get(key);
    if (!g) this.groups.set(key, (g = { labels, waiters: new Set() }));
    const group = g;
    return new Promise<WaitEnd>((resolve) => {
      const w: Waiter = {
        wake: (end) => {
          clearTimeout(timer);
          signal.removeEventListener("abort", onAbort);
          group.waiters.delete(w);
          if (group.waiters.size === 0 && this.groups.get(key) === group) this.groups.delete(key);
          resolve(end);
        },
      };
      const onAbort = () => w.wake("aborted");
      const timer = setTimeout(() => w.wake("timeout"), ms);
      group.waiters.add(w);
      if (signal.aborted) onAbort();
      else signal.addEventListener("abort", onAbort);
    });
  }

  /** Probes each waiting label set once and wakes one waiter of each that has a job; coalesced. */
  kick(): void {
    if (this.kicking) {
      this.again = true;
      return;
    }
    this.kicking = true;
    void this.probeAll().finally(() => {
      this.kicking = false;
      if (this.again) {
        this.again = false;
        this.kick();
      }
    });
  }

  private async probeAll(): Promise<void> {
    for (const g of [...this.groups.values()]) {
      if (g.waiters.size === 0) continue;
      try {
        if (!(await probeClaimable(this.deps.sql, g.labels))) continue;
      } catch (e) {
        this.deps.log.warn({ err: (e as Error).message }, "runner wake-up probe failed; waiters end at their wait");
        return;
      }
      const first = g.waiters.values().next();
      if (!first.done) first.value.wake("woken");
    }
  }

  close(): void {
    this.closed = true;
    this.deps.subscriber?.off("message", this.onMessage);
    for (const g of [...this.groups.values()]) for (const w of [...g.waiters]) w.wake("aborted");
  }
}

export interface RunnerPolling {
  /** Records a heartbeat in Redis (TTL: the heartbeat window); false when Redis did not take it. */
  seen(runnerId: bigint, nowMs: number): Promise<boolean>;
  /** RUNNER_SEEN_WRITE_MS: the runner row is written at most this often by idle heartbeats. */
  seenWriteMs: number;
  waiters: RunnerWaiters | null;
}

export function runnerPolling(o: { store: SeenStore | null; prefix: string; seenWriteMs: number; heartbeatWindowMs: number; waiters: RunnerWaiters | null; log: Logger }): RunnerPolling {
  return {
    seenWriteMs: o.store ? o.seenWriteMs : 0,
    waiters: o.waiters,
    async seen(runnerId, nowMs) {
      if (!o.store) return false;
      try {
        await o.store.set(runnerSeenKey(o.prefix, runnerId), String(nowMs), "PX", o.heartbeatWindowMs);
        return true;
      } catch (e) {
        o.log.warn({ err: (e as Error).message, runner_id: Number(runnerId) }, "runner last-seen not kept in Redis; written to Postgres");
        return false;
      }
    },
  };
}
