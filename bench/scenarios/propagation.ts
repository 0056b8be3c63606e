import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import * as ops from "../../admin/ops.ts";
import type { Service } from "../../scripts/service.ts";
import { withPg } from "../lib/data.ts";
import { httpClient, type HttpClient } from "../lib/http.ts";
import { openLoop } from "../lib/load.ts";
import { withStack, type Stack } from "../lib/stack.ts";
import { summarize, type Summary } from "../lib/stats.ts";
import { ms, type BenchContext, type Scenario, type ScenarioResult } from "../lib/types.ts";
import { driversToMeasure, leftoverDocker, type Driver } from "../lib/runner-drivers.ts";

// Cancel propagation to running jobs held by the runner simulator: from the 202 to (a) the
// step's container process reaped ("container stopped") and (b) the runner's terminal
// report answered, i.e. committed ("job finished"). Every job runs `sleep 600` and every
// cancel targets a job whose container has started. Two loads: one cancel at a time, and
// an open loop at 50/s. Each container is a real node process (~40 MB), so jobs come in
// batches of at most 125: start a batch, wait for all its containers, cancel it, repeat.
// The 50/s loop is therefore a series of 2.5 s open-loop segments, one per batch.
// Measured once per runner driver (BENCH_RUNNER_DRIVERS, default process and, when a Docker
// engine with the job image answers, docker), each on a stack of its own.

const RUNNERS = 5;
const CAPACITY = 25;
const BATCH = RUNNERS * CAPACITY;
const RATE = 50;
const WARMUP = 10;
// Counted cancels. Quick: one batch one at a time (with the warm-up), two at 50/s, no batch
// started for a handful of jobs; that is under 300 each, so its p99s are rough.
const SEQUENTIAL = { quick: BATCH - WARMUP, full: 300 };
const OPEN = { quick: 2 * BATCH, full: 6 * BATCH };
const EVENT_TIMEOUT_MS = 75_000;

type SimEvent = { msg: string; job_id?: number; at?: number; pid?: number; container_id?: string; via?: string };

/** The runner-sim's JSON log lines, parsed once each as output arrives and indexed by message and job. */
class SimEvents {
  private cursor = 0;
  private readonly events = new Map<string, SimEvent>();
  private readonly waiters = new Map<string, { done: (e: SimEvent) => void; fail: (why: string) => void }[]>();

  constructor(private readonly sim: Service) {
    // Registered after spawnService's own listener, so output() already holds the chunk.
    sim.proc.stdout!.on("data", () => this.scan());
    sim.proc.stderr!.on("data", () => this.scan());
  }

  private scan(): void {
    const out = this.sim.output();
    for (let nl = out.indexOf("\n", this.cursor); nl !== -1; nl = out.indexOf("\n", this.cursor)) {
      const line = out.slice(this.cursor, nl);
      this.cursor = nl + 1;
      if (!line.startsWith("{")) continue;
      let e: SimEvent;
      try {
        e = JSON.parse(line) as SimEvent;
      } catch {
        continue;
      }
      if (e.job_id === undefined) continue;
      const key = `${e.msg}:${e.job_id}`;
      this.events.set(key, e);
      for (const w of this.waiters.get(key) ?? []) w.done(e);
      this.waiters.delete(key);
    }
  }

  get(msg: string, jobId: number): SimEvent | undefined {
    return this.events.get(`${msg}:${jobId}`);
  }

  wait(msg: string, jobId: number, timeoutMs = EVENT_TIMEOUT_MS): Promise<SimEvent> {
    const key = `${msg}:${jobId}`;
    const seen = this.events.get(key);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const fail = (why: string) => {
        clearTimeout(timer);
        reject(new Error(`runner-sim logged no "${msg}" for job ${jobId}: ${why}`));
      };
      const timer = setTimeout(() => fail(`not within ${timeoutMs} ms`), timeoutMs);
      const list = this.waiters.get(key) ?? [];
      list.push({ fail, done: (e) => { clearTimeout(timer); resolve(e); } });
      this.waiters.set(key, list);
    });
  }

  /** Fails every pending wait, so no timer outlives a scenario that ended early. */
  close(): void {
    for (const list of this.waiters.values()) for (const w of list) w.fail("the scenario ended");
    this.waiters.clear();
  }
}

interface Prop {
  driver: Driver;
  stack: Stack;
  sim: Service;
  events: SimEvents;
  client: HttpClient;
  /** Every container seen (pid, or the engine's id), to count them. */
  pids: Set<number | string>;
  /** Every job cancelled, warm-up included, for the database check. */
  cancelled: number[];
}

