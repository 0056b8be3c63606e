import * as ops from "../../admin/ops.ts";
import { closedLoop, type LoadResult } from "../lib/load.ts";
import { httpClient } from "../lib/http.ts";
import { seedRuns, seedWorkflowSource, withPg } from "../lib/data.ts";
import { withStack, type Stack } from "../lib/stack.ts";
import { ms, type BenchContext, type Scenario, type ScenarioResult } from "../lib/types.ts";

// Rerun throughput and latency: each request reruns a different completed run of 5 jobs ×
// 3 steps (POST /runs/{id}/rerun → 201). A rerun locks its source run's chain, so reusing
// one source would measure that row lock; every request gets its own source instead.
// run_index allocation still serializes every rerun of one repository on the repo row
// (one busy repository, the realistic worst case); one more loop spreads the sources over
// 8 repositories to show what that lock costs.

const CONCURRENCY = [1, 16, 64];
// Counted requests per loop (each after a warm-up of a tenth as many): quick keeps ≥ 300 behind each p99.
const QUICK_PER_LEVEL = 330;
const FULL_PER_LEVEL = 1500;
const SPREAD_REPOS = 8;
const SPREAD_CONCURRENCY = 64;
const JOBS = 5;
const STEPS = 3;

type Stripped = Omit<LoadResult, "samples">;
const strip = ({ samples: _s, ...r }: LoadResult): Stripped => r;

/** Completed source runs in each repo, interleaved so that consecutive requests change repo. */
async function seedSources(stack: Stack, repoIds: bigint[], perRepo: number): Promise<number[]> {
  const perRepoIds = await withPg(stack.dbUrl, async (c) => {
    const out: number[][] = [];
    for (const repoId of repoIds) {
      await seedWorkflowSource(c, repoId);
      out.push((await seedRuns(c, { repoId, runs: perRepo, jobsPerRun: JOBS, stepsPerJob: STEPS, state: "completed" })).runIds);
    }
    return out;
  });
  return Array.from({ length: perRepo * repoIds.length }, (_, i) => perRepoIds[i % repoIds.length]![Math.floor(i / repoIds.length)]!);
}

interface Loop {
  sources: number[];
  /** 201 answers, warm-up included: each one must have left a run behind. */
  created: number;
  /** Unexpected answers by status (0: transport error), warm-up included. */
  failures: Record<string, number>;
}

function rerunFire(stack: Stack, loop: Loop, client: ReturnType<typeof httpClient>) {
  const headers = { authorization: `Bearer ${stack.token}` };
  return async (i: number): Promise<boolean> => {
    const id = loop.sources[i];
    if (id === undefined) throw new Error("ran out of seeded source runs");
    const base = stack.apis[i % stack.apis.length]!;
    const r = await client.request("POST", `${base}/api/v1/runs/${id}/rerun`, headers).catch(() => ({ status: 0 }));
    if (r.status === 201) loop.created++;
    else loop.failures[r.status] = (loop.failures[r.status] ?? 0) + 1;
    return r.status === 201;
  };
}

/** Throws unless the database holds exactly one rerun (5 jobs, 15 steps) per 201 answer. */
async function verify(stack: Stack, loop: Loop, label: string): Promise<{ runs: number; jobs: number; steps: number }> {
  const { rows } = await withPg(stack.dbUrl, (c) => c.query<{ runs: string; jobs: string; steps: string }>(`
    WITH r AS (SELECT id FROM workflow_runs WHERE parent_run_id = ANY($1::bigint[])),
         j AS (SELECT id FROM workflow_jobs WHERE run_id IN (SELECT id FROM r))
    SELECT (SELECT count(*) FROM r) AS runs, (SELECT count(*) FROM j) AS jobs,
           (SELECT count(*) FROM workflow_steps WHERE job_id IN (SELECT id FROM j)) AS steps`, [loop.sources]));
  const got = { runs: Number(rows[0]!.runs), jobs: Number(rows[0]!.jobs), steps: Number(rows[0]!.steps) };
  const want = { runs: loop.created, jobs: loop.created * JOBS, steps: loop.created * JOBS * STEPS };
  if (got.runs !== want.runs || got.jobs !== want.jobs || got.steps !== want.steps) {
    throw new Error(`rerun ${label}: database holds ${JSON.stringify(got)} after ${loop.created} answers 201, expected ${JSON.stringify(want)}`);
  }
  return got;
}

