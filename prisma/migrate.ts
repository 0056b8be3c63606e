// `npm run db:migrate`: creates the database if needed and applies pending migrations,
// the offline equivalent of `prisma migrate deploy` (docs/operations.md, "Migrations").
import path from "node:path";
import { fileURLToPath } from "node:url";
import pg from "pg";
import { DEFAULT_DATABASE_URL, applyMigrations, withDatabase } from "./engine.ts";
import { DependencyError, probePostgres, redactUrl } from "../infra/deps.ts";

export const MIGRATIONS_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), "migrations");

export interface MigrateResult {
  database: string;
  created: boolean;
  applied: string[];
  ms: number;
}

/**
 * CREATE DATABASE of a name that exists fails with duplicate_database (42P04), but when
 * two creators race, the loser trips over the catalog's unique index instead (23505).
 */
function lostCreateRace(e: unknown): boolean {
  const { code, constraint } = e as { code?: unknown; constraint?: unknown };
  return code === "42P04" || (code === "23505" && constraint === "pg_database_datname_index");
}

function databaseName(databaseUrl: string): string {
  const name = decodeURIComponent(new URL(databaseUrl).pathname.slice(1));
  if (!name) throw new Error(`DATABASE_URL has no database name: ${redact(databaseUrl)}`);
  return name;
}

/** Creates the database unless it exists; true when this call created it. */
export async function ensureDatabase(databaseUrl: string): Promise<boolean> {
  const name = databaseName(databaseUrl);
  const client = new pg.Client({ connectionString: withDatabase(databaseUrl, "postgres") });
  await client.connect();
  try {
    const found = await client.query("SELECT 1 FROM pg_database WHERE datname = $1", [name]);
    if (found.rowCount) return false;
    await client.query(`CREATE DATABASE ${pg.escapeIdentifier(name)}`);
    return true;
  } catch (e) {
    // Another migrator created it between our check and our CREATE: that is the goal.
    if (lostCreateRace(e)) return false;
    throw e;
  } finally {
    await client.end();
  }
}

/** Creates the database if missing, then applies pending migrations. Safe to run concurrently. */
export async function migrate(
  databaseUrl: string = process.env["DATABASE_URL"] ?? DEFAULT_DATABASE_URL,
  migrationsDir: string = MIGRATIONS_DIR,
): Promise<MigrateResult> {
  const started = performance.now();
  const created = await ensureDatabase(databaseUrl);
  const { applied } = await applyMigrations(databaseUrl, migrationsDir);
  return { database: databaseName(databaseUrl), created, applied, ms: Math.round(performance.now() - started) };
}

/** Never print a password that might be in the URL. */
const redact = redactUrl;

export function summary(r: MigrateResult): string {
  const what = r.applied.length ? `applied ${r.applied.length} (${r.applied.join(", ")})` : "already up to date";
  // A new database is said on a line of its own: a typo in DATABASE_URL's name creates one.
  const created = r.created ? `created database ${r.database} (it did not exist; if the name in DATABASE_URL is a typo, stop and fix it)\n` : "";
  return `${created}db:migrate ${r.database}: ${what} in ${r.ms} ms`;
}

/** The server answers (through its own `postgres` database: the one named may not exist yet). */
export const probeServer = (databaseUrl: string): Promise<void> => probePostgres(databaseUrl, 3_000, withDatabase(databaseUrl, "postgres"));

async function main(): Promise<void> {
  const url = process.env["DATABASE_URL"] ?? DEFAULT_DATABASE_URL;
  try {
    await probeServer(url);
    console.log(summary(await migrate(url)));
  } catch (e) {
    if (e instanceof DependencyError) {
      console.error(`db:migrate: ${e.message}`);
      process.exitCode = 1;
      return;
    }
    const message = e instanceof Error ? e.message : String(e);
    console.error(`db:migrate failed for ${redact(url)}: ${message.trim()}`);
    process.exitCode = 1;
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  await main();
}
