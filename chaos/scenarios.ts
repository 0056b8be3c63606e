import { Redis } from "ioredis";
import { QUEUE_NAME } from "../domain/contracts.ts";
import { migrate } from "../prisma/migrate.ts";
import { runScenario, type Ctx, type Report, type ScenarioEnv } from "./harness.ts";
import { PrivatePostgres, PrivateRedis, sleep, until } from "./infra.ts";
import type { Service } from "../scripts/service.ts";
import { isLiveContainer, logLines, type LogLine } from "./system.ts";
import { webhookReceiverDown } from "./webhook-scenario.ts";
import { clusterFailover } from "./cluster-scenario.ts";

// The faults of `npm run chaos` (README, "When things fail"; webhook-receiver-down is in
// chaos/webhook-scenario.ts). Each is a Plan for the shared harness: what to seed, which
// processes to run, and the fault to inject while the load runs.

export interface Scenario {
  name: string;
  summary: string;
  run(env: ScenarioEnv): Promise<Report>;
}

const REAPER = { intervalMs: 500, windowMs: 3_000 };
const size = (env: ScenarioEnv, short: number, full: number) => (env.short ? short : full);

const workerKill9: Scenario = {
  name: "worker-kill9",
  summary: "kill -9 one of two workers in the middle of a burst of intents, then start it again",
  run: (env) => runScenario(env, {
    name: "worker-kill9",
    world: { queued: size(env, 80, 710), long: size(env, 4, 10), steppy: 0, sources: size(env, 4, 20) },
    cancelLong: size(env, 4, 10),
    rerunsPerSource: size(env, 8, 14),
    system: {
      workers: 2, resultTimeoutMs: 10_000, lockMs: 2_000, reaper: REAPER, sim: { runners: 2, capacity: 5 },
      // A short hold before each commit lets the kill land, for sure, on written but uncommitted intents.
      workerEnv: (i): Record<string, string> => (i === 0 ? { FAULT_HOLD_TX_MS: "25" } : {}),
    },
    concurrency: 24,
    async fault(ctx) {
      await ctx.load.reached(0.3);
      const w = ctx.sys.worker(0);
      await until("worker-0 to hold an open intent transaction", async () => holding(w) >= 1, 30_000, 2);
      const applied = logLines(w, "intent applied").length;
      await ctx.sys.killWorker(0);
      ctx.notes.push(`worker-0 killed with SIGKILL after applying ${applied} intents, at ${ctx.load.answered} answered`);
      await ctx.sys.startWorker(0);
    },
    async recover(ctx) {
      const n = await redelivered(ctx);
      ctx.notes.push(`${n} intents the killed worker held were handed to a live worker after its lock expired`);
      if (n === 0) ctx.problems.push("the kill caught no intent in flight: the scenario proved nothing");
    },
  }),
};

/** Intents BullMQ found stalled (their worker's lock lapsed) and handed out again. */
async function redelivered(ctx: Ctx): Promise<number> {
  const redis = new Redis(ctx.sys.cfg.redisUrl);
  try {
    const keys = await redis.keys(`${ctx.sys.cfg.prefix}:${QUEUE_NAME}:*`);
    const jobs = keys.filter((k) => /:(cancel-job|rerun-run)-[^:]+$/.test(k));
    const stalled = await Promise.all(jobs.map((k) => redis.hget(k, "stc")));
    return stalled.filter((v) => Number(v ?? 0) > 0).length;
  } finally {
    redis.disconnect();
  }
}

const uidsOf = (lines: LogLine[]) => lines.map((l) => String(l.intent));

function counts(uids: string[]): Map<string, number> {
  const m = new Map<string, number>();
  for (const u of uids) m.set(u, (m.get(u) ?? 0) + 1);
  return m;
}

/** Intents a worker has written but not yet committed (fault-injection hold in progress). */
function holding(w: Service): number {
  const applied = counts(uidsOf(logLines(w, "intent applied")));
  const held = counts(uidsOf(logLines(w, "fault injection: holding transaction before commit")));
  return [...held].filter(([u, n]) => n > (applied.get(u) ?? 0)).length;
}

/** Intents processed to the end more than once (by the resumed worker and by the one that took over). */
function appliedTwice(ctx: Ctx): string[] {
  const all = counts(ctx.sys.all.filter((p) => p.role.startsWith("worker")).flatMap((p) => uidsOf(logLines(p.service, "intent applied"))));
  return [...all].filter(([, n]) => n > 1).map(([u]) => u);
}

