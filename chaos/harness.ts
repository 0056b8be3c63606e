import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { createPrisma, type PrismaClient } from "../infra/db.ts";
import { until } from "./infra.ts";
import { Load, planOps, type LoadOptions, type OpResult } from "./load.ts";
import { emptyTally, reconcile, waitForQueued, waitNonTerminal, type Tally } from "./reconcile.ts";
import { isLiveContainer, logLines, System, type SystemConfig } from "./system.ts";
import { seedWorld, type World, type WorldSpec } from "./world.ts";
import { dropQueueKeys } from "../scripts/cleanup.ts";
import type { DeliveryTally } from "./webhooks.ts";

// The shape every scenario shares: seed, start the processes, fire the load, inject the
// fault while it runs, let the system recover, then reconcile.

export interface ScenarioEnv {
  /** A fresh, migrated database (scenarios with a private Postgres bring their own). */
  dbUrl: string;
  redisUrl: string;
  /** The short version (npm test) instead of the full one (npm run chaos). */
  short: boolean;
  log: (msg: string) => void;
}

export interface Report {
  tally: Tally;
  problems: string[];
  notes: string[];
  /** Scenarios with a webhook: what its receiver got, held against the events. */
  deliveries?: DeliveryTally;
}

export interface Ctx {
  sys: System;
  load: Load;
  prisma: PrismaClient;
  world: World;
  notes: string[];
  problems: string[];
  /** Found by a scenario's own checks, added to the table's counts. */
  nonTerminal: number;
  orphans: number;
  deliveries?: DeliveryTally;
}

export interface Plan {
  name: string;
  world: WorldSpec;
  /** Long jobs the load cancels (the rest are left for the fault to strand). */
  cancelLong: number;
  rerunsPerSource: number;
  system: Omit<SystemConfig, "dbUrl" | "redisUrl" | "prefix" | "sim"> & { sim?: { runners: number; capacity: number } };
  concurrency: number;
  /** Runs while the load runs. */
  fault(ctx: Ctx): Promise<void>;
  /** Runs once the processes are up, before the load (a scenario's own setup through the API). */
  prepare?(ctx: Ctx): Promise<void>;
  /** Runs after the load and its fault, before the end-state checks. */
  recover?(ctx: Ctx): Promise<void>;
  /** Runs once every abandoned job has ended, before the processes stop: what must drain first. */
  settle?(ctx: Ctx): Promise<void>;
  /** Runs after the processes stopped: checks of what they left, nothing can change it any more. */
  afterStop?(ctx: Ctx): Promise<void>;
}

const containersStarted = (sys: System, ids: number[]) => {
  const seen = new Set(sys.containers().map((c) => c.jobId));
  return ids.every((id) => seen.has(id));
};

