import pg from "pg";
import * as ops from "../../admin/ops.ts";
import { pickJobSql } from "../../domain/data/claim.ts";
import { render } from "../../infra/sqlf.ts";
import { cpuSnapshot, cpuSpent, type CpuGroup, type Own } from "../lib/cpu.ts";
import { httpClient, type HttpClient } from "../lib/http.ts";
import { withStack, type Stack } from "../lib/stack.ts";
import { summarize, type Summary } from "../lib/stats.ts";
import { ms, type BenchContext, type Scenario, type ScenarioResult } from "../lib/types.ts";

// Runners that poll (docs/scaling.md, "Runner long-polling"). Three measurements, each on
// stacks of its own: (1) N idle runners — a lean HTTP loop each, not N simulators — beating
// as before (wait=0 once a second, RUNNER_SEEN_WRITE_MS=0: the row written every beat) and
// after (long polls, the row written every 15 s): Postgres commits/s, WAL bytes/s, CPU of
// api and Postgres; (2) job queued → claimed with 20 idle runners, before and after; (3) an
// idle heartbeat's latency, and the claim query's, with 0, 100k and 1M queued jobs that no
// runner of its labels can take (the query as it was, for comparison).

const IDLE = { quick: 1_000, full: 1_000 };
const WINDOW_S = { quick: 12, full: 30 };
const WAIT_S = { quick: 10, full: 30 };
const LATENCY_RUNNERS = 20;
const LATENCY_JOBS = { quick: 30, full: 100 };
const BACKLOGS = [0, 100_000, 1_000_000];
const BEATS = { quick: 100, full: 300 };

const WORKFLOW = (label: string) => `name: Lat\non: push\njobs:\n  one:\n    runs-on: ${label}\n    steps:\n      - run: echo hi\n`;

// The claim as it was before the label index (commit 9e2bfba's parent), to show what it cost.
const OLD_PICK = `SELECT j.id FROM workflow_jobs j JOIN workflow_runs r ON r.id = j.run_id
  WHERE j.status = 'queued' AND NOT j.cancel_requested AND (j.runs_on = '' OR string_to_array(j.runs_on, ',') <@ $1::text[])
    AND NOT EXISTS (SELECT 1 FROM workflow_jobs d WHERE d.run_id = j.run_id AND d.job_key = ANY(j.needs) AND (d.status <> 'completed' OR d.conclusion IS DISTINCT FROM 'success'))
  ORDER BY j.id LIMIT 1 FOR UPDATE OF j, r SKIP LOCKED`;

interface Mode { label: string; waitS: number; seenWriteMs: number }

const own = (s: Stack): Own => ({
  pids: new Map([...s.services].map(([n, v]) => [v.proc.pid!, (n.startsWith("api") ? "api" : "worker") as CpuGroup])),
  dbName: s.dbName,
});

async function register(s: Stack, n: number, prefix: string, labels: string[], capacity = 1): Promise<string[]> {
  const tokens: string[] = [];
  for (let i = 0; i < n; i += 25) {
    const batch = await Promise.all(Array.from({ length: Math.min(25, n - i) }, (_, k) => ops.registerRunner(s.prisma, { name: `${prefix}-${i + k}`, labels, capacity })));
    tokens.push(...batch.map((r) => r.token));
  }
  return tokens;
}

/** One lean runner: beats until `stop`; wait=0 sleeps a second between beats, a long poll beats again at once. */
function beatLoop(client: HttpClient, url: string, token: string, waitS: number, stop: { done: boolean; statuses?: Map<number, number> }, onClaim?: (body: string, at: number) => void): Promise<void> {
  const path = `${url}/api/v1/runners/heartbeat${waitS > 0 ? `?wait=${waitS}` : ""}`;
  const headers = { authorization: `Bearer ${token}` };
  return (async () => {
    // Spread the first beats over a second, as runners that did not start together are.
    await new Promise((r) => setTimeout(r, Math.random() * 1000));
    while (!stop.done) {
      const a = await client.request("POST", path, headers, "{}").catch(() => ({ status: 0, body: "" }));
      if (a.status === 200) onClaim?.(a.body, performance.now());
      stop.statuses?.set(a.status, (stop.statuses.get(a.status) ?? 0) + 1);
      if (waitS === 0 || a.status !== 204) await new Promise((r) => setTimeout(r, 1000));
    }
  })();
}

