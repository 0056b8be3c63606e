import { describe, expect, inject, it } from "vitest";
import type { Report } from "../chaos/harness.ts";
import { PrivateRedis } from "../chaos/infra.ts";
import { MUST_BE_ZERO } from "../chaos/reconcile.ts";
import { SCENARIOS } from "../chaos/scenarios.ts";
import { DELIVERY_MUST_BE_ZERO } from "../chaos/webhooks.ts";
import { createTestDb } from "./setup/db.ts";

// The short fault-injection scenarios, against real processes: a worker killed with -9
// mid-burst, the runner simulator killed with -9 holding jobs, a worker stopped past its
// lock, (on a private Redis) Redis restarted under load, and the webhook receiver refusing
// connections for a while under load. `npm run chaos` runs the full
// versions and the Postgres restart. Each ends with the invariant checker and the
// reconciliation of what the clients were told against the database.

async function run(name: string): Promise<Report> {
  const scenario = SCENARIOS.find((s) => s.name === name)!;
  const db = await createTestDb(name);
  // A private Redis, so that every process runs as its ACL user (chaos/system.ts);
  // redis-restart brings its own, which it stops and starts.
  const redis = name === "redis-restart" ? null : await PrivateRedis.create();
  try {
    return await scenario.run({ dbUrl: db.url, redisUrl: redis?.url ?? inject("redisUrl"), short: true, log: (m) => console.error(m) });
  } finally {
    await redis?.dispose();
    await db.drop();
  }
}

describe.each(["worker-kill9", "runner-kill9", "worker-stall", "redis-restart", "webhook-receiver-down"])("chaos: %s", (name) => {
  it("loses nothing, doubles nothing, leaves no job open and no container behind", async () => {
    const r = await run(name);
    const mustBeZero = Object.fromEntries(MUST_BE_ZERO.map((k) => [k, r.tally[k]]));
    expect({ ...mustBeZero, problems: r.problems }, r.notes.join("\n")).toEqual({ ...Object.fromEntries(MUST_BE_ZERO.map((k) => [k, 0])), problems: [] });
    expect(r.tally.acknowledged).toBeGreaterThan(0);
    // Every intent ended applied once (acknowledged, or "queued" and applied later) — except
    // that a Redis stop may leave some answered "may have been queued" that were not.
    if (name === "redis-restart") expect(r.tally.applied).toBeGreaterThanOrEqual(r.tally.acknowledged);
    else expect(r.tally.applied).toBe(r.tally.intents);
    // Every event received once, a run's in order, none given up on, after retries (the problems say if there were none).
    if (name === "webhook-receiver-down") {
      const d = r.deliveries!;
      expect(Object.fromEntries(DELIVERY_MUST_BE_ZERO.map((k) => [k, d[k]])), r.notes.join("\n")).toEqual(Object.fromEntries(DELIVERY_MUST_BE_ZERO.map((k) => [k, 0])));
      expect(d.received).toBe(d.events);
      expect(d.retried).toBeGreaterThan(0);
    }
  }, 150_000);
});
