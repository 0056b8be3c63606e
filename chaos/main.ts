import { parseArgs } from "node:util";
import pg from "pg";
import { commonEnv, parseConfig } from "../infra/config.ts";
import { withDatabase } from "../prisma/engine.ts";
import { ensureSigningKey } from "../infra/signing.ts";
import { migrate, probeServer } from "../prisma/migrate.ts";
import { failClearly } from "../infra/deps.ts";
import type { Report } from "./harness.ts";
import { PrivateRedis } from "./infra.ts";
import { addTally, emptyTally } from "./reconcile.ts";
import { SCENARIOS } from "./scenarios.ts";
import { addDeliveryTally, type DeliveryTally } from "./webhooks.ts";
import { failures, table, type Row } from "./table.ts";

// `npm run chaos [-- <scenario>…] [--reps N] [--short]`: every fault scenario under load,
// one table row each; exit 1 if any must-be-zero count is not zero.

failClearly("chaos");
const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { reps: { type: "string", default: "1" }, short: { type: "boolean", default: false } },
});
const reps = Number(values.reps);
if (!Number.isInteger(reps) || reps < 1) throw new Error("--reps must be a positive integer");
const unknown = positionals.filter((p) => !SCENARIOS.some((s) => s.name === p));
if (unknown.length) {
  console.error(`unknown scenario ${unknown.join(", ")}; known: ${SCENARIOS.map((s) => s.name).join(", ")}`);
  process.exit(2);
}
const chosen = positionals.length ? SCENARIOS.filter((s) => positionals.includes(s.name)) : SCENARIOS;

const cfg = parseConfig(commonEnv);
// The api and worker processes of every scenario share this key.
ensureSigningKey();
const admin = withDatabase(cfg.DATABASE_URL, "postgres");
const template = `actions_chaos_tmpl_${Date.now().toString(36)}`;

async function sql(text: string): Promise<void> {
  const c = new pg.Client({ connectionString: admin });
  await c.connect();
  try {
    await c.query(text);
  } finally {
    await c.end();
  }
}

/** Each repetition gets a database of its own, cloned from one migrated template. */
async function withDb<T>(fn: (url: string) => Promise<T>): Promise<T> {
  const name = `actions_chaos_${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
  await sql(`CREATE DATABASE ${pg.escapeIdentifier(name)} TEMPLATE ${pg.escapeIdentifier(template)}`);
  try {
    return await fn(withDatabase(cfg.DATABASE_URL, name));
  } finally {
    await sql(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(name)} WITH (FORCE)`);
  }
}

const log = (msg: string) => console.error(msg);
const rows: Row[] = [];
const started = Date.now();
// Postgres answers before the template is made; each repetition brings its own Redis.
await probeServer(cfg.DATABASE_URL);
await migrate(withDatabase(cfg.DATABASE_URL, template));
try {
  for (const s of chosen) {
    let tally = emptyTally();
    let problems = 0;
    let deliveries: DeliveryTally | undefined;
    const t0 = Date.now();
    for (let i = 1; i <= reps; i++) {
      log(`== ${s.name} ${i}/${reps}: ${s.summary}`);
      // A private Redis per repetition, so every process runs as its own ACL user
      // (chaos/system.ts); redis-restart brings its own, which it stops and starts.
      const redis = s.name === "redis-restart" ? null : await PrivateRedis.create();
      const r: Report = await withDb((dbUrl) => s.run({ dbUrl, redisUrl: redis?.url ?? cfg.REDIS_URL, short: values.short, log }))
        .finally(() => redis?.dispose());
      for (const n of r.notes) log(`   ${n}`);
      for (const p of r.problems) log(`   PROBLEM: ${p}`);
      log(`   ${failures(r.tally, r.problems.length, r.deliveries).join(", ") || "all must-be-zero counts are zero"}`);
      tally = addTally(tally, r.tally);
      if (r.deliveries) deliveries = deliveries ? addDeliveryTally(deliveries, r.deliveries) : r.deliveries;
      problems += r.problems.length;
    }
    rows.push({ scenario: s.name, reps, tally, problems, seconds: (Date.now() - t0) / 1000, ...(deliveries ? { deliveries } : {}) });
  }
} finally {
  await sql(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(template)} WITH (FORCE)`);
}
console.log(table(rows));
console.log(`\ntotal ${((Date.now() - started) / 1000).toFixed(0)} s`);
const failed = rows.filter((r) => failures(r.tally, r.problems, r.deliveries).length > 0);
if (failed.length) {
  console.log(`FAILED: ${failed.map((r) => `${r.scenario} (${failures(r.tally, r.problems, r.deliveries).join(", ")})`).join("; ")}`);
  process.exitCode = 1;
}