async function pgCounters(c: pg.Client, db: string): Promise<{ commits: number; wal: bigint }> {
  const r = await c.query<{ commits: string; wal: string }>(
    "SELECT (SELECT xact_commit FROM pg_stat_database WHERE datname = $1)::text AS commits, (pg_current_wal_lsn() - '0/0'::pg_lsn)::text AS wal", [db]);
  return { commits: Number(r.rows[0]!.commits), wal: BigInt(r.rows[0]!.wal.split(".")[0]!) };
}

async function idlePhase(ctx: BenchContext, m: Mode) {
  const n = ctx.quick ? IDLE.quick : IDLE.full;
  const windowS = ctx.quick ? WINDOW_S.quick : WINDOW_S.full;
  return withStack(`runners_idle_${m.label}`, { apiEnv: { RUNNER_SEEN_WRITE_MS: String(m.seenWriteMs) } }, async (s) => {
    const tokens = await register(s, n, "idle", ["nobody-serves-this"]);
    const client = httpClient(n + 10);
    const c = new pg.Client({ connectionString: s.dbUrl });
    await c.connect();
    const stop = { done: false, statuses: new Map<number, number>() };
    try {
      const loops = tokens.map((t) => beatLoop(client, s.apis[0]!, t, m.waitS, stop));
      await new Promise((r) => setTimeout(r, 3_000)); // every runner has beaten once
      stop.statuses.clear();
      const [p0, cpu0, t0] = [await pgCounters(c, s.dbName), cpuSnapshot(own(s)), performance.now()];
      await new Promise((r) => setTimeout(r, windowS * 1000));
      const [p1, cpu1, t1] = [await pgCounters(c, s.dbName), cpuSnapshot(own(s)), performance.now()];
      // Answers within the window only: closing the client below cuts the polls still held.
      const statuses = new Map(stop.statuses);
      stop.done = true;
      client.close();
      await Promise.allSettled(loops);
      const secs = (t1 - t0) / 1000;
      const cpu = cpuSpent(cpu0, cpu1);
      return {
        mode: m.label, runners: n, seconds: +secs.toFixed(1), beatsPerS: +([...statuses.values()].reduce((a, b) => a + b, 0) / secs).toFixed(1),
        statuses: Object.fromEntries(statuses), commitsPerS: +((p1.commits - p0.commits) / secs).toFixed(1),
        walBytesPerS: Math.round(Number(p1.wal - p0.wal) / secs), apiCpuPct: +((cpu.api / secs) * 100).toFixed(1), pgCpuPct: +((cpu.postgres / secs) * 100).toFixed(1),
      };
    } finally {
      stop.done = true;
      await c.end();
    }
  });
}

async function latencyPhase(ctx: BenchContext, m: Mode): Promise<Summary> {
  return withStack(`runners_lat_${m.label}`, { apiEnv: { RUNNER_SEEN_WRITE_MS: String(m.seenWriteMs) } }, async (s) => {
    const tokens = await register(s, LATENCY_RUNNERS, "lat", ["bench-lat"], 256);
    const client = httpClient(LATENCY_RUNNERS + 5);
    const stop = { done: false };
    const claimedAt = new Map<number, number>();
    const onClaim = (body: string, at: number) => claimedAt.set((JSON.parse(body) as { job: { id: number } }).job.id, at);
    const loops = tokens.map((t) => beatLoop(client, s.apis[0]!, t, m.waitS, stop, onClaim));
    const samples: number[] = [];
    try {
      await new Promise((r) => setTimeout(r, 2_000));
      for (let i = 0; i < (ctx.quick ? LATENCY_JOBS.quick : LATENCY_JOBS.full); i++) {
        const run = await ops.createRunFromSource(s.prisma, { repo: "bench/repo", workflowFile: ".shithub/workflows/lat.yml", headSha: `${i}`.padStart(40, "a"), source: WORKFLOW("bench-lat") });
        // From the creation's commit answered: a runner that claimed before it was even answered counts as 0.
        const t0 = performance.now();
        const jobId = (run.job_ids as number[])[0]!;
        const deadline = Date.now() + 10_000;
        while (!claimedAt.has(jobId) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 1));
        if (!claimedAt.has(jobId)) throw new Error(`job ${jobId} not claimed within 10 s`);
        samples.push(Math.max(0, claimedAt.get(jobId)! - t0));
        // Beats land at random points of the second: do not queue in step with them.
        await new Promise((r) => setTimeout(r, 100 + Math.random() * 200));
      }
    } finally {
      stop.done = true;
      client.close();
      await Promise.allSettled(loops);
    }
    return summarize(samples);
  });
}

