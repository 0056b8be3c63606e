import { existsSync } from "node:fs";
import type pg from "pg";
import { sha256 } from "../../domain/tokens.ts";
import { closedLoop, type LoadResult } from "../lib/load.ts";
import { seedRuns, withPg } from "../lib/data.ts";
import { withStack, type Stack } from "../lib/stack.ts";
import { ms, type BenchContext, type Scenario, type ScenarioResult, type Table } from "../lib/types.ts";
import { cancelFire, seedQueued, type CancelLoad } from "./cancel.ts";

// Cancel latency as the database grows: one stack, background data grown in steps (completed
// runs of 5 jobs × 3 steps, one applied cancel intent per 5 jobs, and the job_transitions the
// insert trigger writes), ANALYZE, then cancels of fresh queued jobs at concurrency 1. A
// statement that lost its index shows up as a latency ratio that grows with the data, and
// in the plans taken at the largest level.

const JOBS_PER_RUN = 5;
const STEPS_PER_JOB = 3;
const HOT_TABLES = /Seq Scan on (workflow_jobs|workflow_steps|workflow_runs|lifecycle_intents)\b/g;

export interface HotContext { jobId: number; runId: number; userId: number; repoId: number; tokenHash: string }
export interface HotStatement { name: string; sql: string; params: (ctx: HotContext) => unknown[] }

export interface Plan { plan: string; indexed: boolean; seqScans: string[]; executionMs: number | null; error?: string }

interface Level {
  jobs: number;
  /** workflow_jobs and lifecycle_intents rows when measured (the queued jobs of earlier levels included). */
  rows: { jobs: number; intents: number };
  seedSeconds: number;
  analyzeSeconds: number;
  requests: number;
  errors: number;
  latency: LoadResult["latency"];
  ratioToFirst: number;
}

const secondsSince = (t: number) => +((performance.now() - t) / 1000).toFixed(1);

/** Adds `jobs` background jobs (completed runs) and one applied cancel intent per run. */
async function grow(c: pg.Client, stack: Stack, jobs: number): Promise<void> {
  const { rows } = await c.query<{ max: string | null }>(`SELECT max(id) AS max FROM workflow_jobs`);
  const after = rows[0]!.max ?? "0";
  await seedRuns(c, { repoId: stack.repoId, runs: Math.ceil(jobs / JOBS_PER_RUN), jobsPerRun: JOBS_PER_RUN, stepsPerJob: STEPS_PER_JOB, state: "completed" }, false);
  // job_index 0 is one job per run: one intent per 5 jobs, aimed at real jobs.
  await c.query(`
    INSERT INTO lifecycle_intents (uid, kind, target_id, actor_user_id, state, result, created_at, applied_at)
    SELECT 'bench-bg-' || j.id, 'cancel_job', j.id, $2, 'applied', '{"ok":true,"body":{}}', now(), now()
    FROM workflow_jobs j WHERE j.id > $1 AND j.job_index = 0`, [after, stack.userId]);
}

async function counts(c: pg.Client): Promise<{ jobs: number; intents: number }> {
  const { rows } = await c.query<{ jobs: string; intents: string }>(
    `SELECT (SELECT count(*) FROM workflow_jobs) AS jobs, (SELECT count(*) FROM lifecycle_intents) AS intents`);
  return { jobs: Number(rows[0]!.jobs), intents: Number(rows[0]!.intents) };
}

/** EXPLAIN ANALYZE runs the statement: all of them in one transaction that is rolled back. */
export async function explainAll(c: pg.Client, statements: HotStatement[], ctx: HotContext): Promise<Record<string, Plan>> {
  const plans: Record<string, Plan> = {};
  await c.query("BEGIN");
  try {
    for (const s of statements) {
      await c.query("SAVEPOINT hot");
      try {
        const { rows } = await c.query<{ "QUERY PLAN": string }>(`EXPLAIN (ANALYZE, BUFFERS, FORMAT TEXT) ${s.sql}`, s.params(ctx));
        const plan = rows.map((r) => r["QUERY PLAN"]).join("\n");
        const seqScans = [...new Set([...plan.matchAll(HOT_TABLES)].map((m) => m[1]!))];
        const exec = /Execution Time: ([\d.]+) ms/.exec(plan);
        plans[s.name] = { plan, indexed: seqScans.length === 0, seqScans, executionMs: exec ? Number(exec[1]) : null };
        await c.query("RELEASE SAVEPOINT hot");
      } catch (e) {
        await c.query("ROLLBACK TO SAVEPOINT hot");
        plans[s.name] = { plan: "", indexed: false, seqScans: [], executionMs: null, error: (e as Error).message };
      }
    }
  } finally {
    await c.query("ROLLBACK");
  }
  return plans;
}

/** HOT_STATEMENTS from bench/lib/hot-sql.ts, or null while that module does not exist. */
async function hotStatements(): Promise<HotStatement[] | null> {
  const url = new URL("../lib/hot-sql.ts", import.meta.url);
  if (!existsSync(url)) return null;
  const mod = (await import(url.href)) as { HOT_STATEMENTS?: HotStatement[] };
  if (!mod.HOT_STATEMENTS) throw new Error("bench/lib/hot-sql.ts exports no HOT_STATEMENTS");
  return mod.HOT_STATEMENTS;
}

