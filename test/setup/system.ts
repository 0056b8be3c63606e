import { afterAll, beforeAll, inject } from "vitest";
import { createTestDb, waitFor, type TestDb } from "./db.ts";
import { expectInvariants } from "./invariants.ts";
import { spawnService, type Service } from "./stack.ts";
import { buildWorld } from "./world.ts";

export interface SystemSuite {
  db: TestDb;
  world: Awaited<ReturnType<typeof buildWorld>>;
  /** The API's base URL. */
  api: string;
  apiProc: Service;
  workerProc: Service;
  /** The default runner-sim fleet. */
  sim: Service;
  /** Starts one more process of the system (stopped with the others). */
  start(entry: string, env?: Record<string, string>): Service;
  /** Starts another runner-sim fleet against this API. */
  startFleet(env: Record<string, string>): Service;
}

const REG = "registration-secret-for-system-tests";

/**
 * The whole system as separate processes — api, worker, a runner-sim fleet — on the test
 * file's own database and queue prefix; at the end, the invariants must hold.
 */
export function systemSuite(label: string, fleetEnv: Record<string, string>): SystemSuite {
  const s = {} as SystemSuite;
  const services: Service[] = [];
  const prefix = `${label.replace(/[^a-z0-9]/gi, "").slice(0, 6)}${process.pid}${Math.random().toString(36).slice(2, 7)}`;
  s.start = (entry, env = {}) => {
    const svc = spawnService(entry, { DATABASE_URL: s.db.url, REDIS_URL: inject("redisUrl"), QUEUE_PREFIX: prefix, RUNNER_REGISTRATION_TOKEN: REG, ...env });
    services.push(svc);
    return svc;
  };
  s.startFleet = (env) => s.start("runner-sim/main.ts", { API_URL: s.api, HEARTBEAT_MS: "100", CANCEL_GRACE_MS: "1000", CANCEL_POLL_MS: "2000", ...env });
  beforeAll(async () => {
    s.db = await createTestDb(label);
    s.world = await buildWorld(s.db.prisma);
    s.apiProc = s.start("api/server.ts", { PORT: "0", HOST: "127.0.0.1" });
    s.workerProc = s.start("worker/main.ts", { WORKER_PORT: "0" });
    await s.apiProc.waitForLine(/api listening/);
    s.api = `http://127.0.0.1:${/"port":(\d+)/.exec(s.apiProc.output())![1]}`;
    await s.workerProc.waitForLine(/worker ready/);
    s.sim = s.startFleet(fleetEnv);
    await s.sim.waitForLine(/fleet ready/);
  });
  afterAll(async () => {
    if (s.db) await expectInvariants(s.db);
    for (const svc of services.reverse()) await svc.kill("SIGTERM");
    await s.db?.drop();
  });
  return s;
}

/** A process's JSON log lines. */
export function events(svc: Service): Record<string, any>[] {
  return svc.output().split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l) as Record<string, any>);
}

/** Waits for a log event `msg` about job `jobId`. */
export const event = (svc: Service, msg: string, jobId: number) =>
  waitFor(`${msg} for job ${jobId}`, async () => events(svc).find((e) => e.msg === msg && e.job_id === jobId), 30_000);

export const runWithJobs = (db: TestDb, id: number) =>
  db.prisma.workflowRun.findUniqueOrThrow({ where: { id: BigInt(id) }, include: { jobs: { orderBy: { jobIndex: "asc" }, include: { steps: true } } } });

export const runEnds = (db: TestDb, id: number, timeoutMs = 30_000) =>
  waitFor(`run ${id} to complete`, async () => {
    const r = await runWithJobs(db, id);
    return r.status === "completed" ? r : null;
  }, timeoutMs, 50);
