import { openLoop, type LoadResult } from "../lib/load.ts";
import { isNodeRunning, medianMiB, startRssSampler, type RssSampler, type RssTrace } from "../lib/rss.ts";
import { withStack, type Stack } from "../lib/stack.ts";
import { ms, type BenchContext, type Scenario, type ScenarioResult } from "../lib/types.ts";
import { cancelFire, seedQueued, type CancelLoad } from "./cancel.ts";

// Soak: a steady open-loop cancel load (each request on a different queued job) for a
// 30 s warm-up and then 5 minutes, with the resident memory of the api and worker
// processes sampled every 100 ms over the 5 minutes. A leak shows as the end of the
// window sitting above its start; medians over 10 s at each end keep one GC cycle from
// deciding it.
//
// BENCH_SOAK_SECONDS overrides the measured window (default 300) for a self-test, e.g.
// `BENCH_SOAK_SECONDS=20`; the warm-up is then min(30 s, that window).

const RATE = 100;
const SOAK_SECONDS = 300;
const EDGE_SECONDS = 10;

const r1 = (v: number) => +v.toFixed(1);

function soakSeconds(): number {
  const v = Number(process.env.BENCH_SOAK_SECONDS ?? SOAK_SECONDS);
  if (!Number.isFinite(v) || v < 3) throw new Error(`BENCH_SOAK_SECONDS must be a number of seconds ≥ 3, not ${process.env.BENCH_SOAK_SECONDS}`);
  return v;
}

function servicePids(stack: Stack): Record<string, number> {
  const pids: Record<string, number> = {};
  for (const [name, svc, entry] of [["api", "api-1", "api/server.ts"], ["worker", "worker-1", "worker/main.ts"]] as const) {
    const pid = stack.services.get(svc)?.proc.pid;
    // spawnService runs `node --import tsx entry`: the pid must be that node itself, not a wrapper.
    if (pid === undefined || !isNodeRunning(pid, entry)) throw new Error(`${svc} (pid ${pid}) is not the node process running ${entry}`);
    pids[name] = pid;
  }
  return pids;
}

/** Start and end of the window as medians of its first and last `edge` seconds; growth in % of the start. */
function growth(tr: RssTrace, edgeMs: number) {
  const last = tr.samples[tr.samples.length - 1]?.t ?? 0;
  const startMiB = medianMiB(tr, 0, edgeMs);
  const endMiB = medianMiB(tr, last - edgeMs, last + 1);
  return { startMiB, endMiB, peakMiB: tr.peakMiB, growthPct: r1(((endMiB - startMiB) / startMiB) * 100), hwmMiB: tr.hwmMiB };
}

/** Medians per `stepMs` of the window (~30 points), for a memory-over-time picture without 3000 samples per process. */
function timeline(traces: Record<string, RssTrace>, stepMs: number, endMs: number) {
  const points: Record<string, number>[] = [];
  for (let t = 0; t < endMs; t += stepMs) {
    const p: Record<string, number> = { t: r1(t / 1000) };
    for (const [name, tr] of Object.entries(traces)) p[name] = medianMiB(tr, t, t + stepMs);
    points.push(p);
  }
  return points;
}

/** Runs the open loop for warm-up + soak and samples RSS over the soak part only. */
async function soakLoad(stack: Stack, l: CancelLoad, warmup: number, seconds: number): Promise<{ load: LoadResult; traces: Record<string, RssTrace> }> {
  const pids = servicePids(stack);
  let sampler: RssSampler | undefined;
  // One uninterrupted loop: stopping after the warm-up and starting again would drain the
  // in-flight requests in between and put a dip in the load right where the window starts.
  const begin = setTimeout(() => (sampler = startRssSampler(pids, 100)), warmup * 1000);
  try {
    const load = await openLoop({ rate: RATE, seconds: warmup + seconds, fire: cancelFire(l) });
    if (!sampler) throw new Error("the soak ended before its warm-up did");
    return { load, traces: sampler.stop() };
  } finally {
    clearTimeout(begin);
  }
}

export const memoryScenario: Scenario = {
  id: "memory",
  title: "Memory under a steady cancel load (soak)",
  fullOnly: true,
  async run(ctx: BenchContext): Promise<ScenarioResult> {
    const seconds = soakSeconds();
    const warmup = Math.min(30, seconds);
    const edgeMs = Math.round(Math.min(EDGE_SECONDS, seconds / 3) * 1000);
    return withStack("memory", {}, async (stack) => {
      // 2% over what the schedule needs, so the load never runs out of queued jobs.
      const l: CancelLoad = { stack, jobs: await seedQueued(stack, Math.ceil(RATE * (warmup + seconds) * 1.02) + 100), next: 0 };
      ctx.log(`memory soak: ${RATE} cancels/s, ${warmup} s warm-up, then ${seconds} s sampled`);
      const { load, traces } = await soakLoad(stack, l, warmup, seconds);
      const api = growth(traces.api!, edgeMs);
      const worker = growth(traces.worker!, edgeMs);
      const loadData = { requests: load.requests, errors: load.errors, rps: load.rps, latency: load.latency };
      const edge = r1(edgeMs / 1000);
      const line = (name: string, g: typeof api) => [name, g.startMiB, g.endMiB, `${g.growthPct > 0 ? "+" : ""}${g.growthPct}%`, g.peakMiB];
      return {
        id: "memory",
        title: "Memory under a steady cancel load (soak)",
        tables: [{
          title: `RSS over ${seconds} s of cancels at ${RATE}/s (MiB; start/end: medians of the first/last ${edge} s)`,
          columns: ["process", "start", "end", "growth", "peak"],
          rows: [line("api", api), line("worker", worker)],
          note: `Load over warm-up and soak: ${load.requests} cancels, ${load.errors} errors, p50 ${ms(load.latency.p50)} ms, p99 ${ms(load.latency.p99)} ms from the scheduled start.`,
        }],
        data: { soak: { seconds, warmupSeconds: warmup, rate: RATE, api, worker, load: loadData, timeline: timeline(traces, Math.max(1000, (seconds * 1000) / 30), seconds * 1000) } },
        notes: [
          `Open loop at ${RATE} cancels/s, each on a different queued job seeded up front: below the closed-loop capacity of scenario 1, so what is soaked is steady traffic, not a growing backlog (the load's own errors and latency are under the table). RSS read from /proc/<pid>/status every 100 ms after a ${warmup} s warm-up.`,
          "Growth compares medians, not single samples, so a GC cycle at either end does not decide it; peak is the highest sample (hwmMiB in the data is the kernel's high-water mark over the process's life).",
        ],
      };
    });
  },
};
