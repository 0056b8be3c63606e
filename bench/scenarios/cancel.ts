import { closedLoop, openLoop, type LoadResult } from "../lib/load.ts";
import { httpClient } from "../lib/http.ts";
import { seedRuns, withPg } from "../lib/data.ts";
import { startRssSampler } from "../lib/rss.ts";
import { withStack, type Stack } from "../lib/stack.ts";
import { ms, type BenchContext, type Scenario, type ScenarioResult } from "../lib/types.ts";

// Scenario 1: each request cancels a different queued job (POST /jobs/{id}/cancel → 202),
// closed loop at concurrency 1, 16, 64, then an open loop at half the best rate measured.

export const CONCURRENCY = [1, 16, 64];
// Requests per closed-loop level, warm-up included (the first tenth, at most 200). Quick
// keeps ≥ 300 counted samples behind each p99; the ceilings use the same counts.
const QUICK_PER_LEVEL = 400;
const FULL_PER_LEVEL = 3000;
// The open loop runs at least this long, and long enough for ≥ 330 samples at a low rate.
const QUICK_OPEN_SECONDS = 3;
const FULL_OPEN_SECONDS = 20;
const MIN_OPEN_SAMPLES = 330;

/** Closed-loop counts per level; the ceilings run the same, so each lines up with cancel. */
export function levelCounts(quick: boolean): { total: number; warmup: number } {
  const total = quick ? QUICK_PER_LEVEL : FULL_PER_LEVEL;
  return { total, warmup: Math.min(200, total / 10) };
}

export interface CancelLoad {
  stack: Stack;
  jobs: number[];
  next: number;
}

/** A closed or open loop of cancels over fresh queued jobs, round-robin over the API processes. */
export function cancelFire(l: CancelLoad, client = httpClient(256)) {
  const headers = { authorization: `Bearer ${l.stack.token}` };
  return async (): Promise<boolean> => {
    const id = l.jobs[l.next++];
    if (id === undefined) throw new Error("ran out of seeded jobs");
    const base = l.stack.apis[id % l.stack.apis.length]!;
    const r = await client.request("POST", `${base}/api/v1/jobs/${id}/cancel`, headers);
    return r.status === 202;
  };
}

export async function seedQueued(stack: Stack, n: number): Promise<number[]> {
  return withPg(stack.dbUrl, async (c) => (await seedRuns(c, { repoId: stack.repoId, runs: n, jobsPerRun: 1, stepsPerJob: 3, state: "queued" })).jobIds);
}

const row = (label: string, r: LoadResult) => [label, r.requests, r.errors, r.rps, ms(r.latency.p50), ms(r.latency.p99), ms(r.latency.p999)];

export const cancelScenario: Scenario = {
  id: "cancel",
  title: "Cancel throughput and latency",
  async run(ctx: BenchContext): Promise<ScenarioResult> {
    const counts = levelCounts(ctx.quick);
    const minOpenSeconds = ctx.quick ? QUICK_OPEN_SECONDS : FULL_OPEN_SECONDS;
    return withStack("cancel", {}, async (stack) => {
      const l: CancelLoad = { stack, jobs: await seedQueued(stack, counts.total * CONCURRENCY.length + 500), next: 0 };
      const fire = cancelFire(l);
      const rss = startRssSampler({ api: stack.services.get("api-1")!.proc.pid!, worker: stack.services.get("worker-1")!.proc.pid! });
      const closed: Record<string, LoadResult> = {};
      for (const c of CONCURRENCY) {
        ctx.log(`cancel closed loop c=${c}`);
        closed[c] = await closedLoop({ concurrency: c, ...counts, fire });
      }
      const best = Math.max(...Object.values(closed).map((r) => r.rps));
      const rate = Math.max(1, Math.round(best / 2));
      const openSeconds = Math.max(minOpenSeconds, MIN_OPEN_SAMPLES / rate);
      l.jobs.push(...(await seedQueued(stack, Math.ceil(rate * openSeconds) + 10)));
      ctx.log(`cancel open loop at ${rate}/s`);
      const open = await openLoop({ rate, seconds: openSeconds, fire });
      const { api, worker } = rss.stop();
      const strip = ({ samples: _s, ...r }: LoadResult) => r;
      return {
        id: "cancel",
        title: "Cancel throughput and latency",
        tables: [{
          title: "POST /jobs/{id}/cancel, each on a different queued job (ms)",
          columns: ["load", "requests", "errors", "req/s", "p50", "p99", "p99.9"],
          rows: [...CONCURRENCY.map((c) => row(`closed, concurrency ${c}`, closed[c]!)), row(`open, ${rate}/s (half the best)`, open)],
        }, {
          title: "peak RSS during scenario 1 (MiB, sampled every 100 ms over the closed and open loops)",
          columns: ["process", "peak RSS"],
          rows: [["api", api!.peakMiB], ["worker", worker!.peakMiB]],
        }],
        data: {
          closed: Object.fromEntries(Object.entries(closed).map(([k, v]) => [k, strip(v)])), open: { rate, ...strip(open) }, best,
          rss: { api: { peakMiB: api!.peakMiB }, worker: { peakMiB: worker!.peakMiB } },
        },
        histograms: [{ label: `cancel, open loop ${rate}/s`, samples: open.samples }, { label: "cancel, closed c=16", samples: closed[16]!.samples }],
      };
    });
  },
};
