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

export function createLogger(name: string, opts: { level?: string; pretty?: boolean } = {}): Logger {
  const pretty = opts.pretty ?? (process.stdout.isTTY === true && !process.env.CI);
  return pino({
    name,
    level: opts.level ?? "info",
    redact: { paths: REDACT, censor: "[redacted]" },
    base: { pid: process.pid, proc: name },
    ...(pretty ? { transport: { target: "pino-pretty", options: { colorize: true } } } : {}),
  });
}
