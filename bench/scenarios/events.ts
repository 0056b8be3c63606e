import { CPU_GROUPS } from "../lib/cpu.ts";
import { httpClient, type HttpClient } from "../lib/http.ts";
import { openStream, startReceiver, transitionKey, wallClock, type Listener, type Receiver } from "../lib/listeners.ts";
import {
  cancelPhase, commitStamps, createHooks, dispatchStamps, lastEventId, reportPhase, seedRunning, waitSettled, waitTransitions,
  type CancelPhase, type Hooks, type ReportPhase, type Settle,
} from "../lib/event-phases.ts";
import { withStack, type Stack } from "../lib/stack.ts";
import { ratio, summarize, type Summary } from "../lib/stats.ts";
import { ms, type BenchContext, type Scenario, type ScenarioResult, type Table } from "../lib/types.ts";
import { seedQueued } from "./cancel.ts";

// Events out of the system: (1) how long from a job transition's commit until the webhook
// request reaches a receiver and the SSE message reaches a repository-stream client, at a
// trickle and at 200 transitions/s (open loops of runner status reports, completed/success,
// each on a different running job; one hook, one stream); (2) what fan-out costs the cancel
// path: the cancel scenario's closed loop at c=64 with two hooks and ten repository
// streams attached, against the same loop with none, back to back (bare, fanned out, bare).

const CONCURRENCY = 64;
const HOOKS = 2;
const STREAMS = 10;
/** Per cancel phase, warm-up included (the cancel scenario's quick count; full is shorter than its 3000 to fit the scenario in ~4 minutes). */
const CANCELS = { quick: { total: 400, warmup: 40 }, full: { total: 2000, warmup: 200 } };
const RATES = [
  { rate: 1, seconds: { quick: 20, full: 60 } },
  { rate: 200, seconds: { quick: 10, full: 30 } },
];
const SETTLE_MS = 120_000;

type Path = "dispatched" | "webhook" | "sse";
interface PathLatency {
  /** From completed_at (stamped before the report's transaction began): an upper bound of commit → received. */
  fromStamp: Summary;
  /** From the 200 of the report (after its commit): a lower bound. */
  from200: Summary;
  samples: number[];
}
interface RateResult {
  rate: number;
  sentRate: number;
  transitions: number;
  /** completed_at → 200: the window the commit lies in. */
  bracket: Summary;
  paths: Record<Path, PathLatency>;
}

/** `arrived(id)`: when job `id`'s completed transition reached that stage (wall ms). */
function latencyOf(p: ReportPhase, stamps: Map<number, number>, arrived: (id: number) => number): PathLatency {
  const fromStamp: number[] = [];
  const from200: number[] = [];
  for (const id of p.jobs) {
    const at = arrived(id);
    fromStamp.push(at - stamps.get(id)!);
    from200.push(at - p.answered.get(id)!);
  }
  return { fromStamp: summarize(fromStamp), from200: summarize(from200), samples: fromStamp };
}

/** One open loop of reports at `rate`, then every transition on both listeners, matched to its commit stamp. */
async function measureRate(stack: Stack, client: HttpClient, jobs: number[], o: { rate: number; seconds: number; clock: () => number; hook: Listener; sse: Listener }): Promise<RateResult> {
  for (const l of [o.hook, o.sse]) l.arrivals.clear();
  const p = await reportPhase(stack, client, jobs, o);
  await waitTransitions([o.hook, o.sse], p.jobs, SETTLE_MS);
  const [stamps, dispatched] = await Promise.all([commitStamps(stack, p.jobs), dispatchStamps(stack, p.jobs)]);
  if (stamps.size !== p.jobs.length) throw new Error(`${p.jobs.length - stamps.size} reported jobs are not completed in the database`);
  if (dispatched.size !== p.jobs.length) throw new Error(`${p.jobs.length - dispatched.size} reported jobs have no dispatched completed event`);
  const on = (l: Listener) => (id: number) => l.arrivals.get(transitionKey(id, "completed"))!;
  return {
    rate: o.rate, sentRate: p.sentRate, transitions: p.jobs.length,
    bracket: summarize(p.jobs.map((id) => p.answered.get(id)! - stamps.get(id)!)),
    paths: { dispatched: latencyOf(p, stamps, (id) => dispatched.get(id)!), webhook: latencyOf(p, stamps, on(o.hook)), sse: latencyOf(p, stamps, on(o.sse)) },
  };
}

