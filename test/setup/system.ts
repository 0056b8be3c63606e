import { afterAll, beforeAll, expect } from "vitest";
import type { AclRole } from "../../infra/redis-acl.ts";
import { startAclRedis, type AclRedis } from "./acl-redis.ts";
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
  /** The suite's private Redis: each process gets its role's user, tests the admin's URL. */
  redis: AclRedis;
  /** The admin's URL of that Redis, for tests that read or publish on it directly. */
  redisUrl: string;
  /** Starts one more process of the system (stopped with the others). */
  start(entry: string, env?: Record<string, string>): Service;
  /** Starts another runner-sim fleet against this API. */
  startFleet(env: Record<string, string>): Service;
}

const REG = "registration-secret-for-system-tests";

/** Which Redis user a process of the system runs as (docs/security.md, "Redis roles"). */
const ROLE_OF: Record<string, AclRole> = { "api/server.ts": "api", "worker/main.ts": "worker", "runner-sim/main.ts": "runner" };

/**
 * The whole system as separate processes — api, worker, a runner-sim fleet — on the test
 * file's own database, queue prefix and Redis with ACLs on; at the end, the invariants
 * must hold and Redis must have refused no command.
 */
export function systemSuite(label: string, fleetEnv: Record<string, string>, serviceEnv: Record<string, string> = {}): SystemSuite {
  const s = {} as SystemSuite;
  const services: Service[] = [];
  const prefix = `${label.replace(/[^a-z0-9]/gi, "").slice(0, 6)}${process.pid}${Math.random().toString(36).slice(2, 7)}`;
  s.start = (entry, env = {}) => {
    const role = ROLE_OF[entry];
    if (!role) throw new Error(`no Redis role for ${entry}`);
    const svc = spawnService(entry, { DATABASE_URL: s.db.url, REDIS_URL: s.redis.urls[role], QUEUE_PREFIX: prefix, RUNNER_REGISTRATION_TOKEN: REG, ...env });
    services.push(svc);
    return svc;
  };
  s.startFleet = (env) => s.start("runner-sim/main.ts", { API_URL: s.api, HEARTBEAT_MS: "100", CANCEL_GRACE_MS: "1000", CANCEL_POLL_MS: "2000", ...env });
  beforeAll(async () => {
    s.redis = await startAclRedis(prefix);
    s.redisUrl = s.redis.adminUrl;
    s.db = await createTestDb(label);
    s.world = await buildWorld(s.db.prisma);
    s.apiProc = s.start("api/server.ts", { PORT: "0", HOST: "127.0.0.1", ...serviceEnv });
    s.workerProc = s.start("worker/main.ts", { WORKER_PORT: "0", ...serviceEnv });
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
    if (s.redis) {
      const denied = (await s.redis.denials()).map((d) => `${d.username}: ${d.reason} ${d.object}`);
      await s.redis.stop();
      expect(denied, "commands Redis refused a process of the system").toEqual([]);
    }
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