const workerStall: Scenario = {
  name: "worker-stall",
  summary: "SIGSTOP a worker holding open intent transactions past the BullMQ lock, then SIGCONT it",
  run: (env) => runScenario(env, {
    name: "worker-stall",
    world: { queued: size(env, 60, 300), long: 2, steppy: 0, sources: size(env, 4, 10) },
    cancelLong: 2,
    rerunsPerSource: size(env, 5, 10),
    system: {
      workers: 2, resultTimeoutMs: 10_000, lockMs: 2_000, reaper: REAPER, sim: { runners: 1, capacity: 2 },
      // Worker 0 keeps each transaction open a while, so the stop always catches some mid-commit.
      workerEnv: (i): Record<string, string> => (i === 0 ? { FAULT_HOLD_TX_MS: "150" } : {}),
    },
    concurrency: 16,
    async fault(ctx) {
      await ctx.load.reached(0.2);
      const w = ctx.sys.worker(0);
      await until("worker-0 to hold two open intent transactions", async () => holding(w) >= 2, 30_000, 5);
      w.proc.kill("SIGSTOP");
      const held = holding(w);
      // Long enough for the lock to expire and the stalled-job check to hand the intents over.
      await sleep(2 * ctx.sys.cfg.lockMs + 1_000);
      const before = logLines(w, "intent applied").length;
      w.proc.kill("SIGCONT");
      ctx.notes.push(`worker-0 stopped for ${2 * ctx.sys.cfg.lockMs + 1_000} ms holding ${held} open intent transactions`);
      await until("the resumed worker to finish an intent", async () => logLines(w, "intent applied").length > before, 30_000);
    },
    async recover(ctx) {
      const twice = appliedTwice(ctx);
      const rows = await ctx.prisma.lifecycleIntent.count({ where: { uid: { in: twice } } });
      ctx.notes.push(`${twice.length} intents were processed twice (the resumed worker's commit and a redelivery); they have ${rows} lifecycle_intents rows`);
      if (rows !== twice.length) ctx.problems.push(`${twice.length} intents processed twice have ${rows} rows`);
      if (twice.length === 0) ctx.problems.push("the stall overlapped no intent: the scenario proved nothing");
    },
  }),
};

async function runningJobs(ctx: Ctx): Promise<bigint[]> {
  return (await ctx.prisma.workflowJob.findMany({ where: { status: "running" }, select: { id: true } })).map((j) => j.id);
}

/** The reaper, not a new life of the simulator, must end what the dead one held. */
async function reaperEnds(ctx: Ctx, held: bigint[]): Promise<void> {
  const { windowMs, intervalMs } = ctx.sys.cfg.reaper;
  const open = () => ctx.prisma.workflowJob.count({ where: { id: { in: held }, status: { in: ["queued", "running"] } } });
  // A timeout is a finding, not a failure: whatever is still open is counted just below.
  await until("the reaper to end the dead simulator's jobs", async () => (await open()) === 0, windowMs + 4 * intervalMs + 5_000).catch(() => {});
  const left = await open();
  const reaped = new Set(ctx.sys.all.flatMap((p) => logLines(p.service, "reaper ended job")).map((l) => Number(l.job_id)));
  ctx.nonTerminal += left;
  ctx.notes.push(`${held.length} jobs were running when the simulator died; the reaper ended ${held.filter((id) => reaped.has(Number(id))).length} of them; ${left} still open after the window`);
}

/** The restarted simulator (same names, same state dir) must kill what its previous life left. */
async function restartSweeps(ctx: Ctx): Promise<void> {
  const before = ctx.sys.containers().map((c) => c.pid);
  const stranded = before.filter(isLiveContainer);
  await ctx.sys.startSim();
  const alive = before.filter(isLiveContainer);
  ctx.orphans += alive.length;
  ctx.notes.push(`the restarted simulator swept ${stranded.length - alive.length} of ${stranded.length} stranded containers`);
  if (alive.length) ctx.problems.push(`containers of the killed simulator still alive after its restart: ${alive.join(", ")}`);
}

const runnerKill9: Scenario = {
  name: "runner-kill9",
  summary: "kill -9 the runner simulator holding running jobs; the reaper ends them; the restarted simulator sweeps its orphans",
  run(env) {
    let held: bigint[] = [];
    return runScenario(env, {
      name: "runner-kill9",
      world: { queued: size(env, 40, 200), long: size(env, 4, 10), steppy: size(env, 2, 4), sources: size(env, 3, 10) },
      cancelLong: size(env, 2, 5),
      rerunsPerSource: size(env, 4, 5),
      system: { workers: 1, resultTimeoutMs: 10_000, lockMs: 2_000, reaper: REAPER, sim: { runners: 2, capacity: 8 } },
      concurrency: 16,
      async fault(ctx) {
        await ctx.load.reached(0.3);
        await ctx.sys.killSim();
        held = await runningJobs(ctx);
        const pids = ctx.sys.containers().map((c) => c.pid).filter(isLiveContainer);
        ctx.notes.push(`runner-sim killed with SIGKILL holding ${held.length} running jobs, ${pids.length} live containers`);
      },
      async recover(ctx) {
        await reaperEnds(ctx, held);
        await restartSweeps(ctx);
      },
    });
  },
};