interface Fanout {
  bare: [CancelPhase, CancelPhase];
  fanned: CancelPhase;
  deliveries: number;
  messages: number;
}

/** Bare, fanned out (all hooks active, STREAMS streams open), bare: each phase settles before the next. */
async function measureFanout(stack: Stack, client: HttpClient, f: { hooks: Hooks; receivers: Receiver[]; streamUrl: string; token: string; clock: () => number; quick: boolean; log: (m: string) => void }): Promise<Fanout> {
  const counts = f.quick ? CANCELS.quick : CANCELS.full;
  // Phase 0 warms the stack up (the first loop on fresh processes runs slower) and is not reported.
  const jobs = await seedQueued(stack, 4 * counts.total);
  const slice = (k: number) => jobs.slice(k * counts.total, (k + 1) * counts.total);
  const settle = (s: Omit<Settle, "cancelled">) => (cancelled: number[]) => waitSettled(stack, { ...s, cancelled }, SETTLE_MS);
  const bareSettle = settle({ since: 0n, streams: [], receivers: [] });
  const phase = (k: number, s: (c: number[]) => Promise<void>) => cancelPhase(stack, client, slice(k), { concurrency: CONCURRENCY, ...counts, settle: s });
  await bareSettle([]);
  f.log(`events: cancel c=${CONCURRENCY}, warm-up`);
  await phase(0, bareSettle);
  f.log(`events: cancel c=${CONCURRENCY}, no hook or stream`);
  const bare1 = await phase(1, bareSettle);
  await f.hooks.setActive(f.hooks.ids, true);
  const since = await lastEventId(stack);
  const streams = await Promise.all(Array.from({ length: STREAMS }, () => openStream(f.streamUrl, f.token, f.clock)));
  const before = { deliveries: f.receivers.reduce((n, r) => n + r.count(), 0) };
  let fanned: CancelPhase;
  try {
    f.log(`events: cancel c=${CONCURRENCY}, ${HOOKS} hooks and ${STREAMS} streams`);
    fanned = await phase(2, settle({ since, streams, receivers: f.hooks.ids.map((hookId, i) => ({ hookId, listener: f.receivers[i]! })) }));
  } finally {
    await Promise.all(streams.map((s) => s.close()));
    await f.hooks.setActive(f.hooks.ids, false);
  }
  const deliveries = f.receivers.reduce((n, r) => n + r.count(), 0) - before.deliveries;
  const messages = streams.reduce((n, s) => n + s.count(), 0);
  f.log(`events: cancel c=${CONCURRENCY}, no hook or stream again`);
  const bare2 = await phase(3, bareSettle);
  return { bare: [bare1, bare2], fanned, deliveries, messages };
}

