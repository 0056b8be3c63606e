import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { inject } from "vitest";
import { createTestDb, waitFor, type TestDb } from "./setup/db.ts";
import { freePort } from "../chaos/infra.ts";

// An idle minute of `npm start` at the default log level (docs/operations.md, "Logs"): the
// runners' polling logs at debug, so what is printed is events, not traffic. The whole system
// as a user runs it — api, a worker and the runner-sim fleet, default heartbeat and
// cancel-check periods — on this file's database, a free port and a private queue prefix.

const ROOT = path.resolve(import.meta.dirname, "..");
const IDLE_MS = 60_000;
let db: TestDb;
let stateDir: string;

beforeAll(async () => {
  db = await createTestDb("quietlogs");
  stateDir = mkdtempSync(path.join(os.tmpdir(), "quiet-logs-"));
});
afterAll(async () => {
  rmSync(stateDir, { recursive: true, force: true });
  await db?.drop();
});

it("an idle minute of npm start logs fewer than 20 lines at the default level", async () => {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    DATABASE_URL: db.url,
    REDIS_URL: inject("redisUrl"),
    QUEUE_PREFIX: `quiet${process.pid}${Math.random().toString(36).slice(2, 7)}`,
    PORT: String(await freePort()),
    WORKER_PORT: "0",
    RUNNER_NAME_PREFIX: `quiet-${Math.random().toString(36).slice(2, 8)}`,
    RUNNER_STATE_DIR: stateDir,
    LOG_PRETTY: "false",
  };
  // The defaults, whatever the test run's environment says.
  for (const k of ["LOG_LEVEL", "HEARTBEAT_MS", "CANCEL_POLL_MS", "RUNNERS", "WORKERS"]) delete env[k];
  const proc = spawn(process.execPath, ["--import", "tsx", "scripts/start.ts"], { cwd: ROOT, env, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  proc.stdout!.on("data", (d: Buffer) => (out += d.toString()));
  proc.stderr!.on("data", (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => proc.on("exit", (code) => resolve(code)));
  try {
    // Ready: the banner is out and the demo run's long job is running in its container — from
    // here on nothing happens but heartbeats, cancel-checks and the workers' maintenance.
    await waitFor(`the demo's long job to start; got:\n${out.slice(-3000)}`, async () => {
      const held = /its job (\d+) sleeps/.exec(out)?.[1];
      return held !== undefined && new RegExp(`"job_id":${held},"step_id":\\d+,"pid":\\d+,"msg":"container started"`).test(out);
    }, 90_000, 50);
    const from = out.length;
    const until = Date.now() + IDLE_MS;
    // A full minute is the measure; the process must stay up through it.
    await waitFor("the idle minute to pass", async () => proc.exitCode === null && Date.now() >= until, IDLE_MS + 5_000, 200);
    const lines = out.slice(from).split("\n").filter((l) => l.trim() !== "");
    expect(lines.length, `lines logged in an idle minute:\n${lines.join("\n")}`).toBeLessThan(20);
    // None of them is a runner's polling.
    expect(lines.filter((l) => /"path":"[^"]*(heartbeat|cancel-check)"/.test(l))).toEqual([]);
  } finally {
    proc.kill("SIGTERM");
    await exited;
  }
}, 200_000);
