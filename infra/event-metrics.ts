import { Counter, Gauge, Histogram, type Registry } from "prom-client";
import type { Queue } from "bullmq";
import { readQueue, scrapeCollector } from "./metrics.ts";
import { withTimeout } from "./timeout.ts";
import type { AttemptDecision } from "../domain/events/delivery.ts";

// The events side's metrics (docs/events.md, "Operating it"): what the dispatcher does and
// how far behind it is, and what webhook deliveries do. Labels are closed sets: event type,
// outcome.

export const DELIVERY_OUTCOMES = ["delivered", "retrying", "failed"] as const;
const EVENTS = ["workflow_job", "workflow_run"] as const;

export interface EventMetrics {
  onPass(events: number, seconds: number): void;
  onAttempt(a: { event: string; decision: AttemptDecision; durationMs: number; attempt: number }): void;
}

export function registerEventMetrics(registry: Registry, sources: { lagSeconds: () => Promise<number>; deliveryQueue: Queue }): EventMetrics {
  const dispatched = new Counter({ name: "actions_events_dispatched_total", help: "Outbox events the dispatcher gave an id, a payload and their deliveries.", registers: [registry] });
  const pass = new Histogram({
    name: "actions_events_dispatch_pass_seconds", help: "One dispatcher pass (a batch of up to 200 events), from its transaction's start to the deliveries queued.",
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5], registers: [registry],
  });
  const lag = scrapeCollector(registry, "events", async (up) => {
    try {
      const s = await withTimeout(sources.lagSeconds(), 1_000, "postgres");
      up(true);
      return s;
    } catch {
      up(false);
      return NaN;
    }
  });
  new Gauge({
    name: "actions_events_dispatch_lag_seconds", help: "Age of the oldest event not yet dispatched (0 when the outbox is drained).", registers: [registry],
    async collect() { this.set(await lag()); },
  });
  const attempts = new Counter({
    name: "actions_webhook_delivery_attempts_total", help: "Webhook delivery attempts by event and outcome (delivered; retrying: failed and will be tried again; failed: for good).",
    labelNames: ["event", "outcome"], registers: [registry],
  });
  for (const event of EVENTS) for (const outcome of DELIVERY_OUTCOMES) attempts.inc({ event, outcome }, 0);
  const duration = new Histogram({
    name: "actions_webhook_delivery_duration_seconds", help: "One delivery attempt, request sent to response read (or the deadline), by outcome.",
    labelNames: ["outcome"], buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10], registers: [registry],
  });
  const tries = new Histogram({
    name: "actions_webhook_delivery_tries", help: "Attempts a delivery took by the time it ended, by outcome (delivered or failed).",
    labelNames: ["outcome"], buckets: [1, 2, 3, 4, 5, 6, 8, 10, 15, 20], registers: [registry],
  });
  const queue = scrapeCollector(registry, "delivery_queue", async (up) => {
    try {
      const s = await withTimeout(readQueue(sources.deliveryQueue), 1_000, "redis");
      up(true);
      return s;
    } catch {
      up(false);
      return { waiting: NaN, active: NaN, delayed: NaN, oldestWaitingSeconds: NaN };
    }
  });
  new Gauge({
    name: "actions_webhook_delivery_queue", help: "Webhook deliveries in the delivery queue by state (waiting, active, delayed: waiting for a retry).",
    labelNames: ["state"], registers: [registry],
    async collect() {
      const s = await queue();
      this.set({ state: "waiting" }, s.waiting);
      this.set({ state: "active" }, s.active);
      this.set({ state: "delayed" }, s.delayed);
    },
  });
  return {
    onPass(events, seconds) {
      dispatched.inc(events);
      pass.observe(seconds);
    },
    onAttempt({ event, decision, durationMs, attempt }) {
      const ev = (EVENTS as readonly string[]).includes(event) ? event : "workflow_run";
      attempts.inc({ event: ev, outcome: decision.state });
      duration.observe({ outcome: decision.state }, durationMs / 1000);
      if (decision.state !== "retrying") tries.observe({ outcome: decision.state }, attempt);
    },
  };
}