async function measure(stack: Stack, ctx: BenchContext) {
  const clock = wallClock();
  const client = httpClient(256);
  const receivers = await Promise.all(Array.from({ length: HOOKS }, () => startReceiver(clock)));
  let stream: Listener | null = null;
  try {
    const spans = RATES.map((r) => ({ rate: r.rate, seconds: ctx.quick ? r.seconds.quick : r.seconds.full }));
    let running = await seedRunning(stack, spans.reduce((n, s) => n + Math.round(s.rate * s.seconds), 0));
    const hooks = await createHooks(stack, client, receivers.map((r) => r.url));
    const streamUrl = `${stack.apis[0]}/api/v1/repos/bench/repo/actions/events`;
    const fanout = await measureFanout(stack, client, { hooks, receivers, streamUrl, token: hooks.token, clock, quick: ctx.quick, log: ctx.log });
    await hooks.setActive([hooks.ids[0]!], true);
    stream = await openStream(streamUrl, hooks.token, clock, { recording: true });
    const hook = receivers[0]!;
    hook.recording = true;
    const rates: RateResult[] = [];
    for (const s of spans) {
      ctx.log(`events: status reports at ${s.rate}/s for ${s.seconds} s, 1 hook and 1 stream`);
      rates.push(await measureRate(stack, client, running, { ...s, clock, hook, sse: stream }));
      running = running.slice(rates[rates.length - 1]!.transitions);
    }
    return { fanout, rates };
  } finally {
    await stream?.close();
    await Promise.all(receivers.map((r) => r.close()));
    client.close();
  }
}

const PATHS: [Path, string][] = [["dispatched", "event dispatched (dispatched_at)"], ["webhook", "webhook request received"], ["sse", "SSE message received"]];

function latencyTable(rates: RateResult[]): Table {
  return {
    title: "Job transition committed → received on 127.0.0.1, one hook and one repository stream (open loop of status reports, ms)",
    columns: ["path", "asked", "sent", "transitions", "p50", "p99", "max", "p50 from the 200", "p99 from the 200", "commit window p50", "commit window p99"],
    rows: PATHS.flatMap(([p, what]) => rates.map((r) => {
      const l = r.paths[p];
      return [what, `${r.rate}/s`, `${r.sentRate}/s`, r.transitions, ms(l.fromStamp.p50), ms(l.fromStamp.p99), ms(l.fromStamp.max), ms(l.from200.p50), ms(l.from200.p99), ms(r.bracket.p50), ms(r.bracket.p99)];
    })),
    note: "p50/p99/max count from the job's completed_at, which the API stamps just before it begins the report's transaction, so they overstate commit → received by at most the commit window "
      + "(completed_at → the report's 200 received by the bench); 'from the 200' counts from after the commit and understates it by at most the same window. Both clocks are this machine's. "
      + "'dispatched' is the stage both paths share: the dispatcher's stamp, taken before its pass commits (ms resolution); from the 200 it can be negative.",
  };
}

function fanoutTable(f: Fanout): Table {
  const row = (label: string, p: CancelPhase) => [label, p.load.requests, p.load.errors, p.load.rps, ms(p.load.latency.p50), ms(p.load.latency.p99), p.settledRps];
  const bare = (f.bare[0].load.rps + f.bare[1].load.rps) / 2;
  const settledBare = (f.bare[0].settledRps + f.bare[1].settledRps) / 2;
  return {
    title: `POST /jobs/{id}/cancel, closed loop c=${CONCURRENCY}, with and without ${HOOKS} hooks and ${STREAMS} repository streams (ms)`,
    columns: ["phase", "requests", "errors", "req/s", "p50", "p99", "settled/s"],
    rows: [
      row("no hook or stream", f.bare[0]),
      row(`${HOOKS} hooks answering 200, ${STREAMS} streams`, f.fanned),
      row("no hook or stream, again", f.bare[1]),
      ["fanned out ÷ mean of the bare phases", "", "", `${(100 * ratio(f.fanned.load.rps, bare)).toFixed(0)}%`, "", "", `${(100 * ratio(f.fanned.settledRps, settledBare)).toFixed(0)}%`],
    ],
    note: `req/s: 202s per second after the warm-up, as in the cancel scenario. settled/s: every cancel of the phase (warm-up included) ÷ the time from its first send until all were applied, `
      + `every event dispatched and delivered, and every stream had every message (${f.deliveries} webhook requests and ${f.messages} stream messages in the fanned-out phase).`,
  };
}

