import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { inject } from "vitest";
import { freePort, PrivatePostgres, PrivateRedis } from "../chaos/infra.ts";
import { migrate } from "../prisma/migrate.ts";
import { Queue } from "bullmq";
import { connectRedis } from "../infra/redis.ts";
import { spawnService } from "../scripts/service.ts";
import { createTestDb, type TestDb } from "./setup/db.ts";

// docs/decisions.md, "Failing clearly": each entry point, pointed at a dependency that is
// away (or refuses it), prints one line naming it, its address, the variable and what to
// do, and exits non-zero; bad settings print their message alone; a Redis lost while
// running is reported once and its return once.

const SECRET = "pw-that-must-never-be-printed";
/**
 * Hang detection, not a timing target: a probe waits 3 s at most, but on a loaded shared
 * machine tsx alone can take many seconds to load an entry point.
 */
const DEADLINE_MS = 50_000; // under the 60 s test timeout, so the output is in the failure

interface Ended {
  code: number | null;
  lines: string[];
}

/** Runs an entry point to its exit, or fails the test at the deadline (killing it). */
function runToExit(entry: string, env: Record<string, string>, args: string[] = []): Promise<Ended> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, ["--import", "tsx", entry, ...args], {
      env: { ...process.env, LOG_PRETTY: "false", ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    proc.stdout.on("data", (d: Buffer) => (out += d.toString()));
    proc.stderr.on("data", (d: Buffer) => (out += d.toString()));
    const timer = setTimeout(() => {
      proc.kill("SIGKILL");
      reject(new Error(`${entry} still running after ${DEADLINE_MS} ms; output:\n${out.slice(-2000)}`));
    }, DEADLINE_MS);
    proc.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, lines: out.split("\n").filter((l) => l.trim() !== "") });
    });
  });
}

let db: TestDb;
let redisUrl: string;
let closedPort: number;
let stateDir: string;
const common = () => ({ DATABASE_URL: db.url, REDIS_URL: redisUrl, QUEUE_PREFIX: `fc${process.pid}`, PORT: String(closedPort), WORKER_PORT: "0", RUNNER_STATE_DIR: stateDir, RUNNER_TOKENS: "t".repeat(40) });

beforeAll(async () => {
  db = await createTestDb("failclear");
  redisUrl = inject("redisUrl");
  closedPort = await freePort();
  stateDir = mkdtempSync(path.join(os.tmpdir(), "failing-clearly-"));
});
afterAll(async () => {
  await db?.drop();
  rmSync(stateDir, { recursive: true, force: true });
});

// [name, entry, args]: what `npm run …` runs for each.
const POSTGRES_USERS: [string, string, string[]][] = [
  ["start:api", "api/server.ts", []],
  ["start:worker", "worker/main.ts", []],
  ["npm start", "scripts/start.ts", []],
  ["admin", "admin/cli.ts", ["user", "create", "--login", "bob"]],
  ["check:invariants", "scripts/check-invariants.ts", []],
  ["bench", "bench/main.ts", ["--quick"]],
  ["chaos", "chaos/main.ts", []],
  ["demo", "scripts/demo.ts", []],
  ["db:migrate", "prisma/migrate.ts", []],
];
const REDIS_USERS: [string, string, string[]][] = [
  ["start:api", "api/server.ts", []],
  ["start:worker", "worker/main.ts", []],
  ["start:runner-sim", "runner-sim/main.ts", []],
  ["npm start", "scripts/start.ts", []],
  ["bench", "bench/main.ts", ["--quick"]],
  ["demo", "scripts/demo.ts", []],
];

function expectOneLine(r: Ended, pattern: RegExp): void {
  expect(r.code, r.lines.join("\n")).not.toBe(0);
  expect(r.lines, r.lines.join("\n")).toHaveLength(1);
  expect(r.lines[0]).toMatch(pattern);
  expect(r.lines[0]).not.toContain(SECRET);
}

describe("Postgres away", () => {
  it.each(POSTGRES_USERS)("%s names it, its address and DATABASE_URL, and exits non-zero", async (_, entry, args) => {
    const url = `postgresql://postgres:${SECRET}@127.0.0.1:${closedPort}/actions`;
    const r = await runToExit(entry, { ...common(), DATABASE_URL: url }, args);
    expectOneLine(r, new RegExp(`Postgres is unreachable at postgresql://postgres@127\\.0\\.0\\.1:${closedPort}/actions \\(DATABASE_URL\\): .*ECONNREFUSED.* — start Postgres or set DATABASE_URL`));
  });

  it("check:invariants on a database that does not exist says so", async () => {
    const r = await runToExit("scripts/check-invariants.ts", { ...common(), DATABASE_URL: `${db.url}_nope` });
    expectOneLine(r, new RegExp(`Postgres has no database "${db.name}_nope" .*\\(DATABASE_URL\\) — run npm run db:migrate`));
  });
});