async function startAll(env: ScenarioEnv, plan: Plan, prisma: PrismaClient, stateDir: string) {
  const world = await seedWorld(prisma, plan.world);
  const prefix = `chaos${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
  const s = plan.system;
  const sys = new System({ ...s, dbUrl: env.dbUrl, redisUrl: env.redisUrl, prefix, sim: s.sim && { ...s.sim, stateDir } });
  return { world, sys };
}

function loadFor(plan: Plan, world: World, sys: System): { load: Load; opts: LoadOptions } {
  const ops = planOps({
    cancels: [...world.queued, ...world.long.slice(0, plan.cancelLong)],
    reruns: world.sources.map((target) => ({ target, count: plan.rerunsPerSource })),
  });
  const opts: LoadOptions = {
    apiUrl: sys.apiUrl, token: world.token, concurrency: plan.concurrency,
    // The API's wait starts after authentication and lookups on a loaded machine: a hang is
    // an answer far past the configured wait, not a few hundred milliseconds past it.
    boundMs: plan.system.resultTimeoutMs + 5_000, giveUpMs: 60_000,
  };
  return { load: new Load(ops, opts), opts };
}

async function endState(ctx: Ctx, plan: Plan, results: OpResult[], boundMs: number): Promise<Report> {
  const { prisma, sys } = ctx;
  await waitForQueued(prisma, results, 60_000);
  const window = plan.system.reaper.windowMs + 4 * plan.system.reaper.intervalMs + 5_000;
  const finishedByRunner = () => new Set(sys.all.filter((p) => p.role === "runner-sim")
    .flatMap((p) => [...logLines(p.service, "job finished"), ...logLines(p.service, "job could not be reported")]).map((l) => Number(l.job_id)));
  const stuck = await waitNonTerminal(prisma, { timeoutMs: window, windowMs: plan.system.reaper.windowMs, finishedByRunner });
  await plan.settle?.(ctx);
  const crashed = sys.crashed();
  await sys.stop();
  await plan.afterStop?.(ctx);
  // Whatever the simulator's lives started must be gone once the last one stopped.
  const left = [...new Set(sys.containers().map((c) => c.pid))].filter(isLiveContainer);
  for (const pid of left) process.kill(-pid, "SIGKILL");
  const { tally, problems, notes } = await reconcile(prisma, results, boundMs);
  ctx.notes.push(...notes);
  tally.nonTerminal = ctx.nonTerminal + stuck.length;
  tally.orphans = ctx.orphans + left.length;
  if (stuck.length) problems.push(`jobs still open after the reaper window: ${stuck.slice(0, 20).join(", ")}`);
  if (left.length) problems.push(`container processes alive after the simulator stopped: ${left.join(", ")}`);
  for (const c of crashed) problems.push(`a process nobody killed died: ${c}`);
  const errs = sys.all.flatMap((p) => logLines(p.service, "unhandled error").map((l) => `${p.role}: ${JSON.stringify(l.err).slice(0, 200)}`));
  if (errs.length) ctx.notes.push(`${errs.length} unhandled errors logged, first: ${errs[0]}`);
  return { tally, problems: [...ctx.problems, ...problems], notes: ctx.notes, ...(ctx.deliveries ? { deliveries: ctx.deliveries } : {}) };
}

function describe(results: OpResult[]): string {
  const by = (f: string) => results.filter((r) => r.final === f).length;
  const answers = results.flatMap((r) => r.answers);
  const count = (s: number) => answers.filter((a) => a.status === s).length;
  const slowest = Math.max(0, ...answers.map((a) => a.ms));
  return `answers: ${answers.length} (202/201 ${count(202) + count(201)}, 503 ${count(503)}, 500 ${count(500)}, network ${count(0)}); finals: ack ${by("ack")}, queued ${by("queued")}, maybe queued ${by("uncertain")}, refused ${by("refused")}, error ${by("error")}; slowest answer ${Math.round(slowest)} ms`;
}

/** CHAOS_LOG_DIR=dir keeps every process's log of the last run of each scenario. */
function keepLogs(name: string, sys: System): void {
  const dir = process.env.CHAOS_LOG_DIR;
  if (!dir) return;
  mkdirSync(dir, { recursive: true });
  sys.all.forEach((p, i) => writeFileSync(path.join(dir, `${name}-${i}-${p.role}.log`), p.service.output()));
}

/** How long each phase took, for the notes: where a scenario's time goes. */
function phaseClock(): { mark(name: string): void; toString(): string } {
  let last = Date.now();
  const parts: string[] = [];
  return {
    mark(name) {
      parts.push(`${name} ${((Date.now() - last) / 1000).toFixed(1)} s`);
      last = Date.now();
    },
    toString: () => `phases: ${parts.join(", ")}`,
  };
}

async function drive(env: ScenarioEnv, plan: Plan, prisma: PrismaClient, stateDir: string, onSystem: (s: System) => void): Promise<Report> {
  const clock = phaseClock();
  const { world, sys } = await startAll(env, plan, prisma, stateDir);
  onSystem(sys);
  clock.mark("seed");
  await sys.start();
  const held = [...world.long, ...world.steppy];
  if (held.length > 0) await until("the simulator to start every held job", async () => containersStarted(sys, held), 60_000);
  clock.mark("start");
  const { load, opts } = loadFor(plan, world, sys);
  const ctx: Ctx = { sys, load, prisma, world, notes: [], problems: [], nonTerminal: 0, orphans: 0 };
  await plan.prepare?.(ctx);
  const [results] = await Promise.all([load.run(), plan.fault(ctx)]);
  clock.mark("load+fault");
  ctx.notes.push(`load: ${results.length} intents; ${describe(results)}`);
  await plan.recover?.(ctx);
  clock.mark("recover");
  const report = await endState(ctx, plan, results, opts.boundMs);
  clock.mark("end state");
  report.notes.push(clock.toString());
  return report;
}

export async function runScenario(env: ScenarioEnv, plan: Plan): Promise<Report> {
  const stateDir = mkdtempSync(path.join(os.tmpdir(), "chaos-sim-"));
  const prisma = createPrisma(env.dbUrl, 3);
  let sys: System | null = null;
  try {
    return await drive(env, plan, prisma, stateDir, (s) => (sys = s));
  } catch (e) {
    env.log(`scenario failed: ${(e as Error).stack ?? e}`);
    return { tally: { ...emptyTally(), errors: 1 }, problems: [`scenario could not run: ${(e as Error).message.split("\n")[0]}`], notes: [] };
  } finally {
    const s = sys as System | null;
    // Teardown is best effort: a process that would not stop is SIGKILLed just below.
    await s?.stop().catch(() => {});
    if (s) keepLogs(plan.name, s);
    for (const c of s?.containers() ?? []) if (isLiveContainer(c.pid)) process.kill(-c.pid, "SIGKILL");
    await prisma.$disconnect();
    // A scenario on its own Redis server has stopped it; one on the shared Redis leaves keys.
    // Best effort: keys left behind sit under this scenario's own prefix and harm no other.
    if (s) await dropQueueKeys(env.redisUrl, s.cfg.prefix).catch(() => {});
    rmSync(stateDir, { recursive: true, force: true });
  }
}