function cpuTable(f: Fanout): Table {
  const phases: [string, CancelPhase][] = [["no hook or stream", f.bare[0]], [`${HOOKS} hooks, ${STREAMS} streams`, f.fanned], ["no hook or stream, again", f.bare[1]]];
  return {
    title: "CPU per 1000 cancels by process, from the first send until settled (s)",
    columns: ["phase", ...CPU_GROUPS, "total"],
    rows: phases.map(([label, p]) => {
      const per = (v: number) => +((1000 * v) / p.sent).toFixed(2);
      return [label, ...CPU_GROUPS.map((g) => per(p.cpu[g])), per(CPU_GROUPS.reduce((n, g) => n + p.cpu[g], 0))];
    }),
    note: "From /proc over every process on the machine: bench is this process (load generator, receivers, stream clients); other is anything else running meanwhile. The machine has 2 CPUs.",
  };
}

export const eventsScenario: Scenario = {
  id: "events",
  title: "Webhook and event-stream latency, and what fan-out costs cancel",
  async run(ctx: BenchContext): Promise<ScenarioResult> {
    const env = { WEBHOOK_ALLOW_PRIVATE: "true", RUNNER_HEARTBEAT_WINDOW_MS: String(24 * 3600_000) };
    const { fanout, rates } = await withStack("events", { env }, (stack) => measure(stack, ctx));
    const bare = (fanout.bare[0].load.rps + fanout.bare[1].load.rps) / 2;
    const strip = (p: CancelPhase) => ({ rps: p.load.rps, requests: p.load.requests, errors: p.load.errors, latency: p.load.latency, settledRps: p.settledRps, settledSeconds: p.settledSeconds, cpu: p.cpu });
    const high = rates[rates.length - 1]!;
    return {
      id: "events",
      title: this.title,
      tables: [latencyTable(rates), fanoutTable(fanout), cpuTable(fanout)],
      data: {
        latency: Object.fromEntries(rates.map((r) => [r.rate, {
          sentRate: r.sentRate, transitions: r.transitions, commitWindow: r.bracket,
          ...Object.fromEntries(PATHS.map(([p]) => [p, { fromStamp: r.paths[p].fromStamp, from200: r.paths[p].from200 }])),
        }])),
        fanout: {
          concurrency: CONCURRENCY, hooks: HOOKS, streams: STREAMS, bare: fanout.bare.map(strip), fanned: strip(fanout.fanned),
          ratio: ratio(fanout.fanned.load.rps, bare), settledRatio: ratio(fanout.fanned.settledRps, (fanout.bare[0].settledRps + fanout.bare[1].settledRps) / 2),
          deliveries: fanout.deliveries, messages: fanout.messages,
        },
      },
      histograms: PATHS.filter(([p]) => p !== "dispatched").map(([p, what]) => ({ label: `${what}, ${high.rate}/s`, samples: high.paths[p].samples })),
      notes: [
        "Latency: each transition is a runner's status report (POST /jobs/{id}/status completed/success, job token) on a different running job, applied in the API; its event is matched to the webhook request and the SSE message by the payload's workflow_job.id and action. "
          + "Runs have 17 jobs of which 16 are reported, so no report completes its run: one event per transition. The ceiling is what the path adds by design: the dispatcher's poll (EVENTS_POLL_MS, 50 ms by default), the delivery queue, and for streams the API's hint-driven read of the outbox.",
        `Fan-out: each cancel of a queued single-job run writes two events (the job's and the run's completed), so ${HOOKS} hooks and ${STREAMS} streams mean ${2 * HOOKS} webhook requests and ${2 * STREAMS} stream messages per cancel. The target is req/s fanned out ≥ 80% of the mean of the two bare phases around it; settled/s shows whether delivery kept up.`,
        "Receivers and stream clients are node:http in the bench process, on this 2-core machine with the api, worker, Postgres and Redis; hooks are toggled with PATCH active and created through the API. Hooks have a secret, so every request is signed.",
      ],
    };
  },
};
