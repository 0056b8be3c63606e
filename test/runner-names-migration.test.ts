// Integration: the runner_names_case_insensitive migration on a database that already holds
// names differing only in case (which the old, case-sensitive index allowed).
import { randomBytes } from "node:crypto";
import { readFile } from "node:fs/promises";
import path from "node:path";
import pg from "pg";
import { afterAll, describe, expect, it } from "vitest";
import { DEFAULT_DATABASE_URL, withDatabase } from "../prisma/engine.ts";
import { MIGRATIONS_DIR, migrate } from "../prisma/migrate.ts";

const SERVER_URL = process.env["DATABASE_URL"] ?? DEFAULT_DATABASE_URL;
const name = `mig_runner_names_${randomBytes(4).toString("hex")}`;
const url = withDatabase(SERVER_URL, name);

afterAll(async () => {
  const c = new pg.Client({ connectionString: withDatabase(SERVER_URL, "postgres") });
  await c.connect();
  await c.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(name)} WITH (FORCE)`);
  await c.end();
});

describe("migration runner_names_case_insensitive", () => {
  it("keeps the oldest spelling, renames later case-duplicates to <name>-<id>, then refuses new ones", async () => {
    await migrate(url);
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    try {
      // Back to the state before the migration, with what it allowed.
      await c.query(`DROP INDEX "runners_name_lower_key"`);
      const ids = (await c.query<{ id: string; name: string }>(
        `INSERT INTO runners (name) VALUES ('Sim-1'), ('sim-1'), ('other'), ('SIM-1') RETURNING id::text, name`)).rows;
      const id = (n: string) => ids.find((r) => r.name === n)!.id;
      const sql = await readFile(path.join(MIGRATIONS_DIR, "20261202140000_runner_names_case_insensitive", "migration.sql"), "utf8");
      await c.query(sql);
      const names = (await c.query<{ name: string }>("SELECT name FROM runners ORDER BY id")).rows.map((r) => r.name);
      expect(names).toEqual(["Sim-1", `sim-1-${id("sim-1")}`, "other", `SIM-1-${id("SIM-1")}`]);
      await expect(c.query(`INSERT INTO runners (name) VALUES ('OTHER')`)).rejects.toMatchObject({ code: "23505" });
    } finally {
      await c.end();
    }
  });
});
