import { PrismaPg } from "@prisma/adapter-pg";
import pg from "pg";
import { Prisma, PrismaClient } from "./generated/prisma/client.ts";

export { Prisma, PrismaClient };
export type Tx = Prisma.TransactionClient;

export function createPrisma(databaseUrl: string, poolSize = 10): PrismaClient {
  const pool = new pg.Pool({ connectionString: databaseUrl, max: poolSize, connectionTimeoutMillis: 5_000 });
  // When the server drops connections (restart, failover), pg can emit 'error' on a client
  // at a moment nobody listens, and an unhandled 'error' event kills the process. The
  // queries on that client still fail (and are retried); the event itself needs no action.
  pool.on("connect", (client) => client.on("error", () => {}));
  const adapter = new PrismaPg(pool, { disposeExternalPool: true });
  return new PrismaClient({ adapter });
}

/**
 * One interactive transaction at READ COMMITTED: each statement takes a fresh snapshot,
 * so what it reads after the writers' lock (docs/architecture.md, "Locking") is the
 * latest committed state.
 */
export function inTx<T>(prisma: PrismaClient, fn: (tx: Tx) => Promise<T>, timeoutMs = 15_000): Promise<T> {
  return prisma.$transaction(fn, {
    isolationLevel: Prisma.TransactionIsolationLevel.ReadCommitted,
    maxWait: 10_000,
    timeout: timeoutMs,
  });
}

const TRANSIENT_PG = new Set([
  "40001", // serialization_failure
  "40P01", // deadlock_detected
  "55P03", // lock_not_available
  "57P01", // admin_shutdown
  "57P02", // crash_shutdown
  "57P03", // cannot_connect_now
  "53300", // too_many_connections
  "08000", "08001", "08003", "08004", "08006",
]);
const TRANSIENT_PRISMA = new Set(["P1001", "P1002", "P1008", "P1017", "P2024", "P2028", "P2034"]);

/** Errors worth retrying: the database was away or a concurrent transaction won a race. */
export function isTransientDbError(e: unknown): boolean {
  if (typeof e !== "object" || e === null) return false;
  const err = e as { code?: unknown; cause?: unknown; meta?: { code?: unknown; driverAdapterError?: unknown }; message?: unknown };
  if (typeof err.code === "string" && (TRANSIENT_PRISMA.has(err.code) || TRANSIENT_PG.has(err.code))) return true;
  if (typeof err.meta?.code === "string" && TRANSIENT_PG.has(err.meta.code)) return true;
  // Prisma 7 reports a driver adapter's failure as P2039 with the Postgres error inside
  // (57P01 terminating connection, 57P03 shutting down / starting up).
  if (err.meta?.driverAdapterError !== undefined && isTransientDbError(err.meta.driverAdapterError)) return true;
  // "Client has encountered a connection error and is not queryable": pg's answer on a pooled
  // connection the server dropped (a Postgres restart), which carries no code.
  if (typeof err.message === "string" && /ECONNREFUSED|ECONNRESET|Connection terminated|timeout exceeded when trying to connect|is not queryable/i.test(err.message)) {
    return true;
  }
  return err.cause !== undefined && err.cause !== e && isTransientDbError(err.cause);
}

/** Unique violation (a concurrent actor inserted the same key first). */
export function isUniqueViolation(e: unknown): boolean {
  const err = e as { code?: unknown; meta?: { code?: unknown }; cause?: unknown } | null;
  if (!err || typeof err !== "object") return false;
  if (err.code === "P2002" || err.code === "23505" || err.meta?.code === "23505") return true;
  return err.cause !== undefined && err.cause !== e && isUniqueViolation(err.cause);
}
