// Drives Prisma's schema engine (WebAssembly build) over @prisma/adapter-pg, because the
// CLI's native engine cannot be downloaded on these machines (docs/operations.md, "Facts about the environment").
import { readFile, readdir } from "node:fs/promises";
import { createRequire } from "node:module";
import path from "node:path";
import pg from "pg";
import { PrismaPg } from "@prisma/adapter-pg";
import {
  bindMigrationAwareSqlAdapterFactory,
  type SqlDriverAdapter,
  type SqlMigrationAwareDriverAdapterFactory,
} from "@prisma/driver-adapter-utils";
import type * as Bg from "@prisma/schema-engine-wasm/schema_engine_bg";

type EngineModule = typeof Bg;
type Engine = Bg.SchemaEngine;

const NO_FILTER: Bg.SchemaFilter = { externalTables: [], externalEnums: [] };
/** Engine message for a lost race on its migration lock (pg_advisory_lock(72707369)). */
const LOCK_TIMEOUT = /advisory lock/i;
const LOCK_ATTEMPTS = 5;

let modulePromise: Promise<EngineModule> | undefined;

// The project's lib (ES2023, no DOM) types the WebAssembly namespace but not the global
// object Node provides, so name the one call we need.
interface WasmApi {
  instantiate(bytes: Uint8Array, imports: Record<string, Record<string, unknown>>): Promise<{
    instance: { exports: Record<string, unknown> };
  }>;
}
const wasmApi = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

/**
 * The package's ESM entry does `import * as wasm from "./x.wasm"`, which Node 20 rejects,
 * so do by hand what that entry does. Once per process: the glue module keeps the wasm
 * instance in module state.
 */
function loadEngineModule(): Promise<EngineModule> {
  modulePromise ??= (async () => {
    const require = createRequire(import.meta.url);
    const gluePath = require.resolve("@prisma/schema-engine-wasm/schema_engine_bg");
    const bg = await import("@prisma/schema-engine-wasm/schema_engine_bg");
    const bytes = await readFile(path.join(path.dirname(gluePath), "schema_engine_bg.wasm"));
    const { instance } = await wasmApi.instantiate(bytes, { "./schema_engine_bg.js": unrefTimers(bg) });
    bg.__wbg_set_wasm(instance.exports);
    const start = instance.exports["__wbindgen_start"];
    if (typeof start === "function") start();
    return bg;
  })();
  return modulePromise;
}

/**
 * The engine arms a timer for each lock wait and never clears it (the glue has no
 * clearTimeout), which kept `db:migrate` alive for 10 s after finishing. The timers
 * only wake futures that have usually settled already, so let them not hold the process.
 */
function unrefTimers(bg: EngineModule): Record<string, unknown> {
  const glue: Record<string, unknown> = { ...bg };
  for (const [name, value] of Object.entries(bg)) {
    if (!name.startsWith("__wbg_setTimeout_") || typeof value !== "function") continue;
    const setTimer = value as (...args: unknown[]) => unknown;
    glue[name] = (...args: unknown[]): unknown => {
      const timer = setTimer(...args);
      (timer as { unref?: () => void } | null)?.unref?.();
      return timer;
    };
  }
  return glue;
}

/**
 * adapter-pg's executeScript splits a migration on every ";" (even inside comments and
 * string literals) and runs the pieces one by one, so a failure leaves half a migration
 * behind. The native engine sends the script as one simple-protocol query, which
 * Postgres runs as one implicit transaction; do the same.
 */
function wholeScriptAdapter(adapter: SqlDriverAdapter, pool: pg.Pool): SqlDriverAdapter {
  // onError is adapter-pg's (protected) mapping of pg errors to the engine's error kinds.
  const mapError = (adapter as unknown as { onError?: (e: unknown) => never }).onError?.bind(adapter);
  adapter.executeScript = async (script: string): Promise<void> => {
    try {
      await pool.query(script);
    } catch (e) {
      if (mapError) mapError(e);
      throw e;
    }
  };
  return adapter;
}

function adapterFactory(pool: pg.Pool): SqlMigrationAwareDriverAdapterFactory {
  const base = new PrismaPg(pool);
  return {
    provider: base.provider,
    adapterName: base.adapterName,
    connect: async () => wholeScriptAdapter(await base.connect(), pool),
    // Only `migrate dev`/diffs from migrations use a shadow database; nothing here does.
    connectToShadowDb: () => base.connectToShadowDb(),
  };
}

function logSink(line: string): void {
  // The engine reports INFO chatter and real errors through the same channel; errors
  // also reach us as rejected promises, so only surface them when asked to.
  if (process.env["PRISMA_ENGINE_DEBUG"]) process.stderr.write(`schema-engine: ${line}\n`);
}

/**
 * Runs `fn` with an engine bound to a pool we own, then frees both. Closing the pool is
 * what releases the engine's session-level advisory lock, so it must happen before we
 * return, not whenever the garbage collector gets to it.
 */