/** Raw samples in ms from the 202, the 202's own latency, and when each 202 arrived (for the database-side figure). */
interface Samples {
  gone: number[];
  committed: number[];
  http: number[];
  answered: Map<number, number>;
}

const wallClock = () => performance.timeOrigin + performance.now();
const newSamples = (): Samples => ({ gone: [], committed: [], http: [], answered: new Map() });

const WORKFLOW = { repo: "bench/repo", workflowFile: ".shithub/workflows/propagation.yml", headSha: "c0ffee0000000000000000000000000000000000" };

/**
 * Creates `n` runs of one `sleep 600` job each and resolves once every job's container has
 * started. One job per run: jobs of one run share its row lock and every report re-reads
 * all of the run's jobs, so a 125-job run would measure that contention, not propagation.
 */
async function startBatch(p: Prop, n: number): Promise<number[]> {
  const ids: number[] = [];
  let made = 0;
  const creator = async () => {
    while (made++ < n) ids.push((await ops.createRunFromSource(p.stack.prisma, WORKFLOW)).job_ids[0]!);
  };
  await Promise.all(Array.from({ length: 4 }, creator));
  const started = await Promise.all(ids.map((id) => p.events.wait("container started", id, 60_000)));
  for (const e of started) p.pids.add(e.container_id ?? e.pid!);
  return ids;
}

/** Sends the cancel; returns the wall-clock time the 202 arrived. */
async function cancel(p: Prop, id: number): Promise<number> {
  const r = await p.client.request("POST", `${p.stack.apis[0]}/api/v1/jobs/${id}/cancel`, { authorization: `Bearer ${p.stack.token}` });
  const answered = wallClock();
  p.cancelled.push(id);
  if (r.status !== 202) throw new Error(`cancel of job ${id} answered ${r.status}: ${r.body.slice(0, 200)}`);
  return answered;
}

async function track(p: Prop, s: Samples, id: number, answered: number, keep = true): Promise<void> {
  const [stopped, finished] = await Promise.all([p.events.wait("container stopped", id), p.events.wait("job finished", id)]);
  if (!keep) return;
  s.answered.set(id, answered);
  s.gone.push(stopped.at! - answered);
  s.committed.push(finished.at! - answered);
}

/** One cancel at a time: the next is sent once the previous job's terminal report is committed. */
async function sequential(p: Prop, n: number, log: (m: string) => void): Promise<Samples> {
  const s = newSamples();
  let warm = WARMUP;
  while (s.gone.length < n) {
    const jobs = await startBatch(p, Math.min(BATCH, n - s.gone.length + warm));
    log(`propagation ${p.driver} sequential: ${jobs.length} containers started, cancelling one at a time`);
    for (const id of jobs) {
      const sent = wallClock();
      const answered = await cancel(p, id);
      await track(p, s, id, answered, warm === 0);
      if (warm === 0) s.http.push(answered - sent);
      else warm--;
    }
  }
  return s;
}

/**
 * `total` cancels at `rate`/s, in open-loop segments of one batch each. achievedRate: sends
 * per second over the send spans (did the generator keep the schedule); answeredRate: 202s
 * per second including each segment's drain (did the service keep up).
 */
async function openRate(p: Prop, total: number, rate: number, log: (m: string) => void) {
  const s = newSamples();
  const spans = { sends: 0, sendMs: 0, answered: 0, seconds: 0 };
  for (let left = total; left > 0; ) {
    const jobs = await startBatch(p, Math.min(BATCH, left));
    log(`propagation ${p.driver} ${rate}/s: ${jobs.length} containers started, cancelling`);
    const ends: Promise<void>[] = [];
    const sentAt: number[] = [];
    const r = await openLoop({
      rate, seconds: jobs.length / rate,
      fire: async (i) => {
        sentAt.push(performance.now());
        const id = jobs[i]!;
        const end = track(p, s, id, await cancel(p, id));
        // Awaited below; the no-op handler only keeps an early failure from being "unhandled".
        end.catch(() => {});
        ends.push(end);
        return true;
      },
    });
    if (r.errors > 0) throw new Error(`${r.errors} of ${r.requests} cancels were not answered 202`);
    await Promise.all(ends);
    // Timed from the scheduled send, so a stall is not hidden by a late send.
    s.http.push(...r.samples);
    spans.sends += sentAt.length - 1;
    spans.sendMs += sentAt[sentAt.length - 1]! - sentAt[0]!;
    spans.answered += r.requests;
    spans.seconds += r.seconds;
    left -= jobs.length;
  }
  const achievedRate = +(spans.sends / (spans.sendMs / 1000)).toFixed(1);
  return { s, achievedRate, answeredRate: +(spans.answered / spans.seconds).toFixed(1) };
}

