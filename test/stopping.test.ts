import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { inject } from "vitest";
import { createTestDb, waitFor, type TestDb } from "./setup/db.ts";
import { pushAndRun } from "./setup/world.ts";
import { spawnService } from "./setup/stack.ts";
import { freePort } from "../chaos/infra.ts";

// `npm start` as a user runs it, in a real terminal (a pty from script(1)): Ctrl-C is the
// byte \x03 typed into it. What one and two Ctrl-C, SIGTERM to any process of the tree and
// SIGKILL of the supervisor do (docs/decisions.md, "Stopping").

const ROOT = path.resolve(import.meta.dirname, "..");
let db: TestDb;
const tmp: string[] = [];

beforeAll(async () => {
  db = await createTestDb("stopping");
});
afterAll(async () => {
  for (const d of tmp) rmSync(d, { recursive: true, force: true });
  await db?.drop();
});

/** pid → [ppid, start time] from /proc, for every process. */
function processes(): Map<number, { ppid: number; start: string; cmd: string }> {
  const out = new Map<number, { ppid: number; start: string; cmd: string }>();
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const s = readFileSync(`/proc/${d}/stat`, "utf8");
      const rest = s.slice(s.lastIndexOf(")") + 2).split(" ");
      const cmd = readFileSync(`/proc/${d}/cmdline`, "utf8").split("\0").join(" ");
      out.set(Number(d), { ppid: Number(rest[1]), start: rest[19]!, cmd });
    } catch {
      // Gone while being read.
    }
  }
  return out;
}

type Proc = { pid: number; start: string; cmd: string };

/** Every process below `root`, the root included. */
function tree(root: number): Proc[] {
  const all = processes();
  const found: Proc[] = [];
  const walk = (pid: number) => {
    const p = all.get(pid);
    if (!p) return;
    found.push({ pid, start: p.start, cmd: p.cmd });
    for (const [child, q] of all) if (q.ppid === pid) walk(child);
  };
  walk(root);
  return found;
}

/** Still the same process (same pid and start time)? */
const alive = (p: Proc) => processes().get(p.pid)?.start === p.start;
// npm's process title, and start.ts run by npm's shell with `exec` (no shell left between).
const NPM = /^npm start\s*$/;
const START = /^\S*node --import tsx scripts\/start\.ts/;
const find = (procs: Proc[], re: RegExp) => procs.find((p) => re.test(p.cmd));

interface System {
  term: ChildProcess;
  output(): string;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stateDir: string;
  /** The demo job that sleeps 600 s, once its container runs. */
  heldJob: number;
  procs: Proc[];
  ctrlC(): void;
  waitFor(re: RegExp, timeoutMs?: number): Promise<void>;
}

/** `npm start` in a pty on this file's database, free ports and a private queue prefix. */
async function startSystem(env: Record<string, string> = {}, extraJob?: string): Promise<System> {
  const stateDir = mkdtempSync(path.join(os.tmpdir(), "stopping-"));
  tmp.push(stateDir);
  const port = await freePort();
  const term = spawn("script", ["-qfec", "npm start", "/dev/null"], {
    cwd: ROOT,
    env: {
      ...process.env,
      DATABASE_URL: db.url,
      REDIS_URL: inject("redisUrl"),
      QUEUE_PREFIX: `stop${process.pid}${Math.random().toString(36).slice(2, 7)}`,
      PORT: String(port),
      WORKER_PORT: "0",
      WORKERS: "1",
      RUNNERS: "1",
      RUNNER_NAME_PREFIX: `stop-${Math.random().toString(36).slice(2, 8)}`,
      RUNNER_STATE_DIR: stateDir,
      LOG_PRETTY: "false",
      HEARTBEAT_MS: "200",
      ...env,
    },
    stdio: ["pipe", "pipe", "pipe"],
  });
  let out = "";
  term.stdout!.on("data", (d: Buffer) => (out += d.toString()));
  term.stderr!.on("data", (d: Buffer) => (out += d.toString()));
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => term.on("exit", (code, signal) => resolve({ code, signal })));
  const sys: System = {
    term,
    output: () => out,
    exit,
    stateDir,
    heldJob: 0,
    procs: [],
    ctrlC: () => void term.stdin!.write("\x03"),
    waitFor: (re, timeoutMs = 60_000) => waitFor(`${re} in the output of npm start; got:\n${out.slice(-4000)}`, async () => re.test(out), timeoutMs, 50).then(() => {}),
  };
  await sys.waitFor(/its job (\d+) sleeps/);
  sys.heldJob = Number(/its job (\d+) sleeps/.exec(out)![1]);
  const held = [sys.heldJob];
  if (extraJob) held.push((await pushAndRun(db.prisma, "demo/hello", extraJob, `e${Math.random().toString(16).slice(2, 10)}`)).job_ids[0]!);
  for (const id of held) await sys.waitFor(new RegExp(`"job_id":${id},"step_id":\\d+,"pid":\\d+,"msg":"container started"`));
  sys.procs = tree(term.pid!);
  // npm, start.ts, api, worker, runner-sim and the containers are all there.
  for (const re of [NPM, START, /api\/server\.ts/, /worker\/main\.ts/, /runner-sim\/main\.ts/, /container\/main\.mjs/]) {
    expect(find(sys.procs, re), `${re} among ${sys.procs.map((p) => p.cmd).join("\n")}`).toBeDefined();
  }
  return sys;
}

const jobStatus = async (id: number) => (await db.prisma.workflowJob.findUniqueOrThrow({ where: { id: BigInt(id) } })).status;

