import { afterAll, beforeAll, expect, inject } from "vitest";
import { createPrisma } from "../../infra/db.ts";
import { createPool } from "../../infra/sql.ts";
import { startSystem, type Service, type System } from "../../testing/index.ts";
import { startAclRedis, type AclRedis } from "./acl-redis.ts";
import type { TestDb } from "./db.ts";
import { expectInvariants } from "./invariants.ts";
import { buildWorld } from "./world.ts";

// systemSuite (system.ts) on the test kit (testing/README.md): the kit starts api, worker
// and the fleet on a database of its own; this adds what this repository's own tests
// check beside a user's: each process as its Redis ACL user on a private Redis that must
// refuse nothing, the world of world.ts, and the invariants at the end.

export interface KitSuite {
  kit: System;
  db: TestDb;
  world: Awaited<ReturnType<typeof buildWorld>>;
  /** The API's base URL. */
  api: string;
  apiProc: Service;
  workerProc: Service;
  /** The default runner-sim fleet. */
  sim: Service;
  redis: AclRedis;
  /** The admin's URL of that Redis, for tests that read or publish on it directly. */
  redisUrl: string;
  /** Starts another runner-sim fleet against this API; resolves once it is ready. */
  startFleet(env: Record<string, string>): Promise<Service>;
}

export function kitSuite(label: string, fleetEnv: Record<string, string>, serviceEnv: Record<string, string> = {}): KitSuite {
  const s = {} as KitSuite;
  const prefix = `${label.replace(/[^a-z0-9]/gi, "").slice(0, 6)}${process.pid}${Math.random().toString(36).slice(2, 7)}`;
  beforeAll(async () => {
    s.redis = await startAclRedis(prefix);
    s.redisUrl = s.redis.adminUrl;
    const u = s.redis.urls;
    s.kit = await startSystem({
      databaseUrl: inject("serverUrl"), redisUrl: s.redisUrl, queuePrefix: prefix, env: serviceEnv,
      apiEnv: { REDIS_URL: u.api }, workerEnv: { REDIS_URL: u.worker }, fleet: { env: { ...fleetEnv, REDIS_URL: u.runner } },
    });
    const url = s.kit.databaseUrl;
    s.db = { name: new URL(url).pathname.slice(1), url, prisma: createPrisma(url, 5), pool: createPool(url, 10), drop: () => s.kit.stop() };
    s.world = await buildWorld(s.db.prisma);
    s.api = s.kit.apiUrl;
    s.apiProc = s.kit.processes.api;
    s.workerProc = s.kit.processes.worker;
    s.sim = s.kit.processes.fleets[0]!;
    s.startFleet = (env) => s.kit.startFleet({ env: { ...env, REDIS_URL: u.runner } });
  });
  afterAll(async () => {
    if (s.db) {
      await expectInvariants(s.db);
      await s.db.prisma.$disconnect();
      await s.db.pool.end();
    }
    await s.kit?.stop();
    if (s.redis) {
      const denied = (await s.redis.denials()).map((d) => `${d.username}: ${d.reason} ${d.object}`);
      await s.redis.stop();
      expect(denied, "commands Redis refused a process of the system").toEqual([]);
    }
  });
  return s;
}