describe("Redis away", () => {
  it.each(REDIS_USERS)("%s names it, its address and REDIS_URL, and exits non-zero", async (_, entry, args) => {
    const url = `redis://:${SECRET}@127.0.0.1:${closedPort}`;
    const r = await runToExit(entry, { ...common(), REDIS_URL: url }, args);
    expectOneLine(r, new RegExp(`Redis is unreachable at redis://127\\.0\\.0\\.1:${closedPort} \\(REDIS_URL\\): .*ECONNREFUSED.* — start Redis or set REDIS_URL`));
  });
});

describe("bad settings", () => {
  it.each<[string, string, Record<string, string>, RegExp]>([
    ["start:api", "api/server.ts", { PORT: "abc" }, /^api: invalid configuration; PORT: /],
    ["npm start", "scripts/start.ts", { WORKERS: "0" }, /^start: invalid configuration; WORKERS: /],
    ["start:worker", "worker/main.ts", { LOG_LEVEL: "verbose" }, /^worker: invalid configuration; LOG_LEVEL: /],
    ["start:runner-sim", "runner-sim/main.ts", { LOG_LEVEL: "verbose" }, /^runner-sim: invalid configuration; LOG_LEVEL: /],
    // Empty means unset: neither runner tokens nor the registration secret.
    ["start:runner-sim", "runner-sim/main.ts", { RUNNER_TOKENS: "" }, /^runner-sim: invalid configuration; RUNNER_REGISTRATION_TOKEN: set it .* or RUNNER_TOKENS/],
    ["check:invariants", "scripts/check-invariants.ts", { LOG_LEVEL: "verbose" }, /^check:invariants: invalid configuration; LOG_LEVEL: /],
    ["admin", "admin/cli.ts", { LOG_LEVEL: "verbose" }, /^admin: invalid configuration; LOG_LEVEL: /],
  ])("%s (%s) with %j prints the message alone and exits 2", async (_, entry, env, pattern) => {
    const r = await runToExit(entry, { ...common(), ...env }, entry === "admin/cli.ts" ? ["user", "create", "--login", "bob"] : []);
    expect(r.code, r.lines.join("\n")).toBe(2);
    expect(r.lines, r.lines.join("\n")).toHaveLength(1);
    expect(r.lines[0]).toMatch(pattern);
  });
});

