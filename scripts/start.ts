import { spawn, type ChildProcess } from "node:child_process";
import { z } from "zod";
import { commonEnv, parseConfig } from "../core/config.ts";
import { migrate, summary } from "../prisma/migrate.ts";

// `npm start`: the whole service on one machine. Migrates, then runs the API and
// WORKERS worker processes as children with prefixed output; Ctrl-C or SIGTERM stops
// them all (a second signal kills them).

const cfg = parseConfig(commonEnv.extend({ WORKERS: z.coerce.number().int().min(1).max(32).default(1) }));
const children: { name: string; proc: ChildProcess }[] = [];
const COLORS = [36, 33, 35, 32, 34, 31];

function run(name: string, entry: string, color: number): void {
  const proc = spawn(process.execPath, ["--import", "tsx", entry], {
    env: { ...process.env, LOG_PRETTY: process.env.LOG_PRETTY ?? (process.stdout.isTTY ? "true" : "false") },
    stdio: ["ignore", "pipe", "pipe"],
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
  proc.on("exit", (code, signal) => {
    console.log(`${tag}exited (${signal ?? code})`);
    if (!stopping) shutdown(`${name} exited`, 1);
  });
  children.push({ name, proc });
}

let stopping = false;
function shutdown(reason: string, code = 0): void {
  if (stopping) {
    for (const c of children) c.proc.kill("SIGKILL");
    process.exit(1);
  }
  stopping = true;
  console.log(`stopping (${reason})…`);
  const alive = children.filter((c) => c.proc.exitCode === null && c.proc.signalCode === null);
  let left = alive.length;
  if (left === 0) process.exit(code);
  for (const c of alive) {
    c.proc.once("exit", () => {
      if (--left === 0) process.exit(code);
    });
    c.proc.kill("SIGTERM");
  }
}

process.on("SIGINT", () => shutdown("SIGINT"));
process.on("SIGTERM", () => shutdown("SIGTERM"));

console.log(summary(await migrate(cfg.DATABASE_URL)));
run("api", "api/server.ts", COLORS[0]!);
for (let i = 1; i <= cfg.WORKERS; i++) run(`worker-${i}`, "worker/main.ts", COLORS[i % COLORS.length]!);