async function fill(c: pg.Client, n: number): Promise<void> {
  await c.query("SET session_replication_role = replica");
  // Triggers (and so cascades) are off in this mode: the jobs go first, then their runs.
  await c.query("DELETE FROM workflow_jobs WHERE run_id IN (SELECT id FROM workflow_runs WHERE workflow_file = 'backlog.yml')");
  await c.query("DELETE FROM workflow_runs WHERE workflow_file = 'backlog.yml'");
  const runs = Math.max(1, Math.ceil(n / 10));
  const base = await c.query<{ id: string }>(`INSERT INTO workflow_runs (repo_id, run_index, workflow_file, workflow_name, head_sha, head_ref, event)
    SELECT (SELECT id FROM repos LIMIT 1), 100000 + g, 'backlog.yml', 'backlog', 'sha', 'main', 'push' FROM generate_series(1, $1::int) g RETURNING id`, [n === 0 ? 0 : runs]);
  if (n > 0) {
    const first = Number(base.rows[0]!.id);
    await c.query(`INSERT INTO workflow_jobs (run_id, job_index, job_key, name, runs_on)
      SELECT $1::bigint + (g - 1) / 10, (g - 1) % 10, 'j' || ((g - 1) % 10), 'j', 'gpu,nobody' FROM generate_series(1, $2::int) g`, [first, n]);
  }
  await c.query("SET session_replication_role = origin");
  await c.query("ANALYZE workflow_jobs");
  await c.query("ANALYZE workflow_runs");
}

async function timeQuery(c: pg.Client, name: string, text: string, values: unknown[], n: number): Promise<Summary> {
  const out: number[] = [];
  // A statement of its own per backlog: the first executions plan each time, then Postgres keeps a generic plan, as for the API's named statements.
  const warmup = 10;
  for (let i = 0; i < n + warmup; i++) {
    await c.query("BEGIN");
    const t0 = performance.now();
    await c.query({ name: `q${text.length}_${name}`, text, values });
    if (i >= warmup) out.push(performance.now() - t0);
    await c.query("ROLLBACK");
  }
  return summarize(out);
}

async function backlogPhase(ctx: BenchContext) {
  return withStack("runners_backlog", { apiEnv: { RUNNER_SEEN_WRITE_MS: "15000" } }, async (s) => {
    const [token] = await register(s, 1, "backlog", ["linux", "x64"]);
    const client = httpClient(2);
    const c = new pg.Client({ connectionString: s.dbUrl });
    await c.connect();
    const rows: { backlog: number; heartbeat: Summary; claimSql: Summary; oldClaimSql: Summary }[] = [];
    try {
      const pick = render(pickJobSql(["linux", "x64"]));
      for (const n of BACKLOGS) {
        await fill(c, n);
        const beats: number[] = [];
        for (let i = 0; i < (ctx.quick ? BEATS.quick : BEATS.full); i++) {
          const t0 = performance.now();
          const a = await client.request("POST", `${s.apis[0]}/api/v1/runners/heartbeat`, { authorization: `Bearer ${token}` }, "{}");
          if (a.status !== 204) throw new Error(`idle heartbeat answered ${a.status}`);
          beats.push(performance.now() - t0);
        }
        const q = ctx.quick ? 20 : 50;
        rows.push({ backlog: n, heartbeat: summarize(beats), claimSql: await timeQuery(c, String(n), pick.text, pick.values, q), oldClaimSql: await timeQuery(c, String(n), OLD_PICK, [["linux", "x64"]], Math.min(q, 10)) });
        ctx.log(`runners: backlog ${n}: heartbeat p50 ${rows.at(-1)!.heartbeat.p50} ms, claim SQL p50 ${rows.at(-1)!.claimSql.p50} ms (old ${rows.at(-1)!.oldClaimSql.p50} ms)`);
      }
    } finally {
      client.close();
      await c.end();
    }
    return rows;
  });
}

