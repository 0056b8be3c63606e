import type { Redis } from "../../infra/redis.ts";
import type { Logger } from "../../infra/logger.ts";
import type { Sql } from "../../infra/sql.ts";
import { readEventsAfter, readLastEventId, type EventFilter, type StreamEvent } from "../../domain/data/events.ts";
import { assertNever } from "../../infra/assert.ts";

// One hub per API process (docs/event-streams.md): one Redis subscription and one reader of
// the outbox for every open stream, instead of one of each per client. What Redis says is a
// hint that something was dispatched, never data: the events always come from Postgres, and
// a timer reads too, so a lost hint or a Redis that is away delays an event by at most
// pollMs and never loses it.

export interface HubDeps {
  sql: Sql;
  log: Logger;
  /** A connection of the hub's own for the dispatcher's hints (subscribe mode); none: the hub polls only. Not closed by the hub. */
  redis?: Redis | null;
  /** `${QUEUE_PREFIX}:events`: the dispatcher publishes the highest id it dispatched there. */
  channel: string;
  /** The fallback read, when no hint came (1 s when unset). */
  pollMs?: number;
  /** Rows per read; a read that fills it is followed by another at once (500 when unset). */
  batch?: number;
}

export type HubEnd = "shutdown";

/** A subscription not made by then is reported (Redis away at start, or refusing it). */
const SUBSCRIBE_WARN_MS = 5_000;

/** What a stream gets from the hub: its events in id order, then perhaps an end. */
export interface HubListener {
  filter: EventFilter;
  deliver(events: readonly StreamEvent[]): void;
  end(why: HubEnd): void;
}

export interface Subscription {
  /** Every event with an id up to this one was read before the subscription existed: a new client's backlog ends here, its live events start after it. */
  readonly from: bigint;
  close(): void;
}

export const filterKey = (f: EventFilter): string => {
  switch (f.kind) {
    case "run":
      return `run:${f.runId}`;
    case "repo":
      return `repo:${f.repoId}`;
    default:
      return assertNever(f, "event filter");
  }
};

/** The listeners' keys an event matches: its run's stream and its repository's. */
const keysOf = (e: StreamEvent): string[] => (e.runId === null ? [`repo:${e.repoId}`] : [`run:${e.runId}`, `repo:${e.repoId}`]);

/** Events grouped by the listeners they go to, each list in id order (pure). */
export function route(events: readonly StreamEvent[], listeners: ReadonlyMap<string, ReadonlySet<HubListener>>): Map<HubListener, StreamEvent[]> {
  const out = new Map<HubListener, StreamEvent[]>();
  for (const e of events) {
    for (const key of keysOf(e)) {
      for (const l of listeners.get(key) ?? []) {
        const list = out.get(l);
        if (list) list.push(e);
        else out.set(l, [e]);
      }
    }
  }
  return out;
}

/** A hint is the highest id dispatched, as decimal text; anything else only says "read now". */
export const hintedId = (message: string): bigint | null => (/^\d{1,19}$/.test(message) ? BigInt(message) : null);

export class EventHub {
  private last: bigint;
  private readonly listeners = new Map<string, Set<HubListener>>();
  private pumping = false;
  private again = false;
  private failing = false;
  private stopped = false;
  private subscribed = false;
  private warned = false;
  private unheard: NodeJS.Timeout | undefined;
  private readonly timer: NodeJS.Timeout;
  private readonly onMessage = (channel: string, message: string) => {
    if (channel !== this.deps.channel) return;
    const id = hintedId(message);
    // A claim only: one at or below what was read already changes nothing; a false one costs one read.
    if (id === null || id > this.last) this.poke();
  };

  private constructor(private readonly deps: HubDeps, start: bigint) {
    this.last = start;
    this.timer = setInterval(() => this.poke(), deps.pollMs ?? 1_000);
    this.timer.unref();
  }

  /** A hub that starts at the events dispatched now (older ones are every client's backlog). */
  static async start(deps: HubDeps): Promise<EventHub> {
    const hub = new EventHub(deps, await readLastEventId(deps.sql));
    hub.listen();
    return hub;
  }

