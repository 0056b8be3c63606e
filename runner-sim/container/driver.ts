// Runs one workflow step in a simulated container: a plain `node main.mjs`
// child that leads its own process group, so a stop reaches everything it is.

import { spawn, type ChildProcess } from "node:child_process";
import { performance } from "node:perf_hooks";
import type { Readable } from "node:stream";
import { StringDecoder } from "node:string_decoder";
import { fileURLToPath } from "node:url";
import { parseScript } from "./script.ts";

export interface ContainerExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** wall clock ms (performance.timeOrigin + performance.now()) when the process was seen gone */
  at: number;
  /** Set when the container's end could not be observed (a lost Docker engine): why the step fails. */
  error?: string;
}

export interface Container {
  readonly pid: number;
  /** The engine's container id (RUNNER_DRIVER=docker). */
  readonly id?: string;
  readonly exited: Promise<ContainerExit>;
  /** SIGTERM to the whole process group; SIGKILL to the group after graceMs if still alive. Resolves with the exit once the group is gone. Idempotent. */
  stop(graceMs: number): Promise<ContainerExit>;
  /** SIGKILL the group at once. */
  kill(): Promise<ContainerExit>;
}

export interface StartOptions {
  /** Called once per output line, without its newline. Must not throw. */
  onLine: (line: string, stream: "stdout" | "stderr") => void;
  /** The container's whole environment: nothing is inherited from the runner. */
  env?: Record<string, string>;
}

const MAIN = fileURLToPath(new URL("./main.mjs", import.meta.url));
// Linux refuses a single argv string over 128 KiB (MAX_ARG_STRLEN) with E2BIG.
const MAX_ARG_CHARS = 120_000;

const now = (): number => performance.timeOrigin + performance.now();

/** process.kill(pid, 0): true while the pid exists, including when we may not signal it. */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

export function startContainer(run: string, opts: StartOptions): Container {
  const encoded = Buffer.from(JSON.stringify(parseScript(run))).toString("base64url");
  if (encoded.length > MAX_ARG_CHARS) throw new Error(`step script too long (${run.length} characters)`);
  const child = spawn(process.execPath, [MAIN, encoded], {
    detached: true,
    // stdin stays open while the runner lives: the container exits when it closes.
    stdio: ["pipe", "pipe", "pipe"],
    env: containerEnv(opts.env),
  });
  // Without a pid the spawn failed and an 'error' event is on its way; the
  // listener keeps it from becoming an uncaught exception — the throw reports it.
  child.on("error", () => {});
  child.stdin?.on("error", () => {});
  const pid = child.pid;
  if (pid === undefined) throw new Error("container failed to start");
  forwardLines(child.stdout!, (line) => opts.onLine(line, "stdout"));
  forwardLines(child.stderr!, (line) => opts.onLine(line, "stderr"));
  const container = new ProcessContainer(child, pid);
  live.add(container);
  void container.exited.then(() => live.delete(container));
  ensureExitHook();
  return container;
}

/**
 * Nothing is inherited, so the runner's NODE_OPTIONS (a tsx loader under vitest,
 * say) cannot slow the container's start; and a step's env may not steer the
 * container's own node binary (NODE_OPTIONS could --require arbitrary code).
 */
function containerEnv(env: Record<string, string> = {}): Record<string, string> {
  const { NODE_OPTIONS: _dropped, ...rest } = env;
  return rest;
}

/** Exported for tests. */
export function forwardLines(stream: Readable, emit: (line: string) => void): void {
  const decoder = new StringDecoder("utf8");
  let pending = "";
  const flushLines = (chunk: string): void => {
    const parts = (pending + chunk).split("\n");
    pending = parts.pop()!;
    for (const p of parts) emit(p.endsWith("\r") ? p.slice(0, -1) : p);
  };
  stream.on("data", (buf: Buffer) => flushLines(decoder.write(buf)));
  stream.on("end", () => {
    flushLines(decoder.end());
    if (pending !== "") emit(pending);
    pending = "";
  });
}

class ProcessContainer implements Container {
  readonly exited: Promise<ContainerExit>;
  /** The leader has been reaped (Node emits 'exit' in the same tick as the reap). */
  private gone = false;
  private stopRequested = false;
  private killTimer: NodeJS.Timeout | undefined;

  constructor(
    child: ChildProcess,
    readonly pid: number,
  ) {
    let exitAt: number | undefined;
    child.once("exit", () => {
      exitAt = now();
      this.gone = true;
      // A pending SIGKILL timer would otherwise hold the runner's event loop for the rest of the grace.
      clearTimeout(this.killTimer);
    });
    // 'close' comes after 'exit' and after both pipes hit EOF: every line has
    // been delivered by then. `at` keeps the reap time, which is what "gone" means.
    this.exited = new Promise((resolve) => {
      child.once("close", (code, signal) => resolve({ code, signal, at: exitAt ?? now() }));
    });
  }

  stop(graceMs: number): Promise<ContainerExit> {
    if (this.stopRequested || this.gone) return this.exited;
    this.stopRequested = true;
    this.signalGroup("SIGTERM");
    this.killAfter(performance.now() + graceMs);
    return this.exited;
  }

  /** Timers may fire a millisecond early against real time; the grace is a promise, so re-arm until it has passed. */
  private killAfter(deadline: number): void {
    const left = deadline - performance.now();
    if (left <= 0) this.signalGroup("SIGKILL");
    else this.killTimer = setTimeout(() => this.killAfter(deadline), Math.ceil(left));
  }

  kill(): Promise<ContainerExit> {
    clearTimeout(this.killTimer);
    this.signalGroup("SIGKILL");
    return this.exited;
  }

  /**
   * Never after the leader has been reaped: its pid (and so the group id) may
   * then belong to an unrelated process. Before that, even a zombie leader
   * keeps the id reserved, so the signal cannot go astray.
   */
  signalGroup(signal: NodeJS.Signals): void {
    if (this.gone) return;
    try {
      process.kill(-this.pid, signal);
    } catch (e) {
      // ESRCH: the group is already empty; 'exit' is on its way.
      if ((e as NodeJS.ErrnoException).code !== "ESRCH") throw e;
    }
  }
}

// Detached containers sit outside the runner's process group, so a terminal's
// Ctrl-C never reaches them and they would outlive a runner that calls
// process.exit(). Kill what is left as the runner goes. (A runner killed by a
// signal runs no 'exit' listener: its shutdown path must stop containers itself.)
const live = new Set<ProcessContainer>();
let exitHookInstalled = false;

function ensureExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once("exit", () => {
    for (const c of live) c.signalGroup("SIGKILL");
  });
}
