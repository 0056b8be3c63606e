import path from "node:path";
import { fileURLToPath } from "node:url";
import { spawnService, type Service } from "../scripts/service.ts";
import { KitError } from "./backends.ts";

// The system's processes, started as `npm run start:*` starts them, from the checkout this
// file is in (not the caller's working directory: a project elsewhere imports the kit by path).

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

/** A process of a system, and what it is called in errors. */
export interface Proc {
  name: string;
  entry: string;
  service: Service;
}

/** The log line each entry point prints once it serves (scripts/service.ts waits on it). */
export const READY: Record<string, RegExp> = {
  "api/server.ts": /"msg":"api listening"/,
  "worker/main.ts": /"msg":"worker ready"/,
  "runner-sim/main.ts": /"msg":"fleet ready"/,
};

/**
 * Settings a caller's own environment may hold that would change what the kit starts
 * (another fleet's tokens, TLS, a supervisor's channel): blank means unset to every entry
 * point (infra/config.ts parseConfig). Options given to startSystem come after these.
 */
const NEUTRAL: Record<string, string> = {
  RUNNER_TOKENS: "", TLS_CERT_FILE: "", TLS_KEY_FILE: "", INTENT_SIGNING_KEY_PREVIOUS: "", PUBLIC_URL: "",
  ACTIONS_SUPERVISED: "", PORT: "", HOST: "", WORKER_PORT: "", API_URL: "",
};

export function spawn(name: string, entry: string, env: Record<string, string>, echo: boolean): Proc {
  // Readiness is read from the JSON lines: pretty output would never match.
  const service = spawnService(path.join(REPO, entry), { ...NEUTRAL, ...env, LOG_PRETTY: "false" }, [], REPO);
  if (echo) {
    for (const stream of [service.proc.stdout!, service.proc.stderr!]) {
      let buf = "";
      stream.on("data", (d: Buffer) => {
        const lines = (buf + d.toString()).split("\n");
        buf = lines.pop() ?? "";
        for (const l of lines) process.stderr.write(`[${name}] ${l}\n`);
      });
    }
  }
  return { name, entry, service };
}

/** The process's last `n` lines of output, for an error message. */
export function tail(p: Proc, n = 20): string {
  const lines = p.service.output().trimEnd().split("\n");
  return lines.slice(-n).map((l) => `  ${l}`).join("\n");
}

const exited = (p: Proc) => p.service.proc.exitCode !== null || p.service.proc.signalCode !== null;

/** Resolves once `p` printed its ready line; else a KitError naming it, with its last lines. */
export async function ready(p: Proc, timeoutMs: number): Promise<void> {
  const line = READY[p.entry];
  if (!line) throw new Error(`no ready line known for ${p.entry}`);
  try {
    await p.service.waitForLine(line, timeoutMs);
  } catch {
    const { exitCode, signalCode } = p.service.proc;
    const what = exited(p)
      ? `exited (${signalCode ?? `code ${exitCode}`}) before it was ready`
      : `was not ready within ${timeoutMs} ms`;
    throw new KitError(`startSystem: the ${p.name} process (${p.entry}) ${what}; its last lines:\n${tail(p) || "  (no output)"}`);
  }
}

function exitWithin(p: Proc, ms: number): Promise<boolean> {
  if (exited(p)) return Promise.resolve(true);
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve(false), ms);
    p.service.proc.once("exit", () => {
      clearTimeout(t);
      resolve(true);
    });
  });
}

/**
 * SIGTERM: the graceful stop (a fleet reports its jobs cancelled and stops their
 * processes). A second signal after `stopMs` forces it (infra/shutdown.ts), which still
 * kills what the process started; SIGKILL is the last resort. True when it stopped cleanly.
 */
export async function stopProc(p: Proc, stopMs: number): Promise<boolean> {
  if (exited(p)) return true;
  p.service.proc.kill("SIGTERM");
  if (await exitWithin(p, stopMs)) return true;
  p.service.proc.kill("SIGTERM");
  if (await exitWithin(p, 5_000)) return false;
  p.service.proc.kill("SIGKILL");
  await exitWithin(p, 5_000);
  return false;
}
