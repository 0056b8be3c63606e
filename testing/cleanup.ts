import pg from "pg";
import { Redis } from "ioredis";
import { withDatabase } from "../prisma/engine.ts";

// What stop() removes besides the processes: the system's database and its queue keys.

/** Drops the database, ending connections still open on it (a process killed mid-query). */
export async function dropDatabase(databaseUrl: string): Promise<void> {
  const name = decodeURIComponent(new URL(databaseUrl).pathname.slice(1));
  const c = new pg.Client({ connectionString: withDatabase(databaseUrl, "postgres"), connectionTimeoutMillis: 5_000 });
  c.on("error", () => {});
  await c.connect();
  try {
    await c.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(name)} WITH (FORCE)`);
  } finally {
    await c.end();
  }
}

/** Deletes every key under `prefix:` (BullMQ's queues, the signals, the rate limits). */
export async function dropQueueKeys(redisUrl: string, prefix: string): Promise<void> {
  const r = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => null, connectTimeout: 5_000 });
  r.on("error", () => {});
  try {
    await r.connect();
    let cursor = "0";
    do {
      const [next, keys] = await r.scan(cursor, "MATCH", `${prefix}:*`, "COUNT", 1000);
      if (keys.length > 0) await r.unlink(...keys);
      cursor = next;
    } while (cursor !== "0");
  } finally {
    r.disconnect();
  }
}

/** Keys under `prefix:` (for a test that stop() left none). */
export async function queueKeys(redisUrl: string, prefix: string): Promise<string[]> {
  const r = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => null });
  r.on("error", () => {});
  try {
    await r.connect();
    return await r.keys(`${prefix}:*`);
  } finally {
    r.disconnect();
  }
}