function answeredAfter(ctx: Ctx, at: number): number {
  return ctx.load.results().filter((r) => r.answers.some((a) => a.at > at && (a.status === 201 || a.status === 202))).length;
}

function outageAnswers(ctx: Ctx, from: number, to: number): string {
  const during = ctx.load.results().flatMap((r) => r.answers).filter((a) => a.at >= from && a.at <= to + 1_000);
  const by = (s: number) => during.filter((a) => a.status === s).length;
  return `${during.length} answers during the outage (503 ${by(503)}, 2xx ${by(201) + by(202)}, 500 ${by(500)}, network ${by(0)}), slowest ${Math.round(Math.max(0, ...during.map((a) => a.ms)))} ms`;
}

const redisRestart: Scenario = {
  name: "redis-restart",
  summary: "stop and restart a private Redis (appendonly) under load; 503s within the bounded wait, recovery without restarts",
  async run(env) {
    const redis = await PrivateRedis.create();
    try {
      return await runScenario({ ...env, redisUrl: redis.url }, {
        name: "redis-restart",
        world: { queued: size(env, 40, 300), long: size(env, 2, 6), steppy: size(env, 0, 4), sources: size(env, 3, 10) },
        cancelLong: size(env, 2, 6),
        rerunsPerSource: size(env, 5, 10),
        system: { workers: 2, resultTimeoutMs: 3_000, lockMs: 2_000, reaper: REAPER, sim: { runners: 2, capacity: 6 } },
        concurrency: 16,
        async fault(ctx) {
          await ctx.load.reached(0.25);
          const from = Date.now();
          // CHAOS_REDIS_STOP=kill: SIGKILL instead of Redis' clean shutdown.
          await redis.stop(process.env.CHAOS_REDIS_STOP === "kill" ? "SIGKILL" : "SIGTERM");
          await sleep(Number(process.env.CHAOS_REDIS_OUTAGE_MS ?? size(env, 1_500, 3_000)));
          await redis.start();
          const to = Date.now();
          await ctx.load.reached(1);
          ctx.notes.push(`Redis down ${to - from} ms; ${outageAnswers(ctx, from, to)}; ${answeredAfter(ctx, to)} intents acknowledged after it came back`);
          if (answeredAfter(ctx, to) === 0) ctx.problems.push("no intent was acknowledged after Redis came back");
        },
      });
    } finally {
      await redis.dispose();
    }
  },
};

const postgresRestart: Scenario = {
  name: "postgres-restart",
  summary: "stop and restart a private Postgres cluster under load; workers retry with backoff, the backlog drains",
  async run(env) {
    const pg = await PrivatePostgres.create();
    try {
      const dbUrl = pg.url("chaos");
      await migrate(dbUrl);
      return await runScenario({ ...env, dbUrl }, {
        name: "postgres-restart",
        world: { queued: size(env, 60, 300), long: size(env, 2, 6), steppy: size(env, 2, 6), sources: size(env, 4, 10) },
        cancelLong: size(env, 2, 6),
        rerunsPerSource: size(env, 5, 10),
        // The heartbeat window outlasts the outage: runners that could not heartbeat to a
        // database that was down are not lost.
        system: { workers: 2, resultTimeoutMs: 5_000, lockMs: 2_000, reaper: { intervalMs: 500, windowMs: 10_000 }, sim: { runners: 2, capacity: 8 } },
        concurrency: 16,
        async fault(ctx) {
          await ctx.load.reached(0.25);
          const from = Date.now();
          await pg.stop("fast");
          await sleep(Number(process.env.CHAOS_PG_OUTAGE_MS ?? size(env, 2_000, 4_000)));
          await pg.start();
          const to = Date.now();
          await ctx.load.reached(1);
          ctx.notes.push(`Postgres down ${to - from} ms; ${outageAnswers(ctx, from, to)}; ${answeredAfter(ctx, to)} intents acknowledged after it came back`);
        },
      });
    } finally {
      await pg.dispose();
    }
  },
};

export const SCENARIOS: Scenario[] = [workerKill9, redisRestart, postgresRestart, runnerKill9, workerStall, webhookReceiverDown, clusterFailover];
