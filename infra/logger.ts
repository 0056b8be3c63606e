import { writeSync } from "node:fs";
import { pino, type Logger } from "pino";

export type { Logger };

// Anything that could carry a credential is redacted wherever it appears in a log object.
const REDACT = [
  "authorization",
  "*.authorization",
  "req.headers.authorization",
  "req.headers.cookie",
  "token",
  "*.token",
  "password",
  "*.password",
];

/**
 * Pretty mode is for a person at a terminal (`npm start`): one line per event, the request's
 * method, path, status and time in the line itself rather than as an indented object below it,
 * so a banner printed at start-up stays on screen (docs/operations.md, "Logs").
 * Options only, no functions: pino runs pino-pretty in a worker thread, so they are cloned.
 */
export const PRETTY_OPTIONS = {
  colorize: true,
  singleLine: true,
  translateTime: "SYS:HH:MM:ss",
  ignore: "pid,hostname,name,proc,method,path,status,ms",
  messageFormat: "{proc}: {msg}{if method} {method} {path} {status} {ms}ms{end}",
} as const;

export function createLogger(name: string, opts: { level?: string; pretty?: boolean } = {}): Logger {
  const pretty = opts.pretty ?? (process.stdout.isTTY === true && !process.env.CI);
  const options = {
    name,
    level: opts.level ?? "info",
    redact: { paths: REDACT, censor: "[redacted]" },
    base: { pid: process.pid, proc: name },
  };
  if (pretty) return pino({ ...options, transport: { target: "pino-pretty", options: PRETTY_OPTIONS } });
  // Asynchronous writes: lines logged in the same tick go out in one write instead of one
  // blocking syscall each (a request line per API call was a tenth of its CPU). pino
  // flushes what is buffered when the process exits.
  return pino(options, quietOnClose(pino.destination({ dest: 1, sync: false })));
}

type Destination = ReturnType<typeof pino.destination>;

/**
 * When nobody reads our output any more (the parent that piped it was killed), a write
 * fails with EPIPE. sonic-boom would retry the same buffer, and pino's flush at exit would
 * spin on it forever, so the process never ends: drop output from then on instead.
 */
export function quietOnClose(dest: Destination): Destination {
  const silence = () => Object.assign(dest, { write: () => true, flushSync: () => {}, flush: (cb?: (err?: Error) => void) => cb?.(), end: () => {} });
  dest.on("error", silence);
  // sonic-boom's flushSync retries every failed write, EPIPE too, without end; a write of
  // nothing answers EPIPE on a socket whose reader is gone, so ask that first.
  const flushSync = dest.flushSync.bind(dest);
  dest.flushSync = () => {
    try {
      const { fd } = dest as unknown as { fd: number };
      if (fd >= 0) writeSync(fd, "");
    } catch {
      silence();
      return;
    }
    flushSync();
  };
  return dest;
}
