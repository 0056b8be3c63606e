import { assertNever } from "../../infra/assert.ts";
import { closedLoop, type LoadResult } from "../lib/load.ts";
import { httpClient, type HttpClient } from "../lib/http.ts";
import { seedRuns, withPg } from "../lib/data.ts";
import { ratio } from "../lib/stats.ts";
import { WRITERS, type Writer } from "../lib/machine.ts";
import { withStack, type Stack } from "../lib/stack.ts";
import { ms, type BenchContext, type Scenario, type ScenarioResult, type Table } from "../lib/types.ts";
import { CONCURRENCY, levelCounts } from "./cancel.ts";

// Does one change cost the same whatever the width of its run? The same closed loops as
// the cancel scenario, on runs of 5 jobs and on runs of 256 (a full matrix), for two
// writers of a run: a user's cancel (POST /jobs/{id}/cancel → 202, through the queue) and
// a runner's status report (POST /jobs/{id}/status completed/success → 200, in the API).
// Every request changes a different job. Jobs are independent (no `needs`, as a matrix's),
// so a change never cascades, and requests go round-robin over at least 2 × the highest
// concurrency runs, so concurrent requests almost never queue on one run's row lock: what
// differs between the widths is what one change costs, not contention.

export const WIDTHS = [5, 256] as const;
const MIN_RUNS = 2 * Math.max(...CONCURRENCY);
const STEPS = 3;

type Stripped = Omit<LoadResult, "samples">;
const strip = ({ samples: _s, ...r }: LoadResult): Stripped => r;

/** Jobs of `width`-job runs, ordered so that consecutive requests change different runs. */
async function seedInterleaved(stack: Stack, width: number, jobs: number): Promise<number[]> {
  return withPg(stack.dbUrl, async (c) => {
    const runs = Math.max(MIN_RUNS, Math.ceil(jobs / width));
    const { runIds } = await seedRuns(c, { repoId: stack.repoId, runs, jobsPerRun: width, stepsPerJob: STEPS, state: "queued", needs: "none" });
    const { rows } = await c.query<{ id: string }>(
      `SELECT id::text FROM workflow_jobs WHERE run_id = ANY($1::bigint[]) ORDER BY job_index, run_id`, [runIds]);
    return rows.map((r) => Number(r.id));
  });
}

const jobToken = (jobId: number) => `shithub_job_bench${jobId}`;

/**
 * Makes the jobs running on one runner, each with a job token (jobToken), as a claim
 * leaves them; the runner's heartbeat is fresh and the stack's window long, so the reaper
 * leaves them alone.
 */
async function startJobs(stack: Stack, jobIds: number[]): Promise<void> {
  await withPg(stack.dbUrl, async (c) => {
    const { rows } = await c.query<{ id: string }>(
      `INSERT INTO runners (name, labels, capacity, status, last_heartbeat_at) VALUES ('bench-width-' || gen_random_uuid(), '{ubuntu-latest}', 1000000, 'active', now()) RETURNING id::text`);
    const runner = rows[0]!.id;
    await c.query(`UPDATE workflow_jobs SET status = 'running', runner_id = $1, started_at = now() WHERE id = ANY($2::bigint[])`, [runner, jobIds]);
    await c.query(`UPDATE workflow_runs SET status = 'running', started_at = now() WHERE id IN (SELECT run_id FROM workflow_jobs WHERE id = ANY($1::bigint[]))`, [jobIds]);
    await c.query(`
      INSERT INTO job_tokens (job_id, runner_id, token_hash, expires_at)
      SELECT j, $1, encode(sha256(convert_to('shithub_job_bench' || j, 'UTF8')), 'hex'), now() + interval '1 day' FROM unnest($2::bigint[]) j`, [runner, jobIds]);
  });
}