async function measure(ctx: BenchContext, stack: Stack, label: string, sources: number[], concurrency: number, warmup: number) {
  const loop: Loop = { sources, created: 0, failures: {} };
  const client = httpClient(256);
  try {
    ctx.log(`rerun ${label}`);
    const result = await closedLoop({ concurrency, total: sources.length, warmup, fire: rerunFire(stack, loop, client) });
    const verified = await verify(stack, loop, label);
    return { result, verified, failures: loop.failures };
  } finally {
    client.close();
  }
}

type Measured = Awaited<ReturnType<typeof measure>>;

const row = (label: string, m: Measured) => {
  const r = m.result;
  return [label, r.requests, r.errors, r.rps, ms(r.latency.p50), ms(r.latency.p99), ms(r.latency.p999)];
};

function report(closed: Record<string, Measured>, spread: Measured, perLevel: number): ScenarioResult {
  const all = [...Object.values(closed), spread];
  const failures = all.flatMap((m) => Object.entries(m.failures).map(([s, n]) => `${n} × ${s === "0" ? "transport error" : `HTTP ${s}`}`));
  const verified = all.reduce((a, m) => ({ runs: a.runs + m.verified.runs, jobs: a.jobs + m.verified.jobs, steps: a.steps + m.verified.steps }), { runs: 0, jobs: 0, steps: 0 });
  return {
    id: "rerun",
    title: "Rerun throughput and latency",
    tables: [{
      title: `POST /runs/{id}/rerun, each on a different completed run, ${JOBS} jobs × ${STEPS} steps (ms)`,
      columns: ["load", "requests", "errors", "req/s", "p50", "p99", "p99.9"],
      rows: [
        ...CONCURRENCY.map((c) => row(`closed, concurrency ${c}, one repository`, closed[c]!)),
        row(`closed, concurrency ${SPREAD_CONCURRENCY}, ${SPREAD_REPOS} repositories`, spread),
      ],
      note: `${perLevel} requests per loop after a warm-up of ${perLevel / 10}. Checked by SQL after each loop: `
        + `${verified.runs} new runs, ${verified.jobs} jobs and ${verified.steps} steps, exactly one rerun per 201 answer. `
        + `One repository: every rerun takes that repository's row lock (run_index) until commit.`,
    }],
    data: {
      closed: Object.fromEntries(Object.entries(closed).map(([k, m]) => [k, strip(m.result)])),
      spread: { repos: SPREAD_REPOS, concurrency: SPREAD_CONCURRENCY, ...strip(spread.result) },
      verified,
    },
    histograms: [{ label: "rerun, closed c=16", samples: closed[16]!.result.samples }],
    notes: failures.length ? [`Unexpected answers (warm-up included): ${failures.join(", ")}.`] : [],
  };
}

export const rerunScenario: Scenario = {
  id: "rerun",
  title: "Rerun throughput and latency",
  async run(ctx: BenchContext): Promise<ScenarioResult> {
    const perLevel = ctx.quick ? QUICK_PER_LEVEL : FULL_PER_LEVEL;
    const warmup = perLevel / 10;
    const total = perLevel + warmup;
    return withStack("rerun", {}, async (stack) => {
      const t = performance.now();
      const sources = await seedSources(stack, [stack.repoId], total * CONCURRENCY.length);
      const repos: bigint[] = [];
      for (let i = 1; i <= SPREAD_REPOS; i++) repos.push(BigInt((await ops.createRepo(stack.prisma, { owner: "bench", name: `repo-${i}` })).id));
      const spreadSources = await seedSources(stack, repos, Math.ceil(total / SPREAD_REPOS));
      ctx.log(`rerun: seeded ${sources.length + spreadSources.length} completed runs in ${((performance.now() - t) / 1000).toFixed(1)} s`);
      const closed: Record<string, Measured> = {};
      for (const [k, c] of CONCURRENCY.entries()) {
        closed[c] = await measure(ctx, stack, `closed c=${c}`, sources.slice(k * total, (k + 1) * total), c, warmup);
      }
      const spread = await measure(ctx, stack, `closed c=${SPREAD_CONCURRENCY}, ${SPREAD_REPOS} repos`, spreadSources.slice(0, total), SPREAD_CONCURRENCY, warmup);
      return report(closed, spread, perLevel);
    });
  },
};
