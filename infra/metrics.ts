import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from "prom-client";
import type { Queue } from "bullmq";
import { INTENT_NAMES, type IntentName, type IntentResult } from "../domain/contracts.ts";
import type { ReapDecision } from "../domain/lifecycle/reap.ts";
import type { PrismaClient } from "./db.ts";
import { withTimeout } from "./timeout.ts";
import { countUnrunnable } from "../domain/data/waiting.ts";

// Prometheus metrics shared by the processes. Every process builds one Registry of its
// own (never prom-client's global one), so tests can run several in one process and
// nothing registers twice. Names: `actions_` prefix, base units (`_seconds`), counters
// end in `_total`. Label values come from closed sets (intent names, error codes, route
// templates, statuses), never from ids or raw URLs.

/** One registry per process, with the default process and Node.js metrics in it. */
export function createRegistry(opts: { defaultMetrics?: boolean } = {}): Registry {
  const registry = new Registry();
  if (opts.defaultMetrics ?? true) collectDefaultMetrics({ register: registry });
  return registry;
}

/** The text a scrape gets, and its content type. */
export async function exposition(registry: Registry): Promise<{ contentType: string; body: string }> {
  return { contentType: registry.contentType, body: await registry.metrics() };
}


/**
 * Several gauges read one snapshot per scrape: prom-client calls every metric's collect
 * at once, so the first call starts the read and the others join it.
 */
export function singleFlight<T>(fn: () => Promise<T>): () => Promise<T> {
  let inFlight: Promise<T> | null = null;
  return () => {
    inFlight ??= fn().finally(() => {
      inFlight = null;
    });
    return inFlight;
  };
}

const readers = new WeakMap<Registry, Array<() => Promise<unknown>>>();

/**
 * Registers a scrape-time read under `actions_metrics_collector_up{collector}`: 1 when
 * this scrape's read succeeded, 0 when it failed or timed out. `read` must never throw:
 * it reports failure through `up`.
 */
export function scrapeCollector<T>(registry: Registry, collector: string, read: (up: (ok: boolean) => void) => Promise<T>): () => Promise<T> {
  let gauge = registry.getSingleMetric("actions_metrics_collector_up") as Gauge<"collector"> | undefined;
  if (!gauge) {
    gauge = new Gauge({
      name: "actions_metrics_collector_up",
      help: "Whether this scrape's read of a collector (queue, runners) succeeded (1) or failed or timed out (0).",
      labelNames: ["collector"],
      registers: [registry],
      async collect() {
        // Waits for this scrape's reads (they are shared with the gauges that use them).
        await Promise.all((readers.get(registry) ?? []).map((r) => r()));
      },
    });
  }
  const g = gauge;
  const shared = singleFlight(() => read((ok) => g.set({ collector }, ok ? 1 : 0)));
  readers.set(registry, [...(readers.get(registry) ?? []), shared]);
  return shared;
}

// ---------------------------------------------------------------------------------------
// Queue depth, read from BullMQ on each scrape (API and worker).

export interface QueueSnapshot {
  waiting: number;
  active: number;
  delayed: number;
  oldestWaitingSeconds: number;
}

export async function readQueue(queue: Queue, now = Date.now()): Promise<QueueSnapshot> {
  const [counts, oldest] = await Promise.all([
    queue.getJobCounts("waiting", "prioritized", "active", "delayed"),
    queue.getWaiting(0, 0),
  ]);
  const first = oldest[0];
  return {
    waiting: (counts.waiting ?? 0) + (counts.prioritized ?? 0),
    active: counts.active ?? 0,
    delayed: counts.delayed ?? 0,
    oldestWaitingSeconds: first ? Math.max(0, (now - first.timestamp) / 1000) : 0,
  };
}

/** The queue shards (domain/queue-shards.ts) as one queue: counts summed, the oldest of their oldest. */
async function readQueues(queues: readonly Queue[]): Promise<QueueSnapshot> {
  const all = await Promise.all(queues.map((q) => readQueue(q)));
  const sum = (k: keyof QueueSnapshot) => all.reduce((n, s) => n + s[k], 0);
  return { waiting: sum("waiting"), active: sum("active"), delayed: sum("delayed"), oldestWaitingSeconds: Math.max(0, ...all.map((s) => s.oldestWaitingSeconds)) };
}

/**
 * Gauges over the lifecycle-intent queue. A scrape never hangs on Redis: the read is
 * bounded by `timeoutMs`; when it fails the gauges read NaN (unknown, not zero) and
 * `actions_metrics_collector_up{collector="queue"}` reads 0.
 */
