import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { z } from "zod";
import { commonEnv, parseConfig } from "../infra/config.ts";
import { createPrisma } from "../infra/db.ts";
import { migrate, summary } from "../prisma/migrate.ts";
import { demoRun, seedDemo } from "./seed.ts";
import { ensureSigningKey } from "../infra/signing.ts";
import { DUPLICATE_MS, SUPERVISED_ENV, watchParent } from "../infra/shutdown.ts";
import { failClearly, probeRedis } from "../infra/deps.ts";
import { probeServer } from "../prisma/migrate.ts";

failClearly("start");

// `npm start`: the whole system on one machine. Migrates, seeds the demo world, then
// runs the API, WORKERS worker processes and a runner-sim fleet as children with
// prefixed output; Ctrl-C or SIGTERM to any process of the tree stops them all, the
// runners first (a second signal forces).

const cfg = parseConfig(commonEnv.extend({
  WORKERS: z.coerce.number().int().min(1).max(32).default(1),
  PORT: z.coerce.number().int().min(1).max(65535).default(3000),
  RUNNER_SIM: z.enum(["true", "false"]).default("true"),
}));
// The fleet registers itself with a secret that lives as long as this command.
process.env.RUNNER_REGISTRATION_TOKEN ??= randomBytes(24).toString("hex");
// API and workers sign and verify intents with a key of this command's own, unless given.
ensureSigningKey();
process.env.API_URL ??= `http://127.0.0.1:${cfg.PORT}`;
// A try-out on one machine: hooks may point at receivers on it (npm run hook-receiver). A
// deployment runs the processes itself and leaves this false (docs/events.md, "Hook URLs").
process.env.WEBHOOK_ALLOW_PRIVATE ??= "true";
/** `closed`: exited, and every line of its output relayed. */
type Child = { name: string; proc: ChildProcess; stage: number; closed: Promise<void>; ready: boolean; termed: boolean };
const children: Child[] = [];
const COLORS = [36, 33, 35, 32, 34, 31];
/** Children stop in stages: the runners first, so the jobs they hold are reported to a live API. */
const STAGES = 2;
/** A child that has not exited this long after being told to stop is killed. */
const CHILD_BACKSTOP_MS = 30_000;
const FORCE_BACKSTOP_MS = 3_000;

// Each child leads its own process group, so the terminal's Ctrl-C reaches only npm and
// this process; the child hears of it once, from here. The IPC channel is how a child asks
// for the stop (a signal sent to it) and how it notices this process is gone (the kernel
// closes the channel even on SIGKILL). docs/decisions.md, "Stopping".
function run(name: string, entry: string, color: number, stage: number): void {
  if (stopping) return;
  const proc = spawn(process.execPath, ["--import", "tsx", entry], {
    env: { ...process.env, [SUPERVISED_ENV]: "1", LOG_PRETTY: process.env.LOG_PRETTY ?? (process.stdout.isTTY ? "true" : "false") },
    stdio: ["ignore", "pipe", "pipe", "ipc"],
    detached: true,
  });
  const tag = process.stdout.isTTY ? `\x1b[${color}m${name.padEnd(9)}\x1b[0m│ ` : `${name.padEnd(9)}| `;
  const pipe = (stream: NodeJS.ReadableStream, out: NodeJS.WriteStream) => {
    let buf = "";
    stream.on("data", (d: Buffer) => {
      buf += d.toString();
      const lines = buf.split("\n");
      buf = lines.pop() ?? "";
      for (const l of lines) out.write(tag + l + "\n");
    });
  };
  pipe(proc.stdout!, process.stdout);
  pipe(proc.stderr!, process.stderr);
  proc.on("error", (e) => console.error(`${tag}could not start: ${e.message}`));
  proc.on("message", (m: { type?: string; signal?: string }) => {
    if (m?.type === "shutdown-ready") child.ready = true;
    if (m?.type !== "stop-request") return;
    // Asked while already stopping (its handlers came up after its SIGTERM was sent, say):
    // it waits for word from here, so give it at once.
    if (stopping) void stopChild(child, "stop");
    else request({ kind: "child", reason: `${name} received ${m.signal ?? "a signal"}` });
  });
  proc.on("exit", (code, signal) => {
    console.log(`${tag}exited (${signal ?? code})`);
    // Killed by the SIGTERM sent while it was still starting is a clean stop too.
    if (code !== 0 && !(signal === "SIGTERM" && child.termed)) failed = true;
    if (!stopping) request({ kind: "child", reason: `${name} exited` });
  });
  const closed = new Promise<void>((resolve) => proc.once("close", () => resolve()));
  const child: Child = { name, proc, stage, closed, ready: false, termed: false };
  children.push(child);
}

const alive = (c: Child) => c.proc.exitCode === null && c.proc.signalCode === null;