describe("db:migrate creating a database", () => {
  it("says it created one (a typo in the name would otherwise pass silently)", async () => {
    const name = `${db.name}_typo`;
    const url = `${db.url}_typo`;
    try {
      const r = await runToExit("prisma/migrate.ts", { DATABASE_URL: url });
      expect(r.code, r.lines.join("\n")).toBe(0);
      expect(r.lines[0]).toMatch(new RegExp(`^created database ${name} \\(it did not exist; if the name in DATABASE_URL is a typo, stop and fix it\\)$`));
      const again = await runToExit("prisma/migrate.ts", { DATABASE_URL: url });
      expect(again.lines.join("\n")).not.toMatch(/created database/);
    } finally {
      const c = new pg.Client({ connectionString: inject("serverUrl") });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(name)} WITH (FORCE)`);
      await c.end();
    }
  });
});

describe("a private Redis", () => {
  let redis: PrivateRedis;
  beforeAll(async () => {
    redis = await PrivateRedis.create();
  });
  afterAll(async () => {
    await redis?.dispose();
  });
  const withPassword = (pw: string) => redis.url.replace(/:[^:@/]*@/, `:${pw}@`);

  it.each(REDIS_USERS)("%s with a wrong password: one line naming REDIS_URL's user, no password", async (_, entry, args) => {
    const r = await runToExit(entry, { ...common(), REDIS_URL: withPassword(SECRET) }, args);
    expectOneLine(r, new RegExp(`Redis refused the credentials of user "default" at redis://default@127\\.0\\.0\\.1:${redis.port} \\(REDIS_URL\\): WRONGPASS.* — fix the user or password in REDIS_URL`));
  });

  it("a refused login reaches BullMQ's listeners with the AUTH arguments blanked", async () => {
    const conn = connectRedis(withPassword(SECRET), "producer", "scrub-test");
    const queue = new Queue("scrub", { connection: conn, prefix: "fcscrub" });
    try {
      const err = await new Promise<Error & { command?: { name: string; args: string[] } }>((resolve) => queue.once("error", resolve));
      expect(err.message).toMatch(/^WRONGPASS/);
      expect(err.command?.name).toBe("auth");
      expect(err.command?.args.every((a) => a === "***")).toBe(true);
      expect(JSON.stringify(err.command)).not.toContain(SECRET);
    } finally {
      // Its connection was refused on purpose: closing it may fail too, and that is expected.
      await queue.close().catch(() => {});
      conn.disconnect();
    }
  });

  it("runner-sim whose user may not subscribe to the prefix's channel: one line, not 'fleet ready'", async () => {
    const acl = await redis.applyAcl("other-prefix");
    const r = await runToExit("runner-sim/main.ts", { ...common(), REDIS_URL: acl.runner, QUEUE_PREFIX: "fcprefix" });
    // Before it: the one info line saying where the fleet keeps its state.
    expect(r.lines.filter((l) => !l.includes('"msg":"fleet state"')).join("\n")).not.toMatch(/ready/);
    expectOneLine({ ...r, lines: r.lines.filter((l) => !l.includes('"msg":"fleet state"')) }, /^runner-sim: Redis user "actions-runner" lacks a permission at redis:\/\/actions-runner@127\.0\.0\.1:\d+ \(REDIS_URL\): NOPERM/);
  });

  it("the worker and the API report a lost Redis once and its return once", async () => {
    const env = { ...common(), PORT: "0", REDIS_URL: redis.url, INTENT_SIGNING_KEY: process.env.INTENT_SIGNING_KEY! };
    const worker = spawnService("worker/main.ts", env);
    const api = spawnService("api/server.ts", env);
    try {
      await worker.waitForLine(/"worker ready"/);
      await api.waitForLine(/"api listening"/);
      await redis.stop();
      await worker.waitForLine(/"lost: Redis is unreachable at redis:\/\/default@127\.0\.0\.1:\d+ \(REDIS_URL\)/);
      await api.waitForLine(/"lost: Redis is unreachable at/);
      await redis.start();
      await worker.waitForLine(/"back: Redis answers again"/);
      await api.waitForLine(/"back: Redis answers again"/);
    } finally {
      await Promise.all([worker.kill(), api.kill()]);
    }
    for (const svc of [worker, api]) {
      const out = svc.output();
      expect(out.match(/"msg":"lost: /g), out).toHaveLength(1);
      expect(out.match(/"msg":"back: /g), out).toHaveLength(1);
      expect(out).not.toMatch(/ECONNREFUSED[\s\S]*ECONNREFUSED/);
      expect(out).not.toContain("    at ");
    }
  });
});

describe("a private Postgres", () => {
  it("the worker and the API report a lost Postgres once and its return once", async () => {
    const server = await PrivatePostgres.create();
    const url = server.url("actions");
    const env = { ...common(), PORT: "0", DATABASE_URL: url, INTENT_SIGNING_KEY: process.env.INTENT_SIGNING_KEY! };
    let worker, api;
    try {
      await migrate(url);
      worker = spawnService("worker/main.ts", env);
      api = spawnService("api/server.ts", env);
      await worker.waitForLine(/"worker ready"/);
      await api.waitForLine(/"api listening"/);
      await server.stop();
      await worker.waitForLine(/"lost: Postgres is unreachable at postgresql:\/\/postgres@127\.0\.0\.1:\d+\/actions \(DATABASE_URL\)/);
      await api.waitForLine(/"lost: Postgres is unreachable at/);
      await server.start();
      await worker.waitForLine(/"back: Postgres answers again"/);
      await api.waitForLine(/"back: Postgres answers again"/);
    } finally {
      await Promise.all([worker?.kill(), api?.kill()]);
      await server.dispose();
    }
    for (const svc of [worker, api]) {
      const out = svc.output();
      expect(out.match(/"msg":"lost: /g), out).toHaveLength(1);
      expect(out.match(/"msg":"back: /g), out).toHaveLength(1);
      expect(out).not.toContain("    at ");
    }
  });
});