async function measureLevel(ctx: BenchContext, stack: Stack, l: CancelLoad, requests: number) {
  const warmup = 30;
  l.jobs = await seedQueued(stack, requests + warmup + 1);
  l.next = 0;
  const r = await closedLoop({ concurrency: 1, total: requests + warmup, warmup, fire: cancelFire(l) });
  if (r.errors > 0) ctx.log(`growth: ${r.errors} cancels did not answer 202`);
  return r;
}

async function runLevels(ctx: BenchContext, stack: Stack, l: CancelLoad, c: pg.Client, levels: number[], requests: number): Promise<Level[]> {
  const out: Level[] = [];
  let seeded = 0;
  for (const jobs of levels) {
    ctx.log(`growth: seeding to ${jobs} background jobs`);
    let t = performance.now();
    await grow(c, stack, jobs - seeded);
    seeded = jobs;
    const seedSeconds = secondsSince(t);
    t = performance.now();
    // A million rows accumulate over months, not in a minute: vacuum (hint bits, visibility
    // map) and checkpoint after the bulk load, so the level measures the data's size and
    // not the background work the load itself triggered.
    await c.query("VACUUM (ANALYZE)");
    await c.query("CHECKPOINT");
    const analyzeSeconds = secondsSince(t);
    ctx.log(`growth: seeded in ${seedSeconds} s, vacuum + checkpoint ${analyzeSeconds} s; cancels at concurrency 1`);
    const r = await measureLevel(ctx, stack, l, requests);
    const first = out[0]?.latency.p50 ?? r.latency.p50;
    out.push({ jobs, rows: await counts(c), seedSeconds, analyzeSeconds, requests: r.requests, errors: r.errors, latency: r.latency, ratioToFirst: +(r.latency.p50 / first).toFixed(2) });
  }
  return out;
}

async function plansAt(stack: Stack, l: CancelLoad, c: pg.Client): Promise<Record<string, Plan> | null> {
  const statements = await hotStatements();
  if (!statements) return null;
  // The one queued job the last loop left alone.
  const jobId = l.jobs[l.next]!;
  const { rows } = await c.query<{ run_id: string; status: string }>(`SELECT run_id, status FROM workflow_jobs WHERE id = $1`, [jobId]);
  if (rows[0]?.status !== "queued") throw new Error(`growth: job ${jobId} for the plans is not queued`);
  return explainAll(c, statements, { jobId, runId: Number(rows[0].run_id), userId: Number(stack.userId), repoId: Number(stack.repoId), tokenHash: sha256(stack.token) });
}

const k = (n: number) => (n >= 1e6 ? `${n / 1e6}M` : `${n / 1e3}k`);

function tables(levels: Level[], plans: Record<string, Plan> | null, quick: boolean): Table[] {
  const t: Table[] = [{
    title: "POST /jobs/{id}/cancel at concurrency 1 as the database grows (ms)",
    columns: ["background jobs", "jobs / intents in db", "seed s", "vacuum + checkpoint s", "requests", "errors", "p50", "p99", `p50 / p50(${k(levels[0]!.jobs)})`],
    rows: levels.map((v) => [k(v.jobs), `${v.rows.jobs} / ${v.rows.intents}`, v.seedSeconds, v.analyzeSeconds, v.requests, v.errors, ms(v.latency.p50), ms(v.latency.p99), v.ratioToFirst.toFixed(2)]),
    note: `Background: completed runs of ${JOBS_PER_RUN} jobs × ${STEPS_PER_JOB} steps (plus one job_transitions row per job from the insert trigger) `
      + `and one applied cancel intent per ${JOBS_PER_RUN} jobs; grown in steps on one database, VACUUM (ANALYZE) and CHECKPOINT after each step. `
      + `Each cancel is on a fresh queued job (a run of 1 job × 3 steps).${quick ? " Quick mode: 10k and 100k only (1M in full mode)." : ""}`,
  }];
  if (plans) {
    t.push({
      title: `Hot statements at ${k(levels.at(-1)!.jobs)} jobs: EXPLAIN (ANALYZE, BUFFERS), rolled back`,
      columns: ["statement", "uses an index", "seq scan on", "execution ms"],
      rows: Object.entries(plans).map(([name, p]) => [name, p.error ? `error: ${p.error}` : p.indexed ? "yes" : "NO", p.seqScans.join(", ") || "–", p.executionMs ?? "–"]),
    });
  }
  return t;
}

export const growthScenario: Scenario = {
  id: "growth",
  title: "Cancel latency as the database grows",
  async run(ctx: BenchContext): Promise<ScenarioResult> {
    const levels = ctx.quick ? [10_000, 100_000] : [10_000, 100_000, 1_000_000];
    const requests = ctx.quick ? 300 : 1000;
    return withStack("growth", {}, (stack) => withPg(stack.dbUrl, async (c) => {
      const l: CancelLoad = { stack, jobs: [], next: 0 };
      const measured = await runLevels(ctx, stack, l, c, levels, requests);
      const plans = await plansAt(stack, l, c);
      const notes = [
        ...(ctx.quick ? ["Quick mode measures 10k and 100k jobs only; full mode adds 1M."] : []),
        ...(plans
          ? Object.entries(plans).map(([name, p]) => `Plan of ${name}:\n\n\`\`\`text\n${p.error ? `error: ${p.error}` : p.plan}\n\`\`\``)
          : ["Query plans skipped: bench/lib/hot-sql.ts (HOT_STATEMENTS) does not exist yet."]),
      ];
      return {
        id: "growth",
        title: "Cancel latency as the database grows",
        tables: tables(measured, plans, ctx.quick),
        data: { levels: measured, plans },
        notes,
      };
    }));
  },
};