/** Live processes that are still runner-sim containers whose parent is this runner-sim. */
function leftoverContainers(simPid: number): number[] {
  const left: number[] = [];
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const ppid = /^PPid:\s+(\d+)/m.exec(readFileSync(`/proc/${d}/status`, "utf8"))?.[1];
      if (Number(ppid) === simPid && readFileSync(`/proc/${d}/cmdline`, "utf8").includes("container/main.mjs")) left.push(Number(d));
    } catch {
      // Exited while being read.
    }
  }
  return left;
}

/** Every cancelled job is `cancelled` in the database; returns 202 → completed_at per job (the stamp the committing transaction wrote). */
async function verifyDb(p: Prop, all: Samples[]): Promise<number[][]> {
  const ids = p.cancelled;
  const rows = await withPg(p.stack.dbUrl, async (c) => (await c.query<{ id: string; status: string; done: number | null }>(
    `SELECT id::text, status, (extract(epoch FROM completed_at) * 1000)::float8 AS done FROM workflow_jobs WHERE id = ANY($1::bigint[])`, [ids])).rows);
  const byId = new Map(rows.map((r) => [Number(r.id), r]));
  const bad = ids.filter((id) => byId.get(id)?.status !== "cancelled" || byId.get(id)?.done === null);
  if (bad.length > 0) throw new Error(`${bad.length} cancelled jobs are not terminal 'cancelled' in the database (e.g. ${bad.slice(0, 5).join(", ")})`);
  return all.map((s) => [...s.answered].map(([id, at]) => byId.get(id)!.done! - at));
}

function viaCounts(p: Prop, s: Samples): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const id of s.answered.keys()) {
    const via = p.events.get("cancel received", id)?.via ?? "none";
    counts[via] = (counts[via] ?? 0) + 1;
  }
  return counts;
}

const prefixOf = (driver: Driver) => `bench-prop-${driver}-${process.pid}`;

async function startSim(stack: Stack, stateDir: string, driver: Driver): Promise<Service> {
  return stack.start("runner-sim", "runner-sim/main.ts", {
    RUNNER_DRIVER: driver,
    API_URL: stack.apis[0]!, RUNNERS: String(RUNNERS), RUNNER_CAPACITY: String(CAPACITY), LOG_LEVEL: "info",
    // Idle runners heartbeat this often; a new batch waits at most this long to be claimed.
    HEARTBEAT_MS: "500", CANCEL_GRACE_MS: "5000",
    // The per-job cancel poll is the safety net for a lost signal; at its default (2 s) 125
    // held jobs would poll the API ~60 times a second and could race the signal measured here.
    CANCEL_POLL_MS: "60000",
    // The registry sweeps containers of a previous fleet with the same prefix at start: a
    // prefix and folder of our own keep it off anyone else's runner-sim on this host.
    RUNNER_NAME_PREFIX: prefixOf(driver), RUNNER_STATE_DIR: stateDir,
  }, /fleet ready/);
}

type Result = { gone: Summary; committed: Summary; committedDb: Summary; http202: Summary; n: number; via: Record<string, number> };

const row = (label: string, r: Result) => [label, r.n, ms(r.http202.p50), ms(r.http202.p99), ms(r.gone.p50), ms(r.gone.p99),
  ms(r.committed.p50), ms(r.committed.p99), ms(r.committedDb.p50), ms(r.committedDb.p99)];

/** Both loads on one runner-sim fleet, then the checks; returns the summaries by load. */
async function measure(stack: Stack, stateDir: string, ctx: BenchContext, driver: Driver) {
  await ops.pushWorkflow(stack.prisma, { repo: WORKFLOW.repo, file: WORKFLOW.workflowFile, sha: WORKFLOW.headSha, content: "jobs:\n  j:\n    runs-on: ubuntu-latest\n    steps: [{run: sleep 600}]\n" });
  const sim = await startSim(stack, stateDir, driver);
  const p: Prop = { driver, stack, sim, events: new SimEvents(sim), client: httpClient(64), pids: new Set(), cancelled: [] };
  try {
    const seq = await sequential(p, ctx.quick ? SEQUENTIAL.quick : SEQUENTIAL.full, ctx.log);
    const open = await openRate(p, ctx.quick ? OPEN.quick : OPEN.full, RATE, ctx.log);
    const [seqDb, openDb] = await verifyDb(p, [seq, open.s]);
    const left = driver === "docker" ? await leftoverDocker(stack.apis[0]!, prefixOf(driver)) : leftoverContainers(sim.proc.pid!);
    if (left.length > 0) throw new Error(`${driver} containers still running after every cancel: ${left.join(", ")}`);
    const result = (s: Samples, db: number[]): Result => ({
      gone: summarize(s.gone), committed: summarize(s.committed), committedDb: summarize(db), http202: summarize(s.http), n: s.gone.length, via: viaCounts(p, s),
    });
    const rates = { sequential: result(seq, seqDb!), [RATE]: { ...result(open.s, openDb!), achievedRate: open.achievedRate, answeredRate: open.answeredRate } };
    return { rates, open, containers: p.pids.size };
  } finally {
    p.events.close();
    p.client.close();
  }
}