export function registerQueueMetrics(registry: Registry, queue: Queue | readonly Queue[], opts: { timeoutMs?: number } = {}): void {
  const timeoutMs = opts.timeoutMs ?? 1000;
  const read = scrapeCollector(registry, "queue", async (up): Promise<QueueSnapshot> => {
    try {
      const s = await withTimeout(readQueues(Array.isArray(queue) ? queue : [queue as Queue]), timeoutMs, "redis");
      up(true);
      return s;
    } catch {
      up(false);
      return { waiting: NaN, active: NaN, delayed: NaN, oldestWaitingSeconds: NaN };
    }
  });
  const gauge = (name: string, help: string, pick: (s: QueueSnapshot) => number) =>
    new Gauge({
      name,
      help,
      registers: [registry],
      async collect() {
        this.set(pick(await read()));
      },
    });
  gauge("actions_queue_waiting_intents", "Lifecycle intents accepted and waiting for a worker (BullMQ waiting + prioritized).", (s) => s.waiting);
  gauge("actions_queue_active_intents", "Lifecycle intents a worker is applying right now.", (s) => s.active);
  gauge("actions_queue_delayed_intents", "Lifecycle intents waiting for a retry after a transient failure (backoff).", (s) => s.delayed);
  gauge("actions_queue_oldest_waiting_seconds", "Age of the oldest waiting lifecycle intent (0 when none waits).", (s) => s.oldestWaitingSeconds);
}

// ---------------------------------------------------------------------------------------
// Worker tier.

export type ReapReason = Extract<ReapDecision, { outcome: "end" }>["reason"];
export const REAP_REASONS = ["runner_lost", "timed_out", "cancel_unanswered"] as const satisfies readonly ReapReason[];

/** `applied`, the intent error code, or `error` when the attempt threw (it may be retried). */
export type IntentResultLabel = "applied" | Exclude<IntentResult, { ok: true }>["error"] | "error";

export interface WorkerMetrics {
  registry: Registry;
  intentDuration: Histogram<"kind" | "result">;
  reaperEnded: Counter<"reason">;
  intentsRejected: Counter<"reason">;
  /** Records one processed intent attempt. */
  observeIntent(kind: string, result: IntentResultLabel, seconds: number): void;
}

/** Why a worker dropped a queue job without applying it (worker/worker.ts). */
export const REJECT_REASONS = ["malformed", "unknown_intent", "unsigned", "bad_signature", "expired"] as const;
export type RejectReason = (typeof REJECT_REASONS)[number];

export const INTENT_DURATION_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** An intent name from the queue, or `other` (job names are not trusted to be bounded). */
export function intentKindLabel(name: string): IntentName | "other" {
  return (INTENT_NAMES as readonly string[]).includes(name) ? (name as IntentName) : "other";
}

export function resultLabel(result: IntentResult): IntentResultLabel {
  return result.ok ? "applied" : result.error;
}

export function createWorkerMetrics(registry: Registry = createRegistry()): WorkerMetrics {
  const intentDuration = new Histogram({
    name: "actions_worker_intent_duration_seconds",
    help: "Time a worker spent on one intent attempt, by intent kind and result (applied, an intent error code, or error when the attempt threw and may be retried).",
    labelNames: ["kind", "result"],
    buckets: INTENT_DURATION_BUCKETS,
    registers: [registry],
  });
  const reaperEnded = new Counter({
    name: "actions_reaper_ended_jobs_total",
    help: "Running jobs the server-side reaper ended, by reason (runner_lost, timed_out, cancel_unanswered).",
    labelNames: ["reason"],
    registers: [registry],
  });
  // Every reason shows from the first scrape, so rate() sees the first increment.
  for (const reason of REAP_REASONS) reaperEnded.inc({ reason }, 0);
  const intentsRejected = new Counter({
    name: "actions_intents_rejected_total",
    help: "Queue jobs a worker refused to apply, by reason: malformed, unknown_intent, unsigned, bad_signature, expired (older than INTENT_MAX_AGE_MS, 23 h 50 min, or from a clock far ahead). Anything but zero means someone wrote to the intent queue who should not, or api and worker disagree on INTENT_SIGNING_KEY.",
    labelNames: ["reason"],
    registers: [registry],
  });
  for (const reason of REJECT_REASONS) intentsRejected.inc({ reason }, 0);
  return {
    registry,
    intentDuration,
    reaperEnded,
    intentsRejected,
    observeIntent(kind, result, seconds) {
      intentDuration.observe({ kind: intentKindLabel(kind), result }, seconds);
    },
  };
}

// ---------------------------------------------------------------------------------------
// Runners, read from Postgres on each scrape (API).

export const RUNNER_STATUSES = ["idle", "active", "draining", "offline", "revoked"] as const;
export type RunnerStatusLabel = (typeof RUNNER_STATUSES)[number];