/** Pid and lock files left in the fleet's state folder (containers' <pid>.json, the lock's fleet.pid). */
function leftFiles(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const f of readdirSync(d)) {
      const p = path.join(d, f);
      if (statSync(p).isDirectory()) walk(p);
      else if (/^(\d+\.json|.*\.pid)$/.test(f)) out.push(path.relative(dir, p));
    }
  };
  walk(dir);
  return out;
}

async function allGone(sys: System, timeoutMs = 40_000): Promise<void> {
  try {
    await waitFor("every process of the tree to exit", async () => sys.procs.every((p) => !alive(p)), timeoutMs, 100);
  } catch (e) {
    // Which ones are left, as of the deadline, and what they said.
    const left = sys.procs.filter(alive).map((p) => `${p.pid} ${p.cmd}`).join("; ");
    throw new Error(`${(e as Error).message}; left: ${left}\n--- output ---\n${sys.output().slice(-6000)}`);
  }
}

/** A graceful stop: each child exited 0, the held job ended `cancelled` with a word in its log, no file left. */
async function expectCleanStop(sys: System): Promise<void> {
  await allGone(sys);
  const out = sys.output();
  for (const name of ["api", "worker-1", "runner"]) expect(out, `${name} exits 0`).toMatch(new RegExp(`${name}\\s*\\S*\\s*exited \\(0\\)`));
  expect(out).not.toMatch(/forcing exit|did not stop in time/);
  expect(out).toMatch(/\nstopped\r?\n/);
  expect(await jobStatus(sys.heldJob)).toBe("cancelled");
  const log = await db.pool.query("SELECT c.content FROM step_log_chunks c JOIN workflow_steps s ON s.id = c.step_id WHERE s.job_id = $1", [sys.heldJob]);
  expect(log.rows.map((r) => r.content).join("\n")).toMatch(/runner shutting down/);
  expect(leftFiles(sys.stateDir)).toEqual([]);
}

// A whole system starts and stops in each test: on a loaded machine that takes a while.
describe("stopping npm start", { timeout: 120_000 }, () => {
  it("one Ctrl-C stops everything gracefully: children exit 0, npm 130, the held job is cancelled, no pid file left", async () => {
    const sys = await startSystem();
    sys.ctrlC();
    const exit = await sys.exit;
    await expectCleanStop(sys);
    // script -e passes on npm's status: killed by SIGINT, as the shell's convention has it.
    expect(exit.code).toBe(130);
    // The terminal's SIGINT and npm's forwarded one were taken as one request.
    expect(sys.output()).not.toMatch(/second signal|forcing the stop/);
  });

  it("a second Ctrl-C forces: containers killed, nothing left running, no pid file left", async () => {
    // The extra job ignores SIGTERM and the grace is long: a graceful stop would wait for it.
    const sys = await startSystem({ CANCEL_GRACE_MS: "600000" }, "name: Stubborn\non: push\njobs:\n  hold:\n    runs-on: ubuntu-latest\n    steps:\n      - run: trap '' TERM; sleep 600\n");
    sys.ctrlC();
    await sys.waitFor(/still stopping: press Ctrl-C again/);
    sys.ctrlC();
    const exit = await sys.exit;
    await allGone(sys, 15_000);
    expect(exit.code).not.toBe(0);
    expect(sys.output()).toMatch(/forcing the stop/);
    expect(leftFiles(sys.stateDir)).toEqual([]);
  });

  const targets = [["npm", NPM], ["start.ts", START], ["the api", /api\/server\.ts/], ["a worker", /worker\/main\.ts/], ["the runner-sim", /runner-sim\/main\.ts/]] as const;
  for (const [name, target] of targets) {
    it(`SIGTERM to ${name} stops the whole tree as cleanly as Ctrl-C`, async () => {
      const sys = await startSystem();
      process.kill(find(sys.procs, target)!.pid, "SIGTERM");
      const exit = await sys.exit;
      await expectCleanStop(sys);
      expect(exit.code).toBe(0);
    });
  }

  it("SIGKILL of start.ts and of the runner-sim: the api, the worker and the containers exit by themselves", async () => {
    const sys = await startSystem();
    expect(find(sys.procs, /container\/main\.mjs/)).toBeDefined();
    for (const re of [START, /runner-sim\/main\.ts/]) process.kill(find(sys.procs, re)!.pid, "SIGKILL");
    await allGone(sys);
  });
});

describe("stopping a worker whose Redis is gone", () => {
  it("goes through every phase, each bounded, and exits by itself", async () => {
    const port = await freePort();
    const redis = spawn("redis-server", ["--port", String(port), "--save", "", "--appendonly", "no"], { stdio: "ignore" });
    let worker: ReturnType<typeof spawnService> | undefined;
    try {
      worker = spawnService("worker/main.ts", { DATABASE_URL: db.url, REDIS_URL: `redis://127.0.0.1:${port}`, QUEUE_PREFIX: `stopr${process.pid}`, WORKER_PORT: "0" });
      await worker.waitForLine(/worker ready/, 60_000);
      redis.kill("SIGKILL");
      await new Promise((r) => redis.once("exit", r));
      await worker.waitForLine(/lost: Redis is unreachable/, 30_000);
      const code = worker.kill("SIGTERM");
      await worker.waitForLine(/"phase":"disconnect database","msg":"shutdown phase done"/, 40_000);
      // It exits by itself (1: a phase could not finish cleanly), not at the deadline.
      expect(await code).toBe(1);
      expect(worker.output()).not.toMatch(/shutdown deadline/);
      // Nothing in hand can be acknowledged without Redis: the drain does not wait on it.
      expect(worker.output()).toMatch(/"phase":"drain in-flight intents","msg":"shutdown phase done"/);
    } finally {
      redis.kill("SIGKILL");
      await worker?.kill("SIGKILL");
    }
  });
});
