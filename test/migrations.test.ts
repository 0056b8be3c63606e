// Integration: the migrations folder against a real Postgres (DATABASE_URL names the
// server; each test works in databases of its own and drops them afterwards).
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readFile, readdir } from "node:fs/promises";
import path from "node:path";
import { promisify } from "node:util";
import pg from "pg";
import { afterAll, describe, expect, it } from "vitest";
import { DEFAULT_DATABASE_URL, schemaSql, withDatabase } from "../prisma/engine.ts";
import { MIGRATIONS_DIR, migrate } from "../prisma/migrate.ts";

const run = promisify(execFile);
const SERVER_URL = process.env["DATABASE_URL"] ?? DEFAULT_DATABASE_URL;
const PRISMA_DIR = path.dirname(MIGRATIONS_DIR);
const created: string[] = [];

function freshDatabaseUrl(label: string): string {
  const name = `mig_test_${label}_${randomBytes(4).toString("hex")}`;
  created.push(name);
  return withDatabase(SERVER_URL, name);
}

async function withClient<T>(url: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

async function migrationNames(): Promise<string[]> {
  const entries = await readdir(MIGRATIONS_DIR, { withFileTypes: true });
  return entries.filter((e) => e.isDirectory()).map((e) => e.name).sort();
}

async function recordedMigrations(url: string): Promise<{ name: string; finished: boolean }[]> {
  return withClient(url, async (c) => {
    const r = await c.query<{ migration_name: string; finished: boolean }>(
      `SELECT migration_name, finished_at IS NOT NULL AND rolled_back_at IS NULL AS finished
         FROM _prisma_migrations ORDER BY migration_name`,
    );
    return r.rows.map((row) => ({ name: row.migration_name, finished: row.finished }));
  });
}

/**
 * Schema-only dump without what legitimately differs between two databases: comments,
 * session SETs, psql's per-dump random \restrict key, and the migration bookkeeping table.
 */
async function schemaDump(url: string): Promise<string[]> {
  const { stdout } = await run(
    "pg_dump",
    ["--schema-only", "--no-owner", "--no-privileges", "--exclude-table=_prisma_migrations", "--dbname", url],
    { maxBuffer: 16 * 1024 * 1024 },
  );
  return stdout
    .split("\n")
    .map((line) => line.trimEnd())
    .filter((line) => line !== "" && !line.startsWith("--"))
    .filter((line) => !/^(SET |SELECT pg_catalog\.set_config|\\(un)?restrict )/.test(line));
}

afterAll(async () => {
  await withClient(withDatabase(SERVER_URL, "postgres"), async (c) => {
    for (const name of created) await c.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(name)} WITH (FORCE)`);
  });
});

describe("prisma migrations", () => {
  it("creates the database, applies every migration, and is a no-op the second time", async () => {
    const url = freshDatabaseUrl("twice");
    const expected = await migrationNames();
    expect(expected.length).toBeGreaterThan(0);

    const first = await migrate(url);
    expect(first).toMatchObject({ created: true, applied: expected });

    const second = await migrate(url);
    expect(second).toMatchObject({ created: false, applied: [] });
    expect(await recordedMigrations(url)).toEqual(expected.map((name) => ({ name, finished: true })));
  });

  it("lets two concurrent migrators on a fresh database both succeed, applying each migration once", async () => {
    const url = freshDatabaseUrl("race");
    const expected = await migrationNames();

    const [a, b] = await Promise.all([migrate(url), migrate(url)]);

    expect([a.created, b.created].filter(Boolean)).toHaveLength(1);
    expect([...a.applied, ...b.applied].sort()).toEqual(expected);
    expect(await recordedMigrations(url)).toEqual(expected.map((name) => ({ name, finished: true })));
  });

  it("has no drift: migrations build the same schema as schema.prisma plus checks.sql", async () => {
    const fromMigrations = freshDatabaseUrl("drift_migrations");
    const fromSchema = freshDatabaseUrl("drift_schema");
    await migrate(fromMigrations);

    const checks = await readFile(path.join(PRISMA_DIR, "checks.sql"), "utf8");
    const sql = `${await schemaSql(path.join(PRISMA_DIR, "schema.prisma"), SERVER_URL)}\n${checks}`;
    const name = new URL(fromSchema).pathname.slice(1);
    await withClient(withDatabase(SERVER_URL, "postgres"), (c) => c.query(`CREATE DATABASE ${pg.escapeIdentifier(name)}`));
    await withClient(fromSchema, (c) => c.query(sql));

    const [dumpA, dumpB] = await Promise.all([schemaDump(fromMigrations), schemaDump(fromSchema)]);
    expect(dumpA).toEqual(dumpB);
    // Not vacuous: the hand-written CHECKs are in the migrated schema.
    for (const [, constraint] of checks.matchAll(/ADD CONSTRAINT "([^"]+)"/g)) {
      expect(dumpA.join("\n")).toContain(`CONSTRAINT ${constraint} CHECK`);
    }
  });
});
