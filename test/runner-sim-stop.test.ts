import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, expect, inject, it } from "vitest";
import { freePort } from "../chaos/infra.ts";
import { waitFor } from "./setup/db.ts";

// docs/decisions.md, "Stopping": no pid file is left behind. The runner-sim takes its
// fleet lock (a pid file) before its runners register, and registration waits for an API
// that may not answer yet (npm start starts the fleet first), so a stop in that window
// must remove the lock file too, and exit 0.

const stateDir = mkdtempSync(path.join(os.tmpdir(), "runner-sim-stop-"));
afterAll(() => rmSync(stateDir, { recursive: true, force: true }));

const lockFiles = () => readdirSync(stateDir, { recursive: true, encoding: "utf8" }).filter((f) => path.basename(f) === "fleet.pid");

it("SIGTERM while its runners are still registering: exits 0 and leaves no pid file", { timeout: 90_000 }, async () => {
  const apiPort = await freePort(); // nothing listens: registration keeps retrying
  const proc = spawn(process.execPath, ["--import", "tsx", "runner-sim/main.ts"], {
    env: {
      ...process.env, LOG_PRETTY: "false", REDIS_URL: inject("redisUrl"), QUEUE_PREFIX: `rss${process.pid}`,
      API_URL: `http://127.0.0.1:${apiPort}`, RUNNER_REGISTRATION_TOKEN: "r".repeat(24), RUNNER_TOKENS: "", RUNNER_STATE_DIR: stateDir,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  proc.stdout.on("data", (d: Buffer) => (out += d.toString()));
  proc.stderr.on("data", (d: Buffer) => (out += d.toString()));
  const ended = new Promise<{ code: number | null; signal: string | null }>((resolve) => proc.on("close", (code, signal) => resolve({ code, signal })));
  try {
    await waitFor("the fleet lock file", async () => lockFiles().length > 0 || proc.exitCode !== null, 60_000, 100);
    expect(proc.exitCode, out).toBeNull();
    proc.kill("SIGTERM");
    const r = await ended;
    expect(r, out).toEqual({ code: 0, signal: null });
    expect(lockFiles(), out).toEqual([]);
  } finally {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill("SIGKILL");
  }
});
