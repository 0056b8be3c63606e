import type { Logger } from "./logger.ts";
import { assertNever } from "./assert.ts";

// How a process of the system stops (docs/decisions.md, "Stopping"):
// - SIGINT or SIGTERM starts a graceful stop in named phases, each bounded, under one
//   deadline. Signals that arrive within DUPLICATE_MS of the first are the same request:
//   one Ctrl-C reaches a process twice when npm forwards the terminal's SIGINT to a child
//   that got it from the terminal too. A later signal forces the exit.
// - Under `npm start` (a supervisor holding an IPC channel to this process) a signal is
//   handed to the supervisor, which stops the whole system in order and tells this
//   process when; the channel closing means the supervisor is gone, so this process
//   stops too. Without a channel, the parent is watched through process.ppid: a changed
//   parent means ours died (even by SIGKILL) and we were reparented.

export type Phase = [name: string, run: () => Promise<unknown>, timeoutMs?: number];

export const DUPLICATE_MS = 750;
export const SUPERVISED_ENV = "ACTIONS_SUPERVISED";

export type StopState = { kind: "running" } | { kind: "delegated"; at: number } | { kind: "stopping"; at: number };

export type StopEvent =
  | { kind: "signal"; signal: string; at: number }
  | { kind: "supervisor-stop" }
  | { kind: "supervisor-force" }
  | { kind: "parent-gone" };

export type StopAction =
  | { kind: "stop"; reason: string }
  | { kind: "delegate"; signal: string }
  | { kind: "force"; reason: string }
  | { kind: "ignore"; why: "duplicate signal" | "already stopping" };

/** What one event does to a process in state `s`; `at` is when the first request came. */
export function decideStop(s: StopState, e: StopEvent, supervised: boolean): StopAction {
  switch (e.kind) {
    case "signal":
      if (s.kind === "running") return supervised ? { kind: "delegate", signal: e.signal } : { kind: "stop", reason: e.signal };
      if (e.at - s.at < DUPLICATE_MS) return { kind: "ignore", why: "duplicate signal" };
      return { kind: "force", reason: `second signal (${e.signal})` };
    case "supervisor-stop":
      return s.kind === "stopping" ? { kind: "ignore", why: "already stopping" } : { kind: "stop", reason: "asked by the supervisor" };
    case "supervisor-force":
      return { kind: "force", reason: "asked by the supervisor" };
    case "parent-gone":
      return s.kind === "stopping" ? { kind: "ignore", why: "already stopping" } : { kind: "stop", reason: "parent process exited" };
    default:
      return assertNever(e, "stop event");
  }
}

export interface ShutdownOptions {
  /** The whole stop; past it the process exits 1. */
  deadlineMs?: number;
  /** A phase without its own timeout gets this long. */
  phaseMs?: number;
  /** Runs synchronously just before a forced exit: remove what must not outlive the process. */
  onForce?: () => void;
}

/** Runs `run` for at most `ms`: "timeout" if it took longer (it is left behind). */
export async function bounded(run: () => Promise<unknown>, ms: number): Promise<"done" | "timeout"> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<"timeout">((resolve) => {
    timer = setTimeout(() => resolve("timeout"), ms);
  });
  try {
    return await Promise.race([run().then(() => "done" as const), late]);
  } finally {
    clearTimeout(timer);
  }
}

/** Is this process run by a supervisor (scripts/start.ts) over an IPC channel? */
export const isSupervised = (): boolean => process.env[SUPERVISED_ENV] === "1" && typeof process.send === "function";

/** Installs the signal handlers and the parent watch; the phases run once, in order. */
export function onShutdown(log: Logger, phases: Phase[], opts: ShutdownOptions = {}): void {
  const deadlineMs = opts.deadlineMs ?? 25_000;
  const phaseMs = opts.phaseMs ?? 10_000;
  const supervised = isSupervised();
  let state: StopState = { kind: "running" };

  const force = (reason: string) => {
    log.warn({ reason }, "forcing exit");
    try {
      opts.onForce?.();
    } finally {
      process.exit(1);
    }
  };

  const stop = async (reason: string) => {
    state = { kind: "stopping", at: state.kind === "delegated" ? state.at : Date.now() };
    log.info({ reason }, "shutting down");
    setTimeout(() => force(`shutdown deadline of ${deadlineMs} ms passed`), deadlineMs).unref();
    const started = Date.now();
    let code = 0;
    for (const [name, run, ms] of phases) {
      const budget = Math.max(0, Math.min(ms ?? phaseMs, deadlineMs - (Date.now() - started) - 500));
      try {
        const r = await bounded(run, budget);
        if (r === "timeout") {
          code = 1;
          log.warn({ phase: name, after_ms: budget }, "shutdown phase did not finish in time; going on");
        } else log.info({ phase: name }, "shutdown phase done");
      } catch (e) {
        code = 1;
        log.error({ phase: name, err: (e as Error).message }, "shutdown phase failed");
      }
    }
    process.exit(code);
  };

  const handle = (e: StopEvent) => {
    const a = decideStop(state, e, supervised);
    switch (a.kind) {
      case "stop":
        void stop(a.reason);
        return;
      case "delegate":
        state = { kind: "delegated", at: Date.now() };
        log.info({ signal: a.signal }, "asking the supervisor to stop the system");
        process.send!({ type: "stop-request", signal: a.signal });
        return;
      case "force":
        force(a.reason);
        return;
      case "ignore":
        if (a.why === "duplicate signal") log.debug("signal repeated within the same request; ignored");
        return;
      default:
        assertNever(a, "stop action");
    }
  };

  for (const signal of ["SIGINT", "SIGTERM"] as const) process.on(signal, () => handle({ kind: "signal", signal, at: Date.now() }));
  if (supervised) {
    process.on("message", (m: { type?: string }) => {
      if (m?.type === "stop") handle({ kind: "supervisor-stop" });
      else if (m?.type === "force") handle({ kind: "supervisor-force" });
    });
    process.on("disconnect", () => handle({ kind: "parent-gone" }));
    // The channel must not keep the process alive on its own; it is watched, not waited on.
    process.channel?.unref();
    // Until this arrives the supervisor stops us with SIGTERM, whose default action is
    // right for a process still starting: it holds nothing yet.
    process.send!({ type: "shutdown-ready" });
  }
  watchParent(() => handle({ kind: "parent-gone" }));
}

/**
 * Calls `gone` once when the parent process dies: we are then reparented and
 * process.ppid (read afresh each time) changes. Polling is the one way that also sees a
 * SIGKILLed parent without its cooperation.
 */
export function watchParent(gone: () => void, everyMs = 500): void {
  const parent = process.ppid;
  const t = setInterval(() => {
    if (process.ppid === parent) return;
    clearInterval(t);
    gone();
  }, everyMs);
  t.unref();
}
