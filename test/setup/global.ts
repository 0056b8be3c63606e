import { execFileSync } from "node:child_process";
import pg from "pg";
import { Redis } from "ioredis";
import type { TestProject } from "vitest/node";
import { migrate } from "../../prisma/migrate.ts";
import { withDatabase } from "../../prisma/engine.ts";

// Integration tests need a real Postgres and Redis. They come from DATABASE_URL and
// REDIS_URL (or the local defaults); on a machine without them but with a Docker engine,
// testcontainers starts both. Each test file then clones its own database from the
// template migrated here.

declare module "vitest" {
  export interface ProvidedContext {
    serverUrl: string;
    redisUrl: string;
    templateDb: string;
  }
}

const DEFAULT_DB = "postgresql://postgres@127.0.0.1:5432/postgres";
const DEFAULT_REDIS = "redis://127.0.0.1:6379";

async function reachable(dbUrl: string, redisUrl: string): Promise<string | null> {
  const c = new pg.Client({ connectionString: dbUrl, connectionTimeoutMillis: 3000 });
  try {
    await c.connect();
    await c.end();
  } catch (e) {
    return `Postgres at ${redact(dbUrl)}: ${(e as Error).message}`;
  }
  const r = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 0, connectTimeout: 3000, retryStrategy: () => null });
  try {
    await r.connect();
    await r.ping();
  } catch (e) {
    return `Redis at ${redisUrl}: ${(e as Error).message}`;
  } finally {
    r.disconnect();
  }
  return null;
}

function dockerAvailable(): boolean {
  try {
    execFileSync("docker", ["info"], { stdio: "ignore", timeout: 5000 });
    return true;
  } catch {
    return false;
  }
}

function redact(u: string): string {
  return u.replace(/\/\/([^:@/]+):[^@/]+@/, "//$1:***@");
}

async function startContainers(): Promise<{ dbUrl: string; redisUrl: string; stop: () => Promise<void> }> {
  const { PostgreSqlContainer } = await import("@testcontainers/postgresql");
  const { RedisContainer } = await import("@testcontainers/redis");
  const [pgc, rc] = await Promise.all([new PostgreSqlContainer("postgres:15").start(), new RedisContainer("redis:7").start()]);
  return {
    dbUrl: pgc.getConnectionUri(),
    redisUrl: rc.getConnectionUrl(),
    stop: async () => { await Promise.all([pgc.stop(), rc.stop()]); },
  };
}

export default async function setup(project: TestProject) {
  let dbUrl = process.env.DATABASE_URL ?? DEFAULT_DB;
  let redisUrl = process.env.REDIS_URL ?? DEFAULT_REDIS;
  let stop: (() => Promise<void>) | null = null;
  const problem = await reachable(withDatabase(dbUrl, "postgres"), redisUrl);
  if (problem) {
    const explicit = process.env.DATABASE_URL !== undefined || process.env.REDIS_URL !== undefined;
    if (explicit || !dockerAvailable()) {
      throw new Error(
        `integration tests need Postgres and Redis. ${problem}.\n` +
          "Start them (see README, 'Running the tests'), set DATABASE_URL and REDIS_URL, or install a Docker engine so testcontainers can start them.",
      );
    }
    const started = await startContainers();
    ({ dbUrl, redisUrl, stop } = started);
  }
  const templateDb = `actions_tmpl_${process.pid}_${Date.now().toString(36)}`;
  await migrate(withDatabase(dbUrl, templateDb));
  project.provide("serverUrl", withDatabase(dbUrl, "postgres"));
  project.provide("redisUrl", redisUrl);
  project.provide("templateDb", templateDb);

  return async () => {
    const c = new pg.Client({ connectionString: withDatabase(dbUrl, "postgres") });
    await c.connect();
    await c.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(templateDb)} WITH (FORCE)`);
    await c.end();
    if (stop) await stop();
  };
}