export interface RunnerSnapshot {
  status: RunnerStatusLabel;
  count: number;
  /** Seconds since the least recent heartbeat in this group; null when none heartbeated. */
  oldestHeartbeatAgeSeconds: number | null;
}

/**
 * Runners grouped by what an operator cares about: `revoked`, then `offline` (no
 * heartbeat within the window, or never), then `draining`, else the stored `idle` /
 * `active`. Ages use this process's clock, like the heartbeats it records.
 */
export async function readRunners(prisma: PrismaClient, heartbeatWindowMs: number, now = new Date()): Promise<RunnerSnapshot[]> {
  const staleBefore = new Date(now.getTime() - heartbeatWindowMs);
  const rows = await prisma.$queryRaw<{ status: string; n: number; oldest: number | null }[]>`
    SELECT s.status, count(*)::int AS n,
           max(extract(epoch FROM (${now}::timestamptz - s.last_heartbeat_at)))::float8 AS oldest
    FROM (
      SELECT last_heartbeat_at,
             CASE WHEN revoked_at IS NOT NULL THEN 'revoked'
                  WHEN last_heartbeat_at IS NULL OR last_heartbeat_at < ${staleBefore}::timestamptz THEN 'offline'
                  WHEN draining_at IS NOT NULL THEN 'draining'
                  WHEN status = 'active' THEN 'active'
                  ELSE 'idle' END AS status
      FROM runners) s
    GROUP BY s.status`;
  return RUNNER_STATUSES.map((status) => {
    const row = rows.find((r) => r.status === status);
    return { status, count: row?.n ?? 0, oldestHeartbeatAgeSeconds: row?.oldest == null ? null : Math.max(0, row.oldest) };
  });
}

/**
 * `actions_runners{status}` and `actions_runner_oldest_heartbeat_age_seconds{status}`:
 * one series per status, never one per runner (bounded cardinality, and no runner names
 * on an endpoint that may be reachable from outside). Bounded by `timeoutMs`; on failure
 * the gauges read NaN and `actions_metrics_collector_up{collector="runners"}` reads 0.
 */
export function registerRunnerMetrics(registry: Registry, prisma: PrismaClient, opts: { heartbeatWindowMs?: number; timeoutMs?: number } = {}): void {
  const windowMs = opts.heartbeatWindowMs ?? 60_000;
  const timeoutMs = opts.timeoutMs ?? 2000;
  const sql = { rows: <T>(text: string, params: readonly unknown[]) => prisma.$queryRawUnsafe<T[]>(text, ...params) };
  const readBoth = scrapeCollector(registry, "runners", async (up): Promise<{ runners: RunnerSnapshot[]; unrunnable: number } | null> => {
    try {
      const now = new Date();
      const [runners, unrunnable] = await withTimeout(
        Promise.all([readRunners(prisma, windowMs, now), countUnrunnable(sql, windowMs, now)]), timeoutMs, "postgres",
      );
      up(true);
      return { runners, unrunnable };
    } catch {
      up(false);
      return null;
    }
  });
  const read = async () => (await readBoth())?.runners ?? null;
  // No labels: which labels are missing is per job (its `waiting_for`), and label values
  // written in workflow files are not a closed set.
  new Gauge({
    name: "actions_jobs_unrunnable",
    help: `Queued jobs (not being cancelled) that no online runner could take: none with every runs-on label has heartbeated within ${windowMs / 1000} s, or all that have are draining or revoked.`,
    registers: [registry],
    async collect() {
      const s = await readBoth();
      this.set(s ? s.unrunnable : NaN);
    },
  });
  new Gauge({
    name: "actions_runners",
    help: `Registered runners by status: idle, active (running a job), draining, offline (no heartbeat within ${windowMs / 1000} s), revoked.`,
    labelNames: ["status"],
    registers: [registry],
    async collect() {
      const s = await read();
      for (const status of RUNNER_STATUSES) this.set({ status }, s ? (s.find((r) => r.status === status)?.count ?? 0) : NaN);
    },
  });
  new Gauge({
    name: "actions_runner_oldest_heartbeat_age_seconds",
    help: "Seconds since the least recent heartbeat among the runners of each status (revoked runners and statuses with no heartbeating runner are left out).",
    labelNames: ["status"],
    registers: [registry],
    async collect() {
      const s = await read();
      this.reset();
      if (s === null) return;
      for (const r of s) {
        if (r.status !== "revoked" && r.oldestHeartbeatAgeSeconds !== null) this.set({ status: r.status }, r.oldestHeartbeatAgeSeconds);
      }
    },
  });
}