const BEFORE: Mode = { label: "before", waitS: 0, seenWriteMs: 0 };
const after = (ctx: BenchContext): Mode => ({ label: "after", waitS: ctx.quick ? WAIT_S.quick : WAIT_S.full, seenWriteMs: 15_000 });

export const runnersScenario: Scenario = {
  id: "runners",
  title: "Runners that poll: idle heartbeats, queued → claimed, claim with an unmatched backlog",
  async run(ctx: BenchContext): Promise<ScenarioResult> {
    const idle: Awaited<ReturnType<typeof idlePhase>>[] = [];
    for (const m of [BEFORE, after(ctx)]) {
      idle.push(await idlePhase(ctx, m));
      ctx.log(`runners: idle ${m.label}: ${JSON.stringify(idle.at(-1))}`);
    }
    const lat: [string, Summary][] = [];
    for (const m of [BEFORE, after(ctx)]) {
      lat.push([m.label, await latencyPhase(ctx, m)]);
      ctx.log(`runners: queued→claimed ${m.label}: p50 ${lat.at(-1)![1].p50} p99 ${lat.at(-1)![1].p99} ms`);
    }
    const backlog = await backlogPhase(ctx);
    const perRunner = (r: (typeof idle)[number]) => +(r.commitsPerS / r.runners).toFixed(4);
    return {
      id: "runners",
      title: this.title,
      tables: [
        {
          title: `${idle[0]!.runners} idle runners (before: wait=0 once a second, every beat writes the row; after: wait=${after(ctx).waitS} s, RUNNER_SEEN_WRITE_MS=15000)`,
          columns: ["mode", "seconds", "heartbeats/s", "Postgres commits/s", "commits/s per runner", "WAL bytes/s", "api CPU %", "Postgres CPU %", "answers"],
          rows: idle.map((r) => [r.mode, r.seconds, r.beatsPerS, r.commitsPerS, perRunner(r), r.walBytesPerS, r.apiCpuPct, r.pgCpuPct, JSON.stringify(r.statuses)]),
          note: "WAL bytes are the whole server's (pg_current_wal_lsn); commits are the stack's database's (pg_stat_database.xact_commit), read-only statements in autocommit included.",
        },
        {
          title: `Job queued → claimed, ${LATENCY_RUNNERS} idle runners`,
          columns: ["mode", "n", "p50 ms", "p90 ms", "p99 ms", "max ms"],
          rows: lat.map(([l, s]) => [l, s.n, ms(s.p50), ms(s.p90), ms(s.p99), ms(s.max)]),
        },
        {
          title: "Idle heartbeat and claim query with queued jobs no runner of its labels can take",
          columns: ["unmatched queued jobs", "heartbeat p50 ms", "heartbeat p99 ms", "claim SQL p50 ms", "claim SQL p99 ms", "old claim SQL p50 ms"],
          rows: backlog.map((r) => [r.backlog, ms(r.heartbeat.p50), ms(r.heartbeat.p99), ms(r.claimSql.p50), ms(r.claimSql.p99), ms(r.oldClaimSql.p50)]),
        },
      ],
      data: { idle, latency: Object.fromEntries(lat), backlog },
    };
  },
};