type Measured = Awaited<ReturnType<typeof measure>>;

export const propagationScenario: Scenario = {
  id: "propagation",
  title: "Cancel propagation to running containers",
  async run(ctx: BenchContext): Promise<ScenarioResult> {
    const { drivers, skipped } = await driversToMeasure();
    if (skipped) ctx.log(`propagation: ${skipped}`);
    const by: Partial<Record<Driver, Measured>> = {};
    for (const driver of drivers) {
      const stateDir = mkdtempSync(path.join(os.tmpdir(), "bench-prop-"));
      by[driver] = await withStack(`propagation_${driver}`, {}, (stack) => measure(stack, stateDir, ctx, driver))
        .finally(() => rmSync(stateDir, { recursive: true, force: true }));
    }
    const measured = drivers.map((d) => [d, by[d]!] as const);
    // The target (bench/lib/targets.ts) reads data.rates: the default driver's when it ran.
    const main = by.process ?? measured[0]![1];
    const segments = Math.ceil(main.rates[RATE]!.n / BATCH);
    return {
      id: "propagation",
      title: "Cancel propagation to running containers",
      tables: [{
        title: "Cancel of a running job: the 202, then from the 202 to the container gone and to the terminal status committed (ms), by runner driver",
        columns: ["driver, load", "n", "202 p50", "202 p99", "gone p50", "gone p99", "committed p50", "committed p99", "DB stamp p50", "DB stamp p99"],
        rows: measured.flatMap(([d, m]) => [
          row(`${d}: one at a time`, m.rates.sequential),
          row(`${d}: open loop ${RATE}/s (sent ${m.open.achievedRate}/s, answered ${m.open.answeredRate}/s)`, m.rates[RATE]!),
        ]),
        note: "202: one at a time from the send, open loop from the scheduled send. committed: the runner's terminal report answered; DB stamp: completed_at, stamped at the start of the committing transaction (ms resolution). gone: process, the child reaped; docker, the engine's wait answered (the container exited).",
      }],
      data: {
        rates: main.rates, containers: main.containers, leftoverContainers: 0, runners: RUNNERS, capacity: CAPACITY,
        drivers: Object.fromEntries(measured.map(([d, m]) => [d, { rates: m.rates, containers: m.containers }])),
        ...(skipped ? { skipped } : {}),
      },
      histograms: measured.map(([d, m]) => ({ label: `${d}: 202 → container gone, ${RATE}/s`, samples: m.open.s.gone })),
      notes: [
        `Each job is the only job of its run and runs \`sleep 600\` on ${RUNNERS} simulated runners of capacity ${CAPACITY}; every cancel targets a job whose container has started (${measured.map(([d, m]) => `${d}: ${m.containers}`).join(", ")} containers in all, at most ${BATCH} alive at once).`,
        `The ${RATE}/s load is an open loop over one batch of ${BATCH} running jobs at a time (${segments} segments of ${BATCH / RATE} s); batches are started and drained in between, so container start-up does not load the machine during the measurement.`,
        "The worker publishes the cancel signal when its transaction commits, while the 202 is still on its way back through the API, so 'gone' can be negative.",
        "The runners' per-job cancel poll is set to 60 s, so what is measured is the Redis signal path; how each cancel arrived is in data.rates.*.via. The first 10 sequential cancels are a warm-up and not counted.",
        "Drivers (BENCH_RUNNER_DRIVERS): process runs each step as a child node process; docker runs it in a container of actions-runner-job:local (no network, AutoRemove) through the Engine API, stopped with the engine's stop (t = the 5 s grace).",
        ...(skipped ? [skipped] : []),
        "Afterwards every cancelled job was checked 'cancelled' in the database and no container of the runner-sim was left running (process: no child; docker: none of the fleet's label).",
      ],
    };
  },
};
