import { createHash } from "node:crypto";
import pg from "pg";
import type { Tx } from "./db.ts";
import { render, sql as q, type Fragment } from "./sqlf.ts";

// Plain SQL for the hot paths. A cancel is a handful of statements whose cost is round
// trips and client CPU, not planning: through Prisma's interactive transaction it took
// ~10 round trips and most of the worker's CPU. The same statements run either on a raw
// pg transaction (the worker's intents) or inside a Prisma transaction (callers that
// already hold one, such as a rerun superseding older runs), so there is one copy of each.

export interface Sql {
  /** Runs one statement with `$n` parameters and returns its rows. */
  rows<T>(text: string, params: readonly unknown[]): Promise<T[]>;
}

/** Runs a composed statement (infra/sqlf.ts): rendered to its text and values, then as `rows`. */
export function query<T>(db: Sql, f: Fragment): Promise<T[]> {
  const r = render(f);
  return db.rows<T>(r.text, r.values);
}

/** Parameters travel as text (ids, timestamps) so both drivers bind them the same way; casts live in the SQL. */
export const id = (v: bigint | number) => v.toString();
export const ids = (vs: readonly (bigint | number)[]) => vs.map((v) => v.toString());
export const ts = (d: Date) => d.toISOString();

/**
 * The Prisma transaction a caller holds, as the one dialect data functions speak
 * (domain/data takes `Sql` only): for the edges where Prisma serves (admin CLI, runner
 * registration) and still share a transaction with them.
 */
export function prismaSql(tx: Tx): Sql {
  return { rows: <T>(text: string, params: readonly unknown[]) => tx.$queryRawUnsafe<T[]>(text, ...params) };
}

/**
 * A statement text built from a few variants (a target kind, a pending write) is built
 * once per variant: the hot path then passes the same string object every time, whose
 * hash V8 keeps, instead of a fresh kilobyte of text to hash and compare per request.
 */
export function perVariant<K, V>(build: (k: K) => V): (k: K) => V {
  const built = new Map<K, V>();
  return (k) => {
    let v = built.get(k);
    if (v === undefined) {
      v = build(k);
      built.set(k, v);
    }
    return v;
  };
}

// Named statements: each connection parses and plans a statement once and then only binds
// and executes it. The hot statements are CTEs whose planning cost more Postgres CPU than
// running them.
const names = new Map<string, string>();
function named(text: string, values: readonly unknown[]): pg.QueryConfig {
  let name = names.get(text);
  if (name === undefined) {
    name = `s${createHash("sha1").update(text).digest("hex").slice(0, 16)}`;
    names.set(text, name);
  }
  return { name, text, values: values as unknown[] };
}

export function pgSql(client: pg.ClientBase): Sql {
  return { rows: async <T>(text: string, params: readonly unknown[]) => (await client.query(named(text, params))).rows as T[] };
}

export function createPool(databaseUrl: string, max: number): pg.Pool {
  const pool = new pg.Pool({ connectionString: databaseUrl, max, connectionTimeoutMillis: 5_000 });
  // As in createPrisma: an idle client's 'error' (server restart) must not kill the process;
  // the next query on it fails and is retried.
  pool.on("error", () => {});
  pool.on("connect", (client) => client.on("error", () => {}));
  return pool;
}

/**
 * One READ COMMITTED transaction on a pooled connection: each statement takes a fresh
 * snapshot, so what a statement reads after the writers' lock (docs/architecture.md,
 * "Locking") is the latest committed state. A statement timeout bounds how long a stuck
 * lock can hold a worker slot.
 */
export async function sqlTx<T>(pool: pg.Pool, fn: (sql: Sql) => Promise<T>, timeoutMs = 15_000): Promise<T> {
  const client = await pool.connect();
  let broken: unknown;
  try {
    await client.query(`BEGIN ISOLATION LEVEL READ COMMITTED; SET LOCAL statement_timeout = ${Math.trunc(timeoutMs)}`);
    const out = await fn(pgSql(client));
    await client.query("COMMIT");
    return out;
  } catch (e) {
    broken = await client.query("ROLLBACK").then(() => undefined, (err: unknown) => err);
    throw e;
  } finally {
    // A connection that could not roll back is in an unknown state: never reuse it.
    client.release(broken instanceof Error ? broken : undefined);
  }
}

/** A pool: single statements on whichever connection is free, or a transaction on one. */
export interface PoolSql extends Sql {
  tx<T>(fn: (sql: Sql) => Promise<T>, timeoutMs?: number): Promise<T>;
}

export function poolSql(pool: pg.Pool): PoolSql {
  return {
    rows: async <T>(text: string, params: readonly unknown[]) => (await pool.query(named(text, params))).rows as T[],
    tx: (fn, timeoutMs) => sqlTx(pool, fn, timeoutMs),
  };
}

/**
 * DB_POOL_SIZE is the process's whole budget of Postgres connections: two thirds go to
 * the raw pool (the hot paths), the rest to Prisma (everything else).
 */
export function poolShares(size: number): { sql: number; orm: number } {
  const orm = Math.max(1, Math.floor(size / 3));
  return { sql: Math.max(1, size - orm), orm };
}

/**
 * A statement's writes that have not run yet: `ctes` (data-modifying CTEs, no leading
 * WITH, their values inside). Run alone, or joined with more CTEs into one statement.
 */
export interface PendingWrite {
  ctes: Fragment;
  /**
   * When part of the intent's result is only known inside the statement (a new run's id
   * and index): the SQL expression that completes the result, given the result as
   * TypeScript built it. The stored result is then read back.
   */
  completeResult?: (json: Fragment) => Fragment;
}

export async function runWrite(db: Sql, w: PendingWrite | null): Promise<void> {
  if (w) await query(db, q`WITH ${w.ctes} SELECT 1`);
}