/** Tells a child (over its channel, or by SIGTERM without one); kills its group past the backstop. */
async function stopChild(c: Child, how: "stop" | "force"): Promise<void> {
  if (!alive(c)) return c.closed;
  if (c.ready && c.proc.connected) c.proc.send({ type: how }, () => {});
  else {
    c.termed = true;
    c.proc.kill("SIGTERM");
  }
  const backstop = setTimeout(() => {
    console.log(`${c.name} did not stop in time: killing it`);
    killGroup(c);
  }, how === "stop" ? CHILD_BACKSTOP_MS : FORCE_BACKSTOP_MS);
  await c.closed;
  clearTimeout(backstop);
}

function killGroup(c: Child): void {
  if (!alive(c) || c.proc.pid === undefined) return;
  try {
    process.kill(-c.proc.pid, "SIGKILL");
  } catch {
    c.proc.kill("SIGKILL");
  }
}

type Request = { kind: "signal"; signal: "SIGINT" | "SIGTERM" | "SIGHUP" } | { kind: "child"; reason: string } | { kind: "parent-gone" };
let stopping = false;
let failed = false;
let firstAt = 0;
let forcing = false;

function request(r: Request): void {
  if (!stopping) {
    stopping = true;
    firstAt = Date.now();
    void stopAll(r);
    return;
  }
  // npm forwards the terminal's SIGINT to this process, which got it from the terminal
  // too: a repeat within DUPLICATE_MS is the same Ctrl-C. A closing terminal never forces.
  if (r.kind !== "signal" || r.signal === "SIGHUP" || forcing || Date.now() - firstAt < DUPLICATE_MS) return;
  forcing = true;
  console.log(`forcing the stop (second ${r.signal})…`);
  void Promise.all(children.map((c) => stopChild(c, "force"))).then(() => process.exit(1));
}

async function stopAll(r: Request): Promise<void> {
  const reason = r.kind === "signal" ? r.signal : r.kind === "child" ? r.reason : "parent process exited";
  console.log(`stopping (${reason})…`);
  setTimeout(() => {
    if (!forcing) console.log("still stopping: press Ctrl-C again (or send another signal) to force");
  }, DUPLICATE_MS).unref();
  for (let stage = 0; stage < STAGES; stage++) {
    await Promise.all(children.filter((c) => c.stage === stage).map((c) => stopChild(c, "stop")));
  }
  if (forcing) return;
  console.log(failed ? "stopped; a process did not stop cleanly" : "stopped");
  if (failed) process.exit(1);
  // The shell's convention for an interrupted command: die of the signal (exit status 130).
  if (r.kind === "signal" && r.signal === "SIGINT") {
    process.removeAllListeners("SIGINT");
    process.kill(process.pid, "SIGINT");
    return;
  }
  process.exit(0);
}

process.on("SIGINT", () => request({ kind: "signal", signal: "SIGINT" }));
process.on("SIGTERM", () => request({ kind: "signal", signal: "SIGTERM" }));
// The terminal closed: stop as for Ctrl-C, and never die of writing to it.
process.on("SIGHUP", () => request({ kind: "signal", signal: "SIGHUP" }));
for (const out of [process.stdout, process.stderr]) out.on("error", () => {});
// Reparented: npm (or whatever ran this) is gone, even by SIGKILL; nothing is left to stop us.
watchParent(() => request({ kind: "parent-gone" }));

async function waitForApi(): Promise<void> {
  for (let i = 0; i < 600 && !stopping; i++) {
    const ok = await fetch(`${process.env.API_URL}/readyz`).then((r) => r.ok, () => false);
    if (ok) return;
    await new Promise((r) => setTimeout(r, 100));
  }
}

function banner(token: string, run: { run_id: number; job_ids: number[] }): void {
  const url = process.env.API_URL;
  console.log(`
  actions-lifecycle is up at ${url}
  demo token (repo:write on demo/hello, valid 7 days): ${token}
  run ${run.run_id} was just started; its job ${run.job_ids[1]} sleeps 600 s once build is done.

  cancel that job:
    curl -s -X POST -H "Authorization: Bearer ${token}" ${url}/api/v1/jobs/${run.job_ids[1]}/cancel
  then rerun the run:
    curl -s -X POST -H "Authorization: Bearer ${token}" ${url}/api/v1/runs/${run.run_id}/rerun
`);
}

// Both answer before anything starts: one line names the one that does not (docs/decisions.md, "Failing clearly").
await Promise.all([probeServer(cfg.DATABASE_URL), probeRedis(cfg.REDIS_URL)]);
console.log(summary(await migrate(cfg.DATABASE_URL)));
const prisma = createPrisma(cfg.DATABASE_URL, 2);
const seeded = await seedDemo(prisma);
run("api", "api/server.ts", COLORS[0]!, 1);
for (let i = 1; i <= cfg.WORKERS; i++) run(`worker-${i}`, "worker/main.ts", COLORS[i % COLORS.length]!, 1);
if (cfg.RUNNER_SIM === "true") run("runner", "runner-sim/main.ts", COLORS[5]!, 0);
await waitForApi();
if (!stopping) banner(seeded.token, await demoRun(prisma));
await prisma.$disconnect();