function fireOf(stack: Stack, writer: Writer, jobs: number[], client: HttpClient) {
  const cancelHeaders = { authorization: `Bearer ${stack.token}` };
  const report = JSON.stringify({ status: "completed", conclusion: "success" });
  return async (i: number): Promise<boolean> => {
    const id = jobs[i];
    if (id === undefined) throw new Error("ran out of seeded jobs");
    const base = stack.apis[id % stack.apis.length]!;
    switch (writer) {
      case "cancel":
        return (await client.request("POST", `${base}/api/v1/jobs/${id}/cancel`, cancelHeaders)).status === 202;
      case "status": {
        const r = await client.request("POST", `${base}/api/v1/jobs/${id}/status`, { authorization: `Bearer ${jobToken(id)}` }, report);
        return r.status === 200 && (JSON.parse(r.body) as { changed?: boolean }).changed === true;
      }
      default:
        return assertNever(writer, "writer");
    }
  };
}

type Measured = Record<Writer, Record<string, Record<string, LoadResult>>>;

function table(writer: Writer, m: Measured): Table {
  const [narrow, wide] = WIDTHS;
  const what = writer === "cancel" ? "POST /jobs/{id}/cancel on a queued job" : "POST /jobs/{id}/status completed/success on a running job (job token)";
  return {
    title: `${what}, by run width (closed loop, ms)`,
    columns: ["concurrency", "jobs per run", "requests", "errors", "req/s", "p50", "p99", "p99.9", `req/s ÷ ${narrow}-job req/s`],
    rows: CONCURRENCY.flatMap((c) => WIDTHS.map((w) => {
      const r = m[writer][w]![c]!;
      const vsNarrow = w === narrow ? "–" : `${(100 * ratio(r.rps, m[writer][narrow]![c]!.rps)).toFixed(0)}%`;
      return [c, w, r.requests, r.errors, r.rps, ms(r.latency.p50), ms(r.latency.p99), ms(r.latency.p999), vsNarrow];
    })),
    note: `Each request changes a different job of ${wide === undefined ? "" : `${narrow}- or ${wide}-job`} runs of independent jobs × ${STEPS} steps; `
      + `consecutive requests change different runs (at least ${MIN_RUNS} runs per width). At each concurrency the widths run back to back.`,
  };
}

export const widthScenario: Scenario = {
  id: "width",
  title: "Cost by run width: cancel and status report on 5- vs 256-job runs",
  async run(ctx: BenchContext): Promise<ScenarioResult> {
    const counts = levelCounts(ctx.quick);
    const perWriter = counts.total * CONCURRENCY.length + 10;
    // The reaper must not end the seeded running jobs while they wait their turn.
    return withStack("width", { env: { RUNNER_HEARTBEAT_WINDOW_MS: String(24 * 3600_000) } }, async (stack) => {
      const t = performance.now();
      const jobs: Record<Writer, Record<string, number[]>> = { cancel: {}, status: {} };
      for (const w of WIDTHS) {
        jobs.cancel[w] = await seedInterleaved(stack, w, perWriter);
        jobs.status[w] = await seedInterleaved(stack, w, perWriter);
        await startJobs(stack, jobs.status[w]!.slice(0, perWriter));
      }
      ctx.log(`width: seeded in ${((performance.now() - t) / 1000).toFixed(1)} s`);
      const m: Measured = { cancel: {}, status: {} };
      const client = httpClient(256);
      try {
        for (const [k, c] of CONCURRENCY.entries()) {
          for (const writer of WRITERS) {
            for (const w of WIDTHS) {
              ctx.log(`width ${writer} ${w}-job runs, closed loop c=${c}`);
              const slice = jobs[writer][w]!.slice(k * counts.total, (k + 1) * counts.total);
              ((m[writer][w] ??= {}))[c] = await closedLoop({ concurrency: c, ...counts, fire: fireOf(stack, writer, slice, client) });
            }
          }
        }
      } finally {
        client.close();
      }
      const data = Object.fromEntries(WRITERS.map((writer) => [writer, Object.fromEntries(WIDTHS.map((w) => [w,
        Object.fromEntries(Object.entries(m[writer][w]!).map(([c, r]) => [c, strip(r)]))]))]));
      return {
        id: "width",
        title: this.title,
        tables: WRITERS.map((writer) => table(writer, m)),
        data: { widths: [...WIDTHS], ...data },
        histograms: WIDTHS.map((w) => ({ label: `width cancel ${w}-job runs, closed c=64`, samples: m.cancel[w]![64]?.samples ?? [] })),
      };
    });
  },
};
