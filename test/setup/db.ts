import pg from "pg";
import { inject } from "vitest";
import { createPrisma, type PrismaClient } from "../../infra/db.ts";
import { withDatabase } from "../../prisma/engine.ts";
import { createPool } from "../../infra/sql.ts";

export interface TestDb {
  name: string;
  url: string;
  prisma: PrismaClient;
  /** A plain pg pool for assertions that read raw rows. */
  pool: pg.Pool;
  drop(): Promise<void>;
}

async function admin<T>(fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: inject("serverUrl") });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

/**
 * A database of this test file's own, cloned from the migrated template: files run in
 * parallel without seeing each other's rows, and nothing needs cleaning between them.
 */
export async function createTestDb(label = "t"): Promise<TestDb> {
  const name = `actions_${label.replace(/[^a-z0-9]/gi, "").slice(0, 20).toLowerCase()}_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
  const template = inject("templateDb");
  await admin(async (c) => {
    // Two clones of one template at the same instant can collide; the loser retries.
    for (let attempt = 0; ; attempt++) {
      try {
        await c.query(`CREATE DATABASE ${pg.escapeIdentifier(name)} TEMPLATE ${pg.escapeIdentifier(template)}`);
        return;
      } catch (e) {
        if (attempt >= 20 || !/being accessed by other users/.test((e as Error).message)) throw e;
        await new Promise((r) => setTimeout(r, 100 + Math.random() * 200));
      }
    }
  });
  const url = withDatabase(inject("serverUrl"), name);
  const prisma = createPrisma(url, 5);
  // Also the worker's and API's raw pool in integration tests: it must survive the
  // database being dropped under idle connections at teardown.
  const pool = createPool(url, 10);
  return {
    name,
    url,
    prisma,
    pool,
    async drop() {
      await prisma.$disconnect();
      await pool.end();
      await admin((c) => c.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(name)} WITH (FORCE)`));
    },
  };
}

/** Polls `probe` until it returns a truthy value, or fails with `what` after the deadline. */
export async function waitFor<T>(what: string, probe: () => Promise<T | null | undefined | false>, timeoutMs = 10_000, everyMs = 20): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
