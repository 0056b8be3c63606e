import { spawn, type ChildProcess } from "node:child_process";

export interface Service {
  proc: ChildProcess;
  output(): string;
  /** Resolves when the service printed `line` (a log message), or rejects at the deadline. */
  waitForLine(line: RegExp, timeoutMs?: number): Promise<void>;
  kill(signal?: NodeJS.Signals): Promise<number | null>;
}

/** Starts one of the project's entry points as a real process (what `npm run start:*` runs). `cwd`: where `tsx` and a relative `entry` resolve (the checkout, for a caller elsewhere). */
export function spawnService(entry: string, env: Record<string, string>, nodeArgs: string[] = [], cwd?: string): Service {
  const proc = spawn(process.execPath, [...nodeArgs, "--import", "tsx", entry], {
    cwd,
    env: { ...process.env, LOG_PRETTY: "false", LOG_LEVEL: process.env.SERVICE_LOG_LEVEL ?? "info", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  const listeners = new Set<() => void>();
  const onData = (d: Buffer) => {
    out += d.toString();
    for (const l of listeners) l();
  };
  proc.stdout!.on("data", onData);
  proc.stderr!.on("data", onData);
  const exited = new Promise<number | null>((resolve) => proc.on("exit", (code) => resolve(code)));
  return {
    proc,
    output: () => out,
    waitForLine(line, timeoutMs = 20_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          if (line.test(out)) {
            listeners.delete(check);
            clearTimeout(timer);
            resolve();
          }
        };
        const timer = setTimeout(() => {
          listeners.delete(check);
          reject(new Error(`${entry} did not print ${line} within ${timeoutMs} ms; output:\n${out.slice(-3000)}`));
        }, timeoutMs);
        listeners.add(check);
        check();
        void exited.then(() => {
          if (listeners.has(check)) {
            listeners.delete(check);
            clearTimeout(timer);
            reject(new Error(`${entry} exited before printing ${line}; output:\n${out.slice(-3000)}`));
          }
        });
      });
    },
    async kill(signal = "SIGTERM") {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
      return exited;
    },
  };
}
