import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import * as ops from "../admin/ops.ts";
import { createTestDb, waitFor, type TestDb } from "./setup/db.ts";
import { spawnService, type Service } from "./setup/stack.ts";
import { ONE_JOB, pushAndRun } from "./setup/world.ts";

// The events side's metrics (infra/event-metrics.ts) on a real worker process: a run's
// outbox events dispatched, and their webhook deliveries attempted, one hook answering 200
// and one whose port refuses, are what /metrics counts; the delivery queue and the
// dispatch lag read empty once all is done. (test/metrics.test.ts covers the rest.)

let db: TestDb;
let worker: Service | undefined;
let receiver: Server;
let received = 0;

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

function parse(text: string): Sample[] {
  return text.split("\n").filter((l) => l !== "" && !l.startsWith("#")).map((line) => {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) throw new Error(`unparsable exposition line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? "").matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!;
    return { name: m[1]!, labels, value: Number(m[3]) };
  });
}

/** The one sample with this name and (at least) these labels. */
function value(samples: Sample[], name: string, labels: Record<string, string> = {}): number | undefined {
  const hits = samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  if (hits.length > 1) throw new Error(`${name} ${JSON.stringify(labels)} matches ${hits.length} samples`);
  return hits[0]?.value;
}

async function scrape(url: string): Promise<{ text: string; samples: Sample[] }> {
  const res = await fetch(`${url}/metrics`);
  expect(res.status).toBe(200);
  const text = await res.text();
  return { text, samples: parse(text) };
}

/** A port nothing listens on: bound, then released. */
async function closedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  const { port } = s.address() as AddressInfo;
  await new Promise((r) => s.close(r));
  return port;
}

beforeAll(async () => {
  db = await createTestDb("evmetrics");
  receiver = createServer((req, res) => {
    req.resume();
    req.on("end", () => {
      received++;
      res.writeHead(200).end("ok");
    });
  });
  await new Promise<void>((r) => receiver.listen(0, "127.0.0.1", r));
  await ops.createUser(db.prisma, { login: "alice" });
  await ops.createRepo(db.prisma, { owner: "alice", name: "demo" });
  const ok = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
  const refused = `http://127.0.0.1:${await closedPort()}/hook`;
  await db.pool.query(
    `INSERT INTO repo_hooks (repo_id, url, events) SELECT id, unnest($1::text[]), unnest($2::text[])::text[] FROM repos WHERE name = 'demo'`,
    [[ok, refused], ["{workflow_job,workflow_run}", "{workflow_run}"]]);
});
afterAll(async () => {
  await worker?.kill("SIGTERM");
  await new Promise((r) => receiver?.close(r));
  await db?.drop();
});

const unfinished = async () =>
  Number((await db.pool.query<{ n: string }>("SELECT count(*)::text AS n FROM hook_deliveries WHERE state IN ('waiting', 'queued', 'retrying')")).rows[0]!.n);

describe("a worker's events metrics", { timeout: 120_000 }, () => {
  it("exposes the dispatch lag, dispatched events, delivery attempts by event and outcome, and the delivery queue", async () => {
    worker = spawnService("worker/main.ts", {
      DATABASE_URL: db.url, REDIS_URL: inject("redisUrl"), QUEUE_PREFIX: `em${process.pid}`, WORKER_PORT: "0",
      // The hooks are on 127.0.0.1; one attempt each, so the refused one fails for good at once.
      WEBHOOK_ALLOW_PRIVATE: "true", WEBHOOK_MAX_ATTEMPTS: "1", WEBHOOK_TIMEOUT_MS: "2000",
    });
    await worker.waitForLine(/"msg":"worker ready"/);
    const url = `http://127.0.0.1:${/"port":(\d+)[^\n]*"msg":"worker http listening"/.exec(worker.output())![1]}`;

    const before = await scrape(url);
    for (const [name, type] of [["actions_events_dispatch_lag_seconds", "gauge"], ["actions_events_dispatched_total", "counter"],
      ["actions_webhook_delivery_attempts_total", "counter"], ["actions_webhook_delivery_queue", "gauge"]]) {
      expect(before.text).toContain(`# TYPE ${name} ${type}\n`);
    }
    // Every label pair is there from the start, at zero, so a rate() has a series to start from.
    for (const event of ["workflow_job", "workflow_run"]) {
      for (const outcome of ["delivered", "retrying", "failed"]) {
        expect(value(before.samples, "actions_webhook_delivery_attempts_total", { event, outcome })).toBe(0);
      }
    }

    await pushAndRun(db.prisma, "alice/demo", ONE_JOB, "e1e1e1e1");
    await waitFor("the run's events to be dispatched and their deliveries to finish", async () => {
      const { rows: [r] } = await db.pool.query<{ pending: string; deliveries: string }>(
        "SELECT (SELECT count(*) FROM events WHERE id IS NULL)::text AS pending, (SELECT count(*) FROM hook_deliveries)::text AS deliveries");
      return r!.pending === "0" && Number(r!.deliveries) > 0 && (await unfinished()) === 0;
    }, 30_000, 50);

    const dispatched = Number((await db.pool.query<{ n: string }>("SELECT count(*)::text AS n FROM events WHERE id IS NOT NULL")).rows[0]!.n);
    const finished = Number((await db.pool.query<{ n: string }>("SELECT count(*)::text AS n FROM hook_deliveries")).rows[0]!.n);
    expect(dispatched).toBeGreaterThan(0);
    // The worker counts after its transaction commits, and BullMQ ends a job after its
    // processor returns: the counters and the queue catch up with Postgres a moment later.
    const samples = await waitFor("the metrics to catch up with Postgres", async () => {
      const s = (await scrape(url)).samples;
      const attempts = s.filter((x) => x.name === "actions_webhook_delivery_attempts_total").reduce((n, x) => n + x.value, 0);
      const queued = s.filter((x) => x.name === "actions_webhook_delivery_queue").reduce((n, x) => n + x.value, 0);
      return attempts === finished && value(s, "actions_events_dispatched_total") === dispatched && queued === 0 ? s : null;
    }, 10_000, 50);
    expect(value(samples, "actions_events_dispatched_total")).toBe(dispatched);
    expect(value(samples, "actions_events_dispatch_lag_seconds")).toBe(0);

    const { rows } = await db.pool.query<{ event: string; state: string; n: string }>(
      "SELECT event, state::text AS state, count(*)::text AS n FROM hook_deliveries GROUP BY 1, 2");
    const inDb = (event: string, state: string) => Number(rows.find((r) => r.event === event && r.state === state)?.n ?? 0);
    // Both outcomes happened, and each attempt is counted once under its event.
    expect(inDb("workflow_run", "delivered")).toBeGreaterThan(0);
    expect(inDb("workflow_run", "failed")).toBeGreaterThan(0);
    for (const event of ["workflow_job", "workflow_run"]) {
      for (const outcome of ["delivered", "failed"]) {
        expect(value(samples, "actions_webhook_delivery_attempts_total", { event, outcome }), `${event} ${outcome}`).toBe(inDb(event, outcome));
      }
      expect(value(samples, "actions_webhook_delivery_attempts_total", { event, outcome: "retrying" })).toBe(0);
    }
    expect(received).toBe(inDb("workflow_job", "delivered") + inDb("workflow_run", "delivered"));

    for (const state of ["waiting", "active", "delayed"]) expect(value(samples, "actions_webhook_delivery_queue", { state })).toBe(0);
    expect(value(samples, "actions_metrics_collector_up", { collector: "events" })).toBe(1);
    expect(value(samples, "actions_metrics_collector_up", { collector: "delivery_queue" })).toBe(1);
  });
});
