import * as ops from "../../admin/ops.ts";
import { seedRuns, withPg } from "./data.ts";
import type { HttpClient } from "./http.ts";
import { transitionKey, type Listener } from "./listeners.ts";
import { cpuSnapshot, cpuSpent, type CpuGroup, type Own } from "./cpu.ts";
import { closedLoop, openLoop, type LoadResult } from "./load.ts";
import type { Stack } from "./stack.ts";
import { cancelFire, type CancelLoad } from "../scenarios/cancel.ts";

// The events scenario's pieces: its fixtures (running jobs with job tokens, hooks on the
// bench user's repository), its two loads (an open loop of runner status reports, a closed
// loop of cancels) and the waits that tell when everything a load caused has arrived.

/** Reported jobs per run; each run has one more job that is never reported, so no report completes its run. */
const REPORTED_PER_RUN = 16;
const STEPS = 3;
const POLL_MS = 20;

export const jobToken = (jobId: number) => `shithub_job_bench${jobId}`;

/** Waits for `cond` with a deadline, polling (the condition reads Postgres or the listeners). */
export async function until(what: string, cond: () => Promise<boolean> | boolean, timeoutMs: number): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!(await cond())) {
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

/**
 * `n` running jobs, each with a job token (jobToken) on one fresh runner, ordered so that
 * consecutive reports change different runs (as the width scenario's): a report then never
 * waits for another's lock on its run.
 */
export async function seedRunning(stack: Stack, n: number): Promise<number[]> {
  return withPg(stack.dbUrl, async (c) => {
    const runs = Math.ceil(n / REPORTED_PER_RUN);
    const { runIds } = await seedRuns(c, { repoId: stack.repoId, runs, jobsPerRun: REPORTED_PER_RUN + 1, stepsPerJob: STEPS, state: "queued", needs: "none" });
    const { rows } = await c.query<{ id: string }>(`SELECT id::text FROM workflow_jobs WHERE run_id = ANY($1::bigint[]) ORDER BY job_index, run_id`, [runIds]);
    const all = rows.map((r) => Number(r.id));
    const runner = (await c.query<{ id: string }>(
      `INSERT INTO runners (name, labels, capacity, status, last_heartbeat_at) VALUES ('bench-events-' || gen_random_uuid(), '{ubuntu-latest}', 1000000, 'active', now()) RETURNING id::text`)).rows[0]!.id;
    await c.query(`UPDATE workflow_jobs SET status = 'running', runner_id = $1, started_at = now() WHERE id = ANY($2::bigint[])`, [runner, all]);
    await c.query(`UPDATE workflow_runs SET status = 'running', started_at = now() WHERE id = ANY($1::bigint[])`, [runIds]);
    await c.query(`
      INSERT INTO job_tokens (job_id, runner_id, token_hash, expires_at)
      SELECT j, $1, encode(sha256(convert_to('shithub_job_bench' || j, 'UTF8')), 'hex'), now() + interval '1 day' FROM unnest($2::bigint[]) j`, [runner, all]);
    // job_index < REPORTED_PER_RUN come first; the spare job of each run is last.
    return all.slice(0, n);
  });
}

export interface Hooks {
  ids: bigint[];
  setActive(ids: readonly bigint[], active: boolean): Promise<void>;
}

/** One hook per receiver URL on bench/repo, created inactive, through the API (as a user would). */
export async function createHooks(stack: Stack, client: HttpClient, urls: readonly string[]): Promise<Hooks & { token: string }> {
  const { token } = await ops.createToken(stack.prisma, { user: "bench", scopes: ["repo:read", "admin:repo_hook"] });
  const headers = { authorization: `Bearer ${token}` };
  const base = `${stack.apis[0]}/api/v1/repos/bench/repo/hooks`;
  const ids: bigint[] = [];
  for (const url of urls) {
    const r = await client.request("POST", base, headers, JSON.stringify({ url, secret: "bench-secret", events: ["workflow_job", "workflow_run"], active: false }));
    if (r.status !== 201) throw new Error(`creating a hook answered ${r.status}: ${r.body.slice(0, 300)}`);
    ids.push(BigInt((JSON.parse(r.body) as { id: number }).id));
  }
  const setActive = async (which: readonly bigint[], active: boolean) => {
    for (const id of which) {
      const r = await client.request("PATCH", `${base}/${id}`, headers, JSON.stringify({ active }));
      if (r.status !== 200) throw new Error(`PATCH hook ${id} answered ${r.status}: ${r.body.slice(0, 300)}`);
    }
  };
  return { ids, setActive, token };
}

/** The highest dispatched event id (a stream opened now gets what comes after it). */
export async function lastEventId(stack: Stack): Promise<bigint> {
  return withPg(stack.dbUrl, async (c) => BigInt((await c.query<{ m: string }>(`SELECT COALESCE(max(id), 0)::text AS m FROM events`)).rows[0]!.m));
}

/**
 * Everything caused so far has arrived: every event dispatched, no delivery left to send,
 * and every listener has what it should (each stream the streamed events after `since`,
 * each hook's receiver its deliveries). Throws if a stream ended.
 */
export interface Settle {
  since: bigint;
  streams: Listener[];
  receivers: { hookId: bigint; listener: Listener }[];
  /** Jobs that must be cancelled first: until then their events are not even written. */
  cancelled: number[];
}

export async function waitSettled(stack: Stack, o: Settle, timeoutMs: number): Promise<void> {
  await withPg(stack.dbUrl, (c) => until("the events and deliveries to settle", async () => {
    if (o.streams.some((s) => s.ended())) throw new Error("an event stream ended during the measurement (cut by the API?)");
    const open = await c.query<{ n: string }>(`SELECT count(*)::text AS n FROM workflow_jobs WHERE id = ANY($1::bigint[]) AND status <> 'cancelled'`, [o.cancelled]);
    if (open.rows[0]!.n !== "0") return false;
    const { rows } = await c.query<{ undispatched: string; pending: string; streamed: string }>(`
      SELECT (SELECT count(*) FROM events WHERE id IS NULL)::text AS undispatched,
             (SELECT count(*) FROM hook_deliveries WHERE state IN ('waiting', 'queued', 'retrying'))::text AS pending,
             (SELECT count(*) FROM events WHERE id > $1 AND repo_id = $2 AND type <> 'intent')::text AS streamed`, [o.since, stack.repoId]);
    const r = rows[0]!;
    if (r.undispatched !== "0" || r.pending !== "0") return false;
    if (o.streams.some((s) => s.count() < Number(r.streamed))) return false;
    for (const h of o.receivers) {
      const d = await c.query<{ n: string }>(`SELECT count(*)::text AS n FROM hook_deliveries WHERE hook_id = $1`, [h.hookId]);
      if (h.listener.count() < Number(d.rows[0]!.n)) return false;
    }
    return true;
  }, timeoutMs));
}

function ownProcesses(stack: Stack): Own {
  const pids = new Map<number, CpuGroup>();
  for (const [name, s] of stack.services) {
    if (s.proc.pid !== undefined) pids.set(s.proc.pid, name.startsWith("api") ? "api" : name.startsWith("worker") ? "worker" : "other");
  }
  return { pids, dbName: stack.dbName };
}

export interface CancelPhase {
  load: LoadResult;
  /** Every cancel sent (warm-up included) ÷ the time from the first send until everything it caused had arrived. */
  settledRps: number;
  settledSeconds: number;
  sent: number;
  /** CPU seconds by process group from the first send until settled. */
  cpu: Record<CpuGroup, number>;
}

/** The cancel scenario's closed loop over `jobs`; then waits until all it caused has arrived. */
export async function cancelPhase(stack: Stack, client: HttpClient, jobs: number[], o: { concurrency: number; total: number; warmup: number; settle: (cancelled: number[]) => Promise<void> }): Promise<CancelPhase> {
  const l: CancelLoad = { stack, jobs, next: 0 };
  const own = ownProcesses(stack);
  const cpu0 = cpuSnapshot(own);
  const t0 = performance.now();
  const load = await closedLoop({ concurrency: o.concurrency, total: o.total, warmup: o.warmup, fire: cancelFire(l, client) });
  if (load.errors > 0) throw new Error(`${load.errors} of ${load.requests} cancels were not answered 202`);
  await o.settle(jobs.slice(0, l.next));
  const settledSeconds = (performance.now() - t0) / 1000;
  const cpu = cpuSpent(cpu0, cpuSnapshot(own));
  return { load, sent: l.next, cpu, settledSeconds: +settledSeconds.toFixed(3), settledRps: +(l.next / settledSeconds).toFixed(1) };
}

export interface ReportPhase {
  load: LoadResult;
  jobs: number[];
  /** When each report's 200 arrived (wall ms), by job id: after the commit. */
  answered: Map<number, number>;
  /** Sends per second over the send span (did the generator keep the schedule). */
  sentRate: number;
}

/** An open loop of runner status reports (completed/success), one per job, at `rate`/s. */
export async function reportPhase(stack: Stack, client: HttpClient, jobs: number[], o: { rate: number; seconds: number; clock: () => number }): Promise<ReportPhase> {
  const body = JSON.stringify({ status: "completed", conclusion: "success" });
  const answered = new Map<number, number>();
  const sentAt: number[] = [];
  const load = await openLoop({
    rate: o.rate, seconds: o.seconds,
    fire: async (i) => {
      const id = jobs[i];
      if (id === undefined) throw new Error("ran out of seeded running jobs");
      sentAt.push(performance.now());
      const r = await client.request("POST", `${stack.apis[0]}/api/v1/jobs/${id}/status`, { authorization: `Bearer ${jobToken(id)}` }, body);
      answered.set(id, o.clock());
      return r.status === 200 && (JSON.parse(r.body) as { changed?: boolean }).changed === true;
    },
  });
  if (load.errors > 0) throw new Error(`${load.errors} of ${load.requests} status reports did not change their job`);
  const span = (sentAt[sentAt.length - 1]! - sentAt[0]!) / 1000;
  return { load, jobs: jobs.slice(0, load.requests), answered, sentRate: span > 0 ? +((sentAt.length - 1) / span).toFixed(1) : NaN };
}

/** Waits until every listener has every one of `jobs`' completed transitions. */
export async function waitTransitions(listeners: Listener[], jobs: number[], timeoutMs: number): Promise<void> {
  const keys = jobs.map((id) => transitionKey(id, "completed"));
  await until(`${keys.length} transitions on ${listeners.length} listeners`, () => {
    if (listeners.some((l) => l.ended())) throw new Error("an event stream ended during the measurement");
    return listeners.every((l) => keys.every((k) => l.arrivals.has(k)));
  }, timeoutMs);
}

/** Each job's commit stamp: completed_at, the Date the API took before it began the report's transaction (wall ms). */
export async function commitStamps(stack: Stack, jobs: number[]): Promise<Map<number, number>> {
  return withPg(stack.dbUrl, async (c) => {
    const { rows } = await c.query<{ id: string; at: number }>(
      `SELECT id::text, (extract(epoch FROM completed_at) * 1000)::float8 AS at FROM workflow_jobs WHERE id = ANY($1::bigint[]) AND status = 'completed'`, [jobs]);
    return new Map(rows.map((r) => [Number(r.id), r.at]));
  });
}

/** When the dispatcher dispatched each job's completed event: events.dispatched_at, the Date it took before its pass's commit (wall ms). */
export async function dispatchStamps(stack: Stack, jobs: number[]): Promise<Map<number, number>> {
  return withPg(stack.dbUrl, async (c) => {
    const { rows } = await c.query<{ id: string; at: number }>(`
      SELECT job_id::text AS id, (extract(epoch FROM dispatched_at) * 1000)::float8 AS at FROM events
      WHERE job_id = ANY($1::bigint[]) AND type = 'workflow_job' AND action = 'completed' AND dispatched_at IS NOT NULL`, [jobs]);
    return new Map(rows.map((r) => [Number(r.id), r.at]));
  });
}
