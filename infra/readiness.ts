import { readdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { assertNever } from "./assert.ts";
import type { PrismaClient } from "./db.ts";
import type { Logger } from "./logger.ts";
import type { Redis } from "./redis.ts";
import { withTimeout } from "./timeout.ts";

const MIGRATIONS = fileURLToPath(new URL("../prisma/migrations", import.meta.url));

/** The newest migration this build expects the database to have. */
function expectedMigration(): string {
  const dirs = readdirSync(MIGRATIONS, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name).sort();
  return dirs[dirs.length - 1] ?? "";
}

/** What one probe found. `detail` is the driver's message: for the process log only. */
export type Probe =
  | { kind: "ready" }
  | { kind: "postgres_unreachable"; detail: string }
  | { kind: "migration_missing"; migration: string }
  | { kind: "redis_unreachable"; detail: string };

/**
 * The answer /readyz gives anyone: the failing dependency, never a driver's message (it
 * names hosts, ports, databases and server versions to whoever asks).
 */
export function publicReason(p: Probe): string | null {
  switch (p.kind) {
    case "ready":
      return null;
    case "postgres_unreachable":
      return "postgres unreachable";
    case "migration_missing":
      return `migration ${p.migration} not applied`;
    case "redis_unreachable":
      return "redis unreachable";
    default:
      return assertNever(p, "readiness probe");
  }
}

export type Change = "unready" | "ready_again" | null;

/** Whether this probe changes the state the last one left (`undefined`: first probe), so it is logged once, not per probe. */
export function changeOf(previous: string | null | undefined, now: string | null): Change {
  if (now === previous) return null;
  if (now !== null) return "unready";
  return previous === undefined ? null : "ready_again";
}

interface DriverError {
  message?: unknown;
  meta?: { driverAdapterError?: { cause?: { kind?: unknown; originalMessage?: unknown } } };
}

/** The driver's own message, one line: Prisma wraps it in "Invalid `prisma.$queryRaw()` invocation" and a frame. */
export function driverMessage(e: unknown): string {
  const err = e as DriverError | null;
  const original = err?.meta?.driverAdapterError?.cause?.originalMessage;
  if (typeof original === "string") return original;
  const lines = String(typeof err?.message === "string" ? err.message : e).split("\n").filter((l) => l.trim() !== "");
  return lines.at(-1)?.trim() ?? "unknown error";
}

const isMissingTable = (e: unknown) => (e as DriverError | null)?.meta?.driverAdapterError?.cause?.kind === "TableDoesNotExist";

async function probe(prisma: PrismaClient, redis: Redis, expected: string): Promise<Probe> {
  try {
    const rows = await withTimeout(
      prisma.$queryRaw<{ n: number }[]>`SELECT count(*)::int AS n FROM _prisma_migrations WHERE migration_name = ${expected} AND finished_at IS NOT NULL`,
      2000,
      "postgres",
    );
    if (rows[0]?.n !== 1) return { kind: "migration_missing", migration: expected };
  } catch (e) {
    // A database never migrated has no _prisma_migrations table: that is a missing migration.
    if (isMissingTable(e)) return { kind: "migration_missing", migration: expected };
    return { kind: "postgres_unreachable", detail: driverMessage(e) };
  }
  try {
    await withTimeout(redis.ping(), 2000, "redis");
  } catch (e) {
    return { kind: "redis_unreachable", detail: driverMessage(e) };
  }
  return { kind: "ready" };
}

/**
 * Null when Postgres and Redis answer and the migrations are applied; else the public
 * reason. With a logger, each change of state is logged once (at warn, with the driver's
 * message) instead of on every probe.
 */
export function readinessCheck(prisma: PrismaClient, redis: Redis, log?: Logger): () => Promise<string | null> {
  const expected = expectedMigration();
  let last: string | null | undefined;
  return async () => {
    const p = await probe(prisma, redis, expected);
    const reason = publicReason(p);
    const change = changeOf(last, reason);
    last = reason;
    if (change === "unready") log?.warn({ reason, detail: "detail" in p ? p.detail : undefined }, "not ready");
    else if (change === "ready_again") log?.info("ready again");
    return reason;
  };
}