  private listen(): void {
    const redis = this.deps.redis;
    if (!redis) return;
    redis.on("message", this.onMessage);
    // ioredis (5.11) can lose a SUBSCRIBE written during its handshake (status "connect"):
    // the server never sees it and nothing fails. So it goes out once the connection is
    // ready; ioredis subscribes again by itself on every reconnect. Not awaited: a Redis
    // that is away must not hold the API.
    if (redis.status === "ready" || redis.status === "end") this.subscribeHints();
    else redis.once("ready", this.subscribeHints);
    this.unheard = setTimeout(() => {
      if (!this.subscribed) this.warnRedis(`not subscribed after ${SUBSCRIBE_WARN_MS} ms`);
    }, SUBSCRIBE_WARN_MS);
    this.unheard.unref();
  }

  private readonly subscribeHints = () => {
    this.deps.redis!.subscribe(this.deps.channel).then(
      () => (this.subscribed = true),
      (e: unknown) => this.warnRedis((e as Error).message),
    );
  };

  /** One line, however often it fails: the timer reads on regardless. */
  private warnRedis(err: string): void {
    if (this.warned) return;
    this.warned = true;
    this.deps.log.warn({ err, channel: this.deps.channel }, "event hub: the Redis subscription failed; events are read from Postgres every poll interval only");
  }

  /** The highest event id read and handed out. */
  get position(): bigint {
    return this.last;
  }

  /** Open streams. */
  get size(): number {
    let n = 0;
    for (const set of this.listeners.values()) n += set.size;
    return n;
  }

  get isStopped(): boolean {
    return this.stopped;
  }

  /**
   * Registers a stream. Synchronous, and so is the hand-out of a read: every event up to
   * `from` went out before this listener existed, every later one comes to it.
   */
  subscribe(l: HubListener): Subscription {
    if (this.stopped) throw new Error("event hub stopped");
    const key = filterKey(l.filter);
    let set = this.listeners.get(key);
    if (!set) this.listeners.set(key, (set = new Set()));
    set.add(l);
    return {
      from: this.last,
      close: () => {
        const s = this.listeners.get(key);
        if (!s?.delete(l)) return;
        if (s.size === 0) this.listeners.delete(key);
      },
    };
  }

  /** Reads now (a hint, or the timer); reads that overlap become one more read after the current one. */
  poke(): void {
    if (this.stopped) return;
    if (this.pumping) {
      this.again = true;
      return;
    }
    void this.pump();
  }

  private async pump(): Promise<void> {
    this.pumping = true;
    try {
      do {
        this.again = false;
        while (await this.readOnce());
      } while (this.again && !this.stopped);
      if (this.failing) this.deps.log.info("event hub: reading events again");
      this.failing = false;
    } catch (e) {
      // Once per outage, not once per poll; the timer retries.
      if (!this.failing) this.deps.log.warn({ err: (e as Error).message }, "event hub: reading events failed; retrying every poll interval");
      this.failing = true;
    } finally {
      this.pumping = false;
    }
  }

  /** One read and its hand-out; true when the read was full (more may be waiting). */
  private async readOnce(): Promise<boolean> {
    const batch = this.deps.batch ?? 500;
    const events = await readEventsAfter(this.deps.sql, this.last, batch);
    if (this.stopped || events.length === 0) return false;
    // The position moves and the events go out in the same synchronous step (see subscribe).
    this.last = events[events.length - 1]!.id;
    for (const [l, list] of route(events, this.listeners)) {
      try {
        l.deliver(list);
      } catch (e) {
        this.deps.log.error({ err: (e as Error).message }, "event hub: a stream failed to take its events");
      }
    }
    return events.length === batch;
  }

  /** Stops reading and ends every open stream (they can resume elsewhere with Last-Event-ID). */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    clearInterval(this.timer);
    clearTimeout(this.unheard);
    this.deps.redis?.off("message", this.onMessage);
    this.deps.redis?.off("ready", this.subscribeHints);
    const all = [...this.listeners.values()].flatMap((s) => [...s]);
    this.listeners.clear();
    for (const l of all) l.end("shutdown");
  }
}