async function withEngine<T>(
  connectionString: string,
  datamodels: [string, string][] | undefined,
  fn: (engine: Engine) => Promise<T>,
): Promise<T> {
  const bg = await loadEngineModule();
  const pool = new pg.Pool({ connectionString, max: 2 });
  // An idle client that dies (e.g. the server restarts) must not crash the process.
  pool.on("error", () => undefined);
  let engine: Engine | undefined;
  try {
    const factory = bindMigrationAwareSqlAdapterFactory(adapterFactory(pool));
    engine = await bg.SchemaEngine.new({ datamodels }, logSink, factory);
    return await fn(engine);
  } finally {
    engine?.free();
    await pool.end();
  }
}

export const DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/actions";

/**
 * The SQL that takes an empty database to the given schema.prisma. Nothing is written,
 * but the engine still queries the server's version before diffing, so it needs one:
 * `serverUrl` (default DATABASE_URL) with its database swapped for `postgres`, which
 * exists even before `migrate` has created ours.
 */
export async function schemaSql(schemaPath: string, serverUrl?: string): Promise<string> {
  const content = await readFile(schemaPath, "utf8");
  const file = { path: path.basename(schemaPath), content };
  const url = withDatabase(serverUrl ?? process.env["DATABASE_URL"] ?? DEFAULT_DATABASE_URL, "postgres");
  const result = await withEngine(url, [[file.path, content]], (engine) =>
    engine.diff({
      from: { tag: "empty" },
      to: { tag: "schemaDatamodel", files: [file] },
      script: true,
      exitCode: null,
      filters: NO_FILTER,
    }),
  );
  if (result.stdout === null) throw new Error("schema engine returned no SQL for the diff");
  return result.stdout;
}

/** The same server URL pointing at another database. */
export function withDatabase(databaseUrl: string, database: string): string {
  const url = new URL(databaseUrl);
  url.pathname = `/${encodeURIComponent(database)}`;
  return url.toString();
}

/** Reads a migrations folder the way the Prisma CLI does (sorted by directory name). */
export async function readMigrations(migrationsDir: string): Promise<Bg.MigrationList> {
  const baseDir = path.resolve(migrationsDir);
  const lockPath = "migration_lock.toml";
  const lockContent = await readFile(path.join(baseDir, lockPath), "utf8").catch(() => null);
  const entries = await readdir(baseDir, { withFileTypes: true }).catch(() => []);
  const dirs = entries.filter((e) => e.isDirectory()).map((e) => e.name);
  dirs.sort((a, b) => a.localeCompare(b));
  const migrationDirectories = await Promise.all(
    dirs.map(async (name): Promise<Bg.MigrationDirectory> => {
      const content = await readFile(path.join(baseDir, name, "migration.sql"), "utf8")
        .then((value): Bg.JsResult<string, string> => ({ tag: "ok", value }))
        .catch((e: unknown): Bg.JsResult<string, string> => ({ tag: "error", value: String(e) }));
      return { path: name, migrationFile: { path: "migration.sql", content } };
    }),
  );
  return {
    baseDir,
    lockfile: { path: lockPath, content: lockContent },
    shadowDbInitScript: "",
    migrationDirectories,
  };
}

function isLockTimeout(e: unknown): boolean {
  return LOCK_TIMEOUT.test(e instanceof Error ? e.message : String(e));
}

/**
 * Applies the pending migrations of `migrationsDir` as `prisma migrate deploy` does,
 * recording them in `_prisma_migrations`. A concurrent migrator makes this one wait on
 * the engine's advisory lock; the engine gives up after 10 s, so try again a few times.
 */
export async function applyMigrations(
  databaseUrl: string,
  migrationsDir: string,
): Promise<{ applied: string[] }> {
  const migrationsList = await readMigrations(migrationsDir);
  for (let attempt = 1; ; attempt++) {
    try {
      const out = await withEngine(databaseUrl, undefined, (engine) =>
        engine.applyMigrations({ migrationsList, filters: NO_FILTER }),
      );
      return { applied: out.appliedMigrationNames };
    } catch (e) {
      if (attempt >= LOCK_ATTEMPTS || !isLockTimeout(e)) throw toError(e);
      console.warn(`migrate: another migrator holds the migration lock; retrying (${attempt + 1}/${LOCK_ATTEMPTS})`);
      await new Promise((r) => setTimeout(r, 200 * attempt));
    }
  }
}

/** Engine failures arrive as plain objects or strings; give callers a real Error. */
function toError(e: unknown): Error {
  if (e instanceof Error) return e;
  if (typeof e === "object" && e !== null && "message" in e) {
    return new Error(String((e as { message: unknown }).message));
  }
  return new Error(typeof e === "string" ? e : JSON.stringify(e));
}
