import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { z } from "zod";
import { commonEnv, parseConfig } from "../core/config.ts";
import { createPrisma } from "../core/db.ts";
import { migrate, summary } from "../prisma/migrate.ts";
import { demoRun, seedDemo } from "./seed.ts";
import { ensureSigningKey } from "../core/signing.ts";

// `npm start`: the whole system on one machine. Migrates, seeds the demo world, then
// runs the API, WORKERS worker processes and a runner-sim fleet as children with
// prefixed output; Ctrl-C or SIGTERM stops them all (a second signal kills them).

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

console.log(summary(await migrate(cfg.DATABASE_URL)));
const prisma = createPrisma(cfg.DATABASE_URL, 2);
const seeded = await seedDemo(prisma);
run("api", "api/server.ts", COLORS[0]!);
for (let i = 1; i <= cfg.WORKERS; i++) run(`worker-${i}`, "worker/main.ts", COLORS[i % COLORS.length]!);
if (cfg.RUNNER_SIM === "true") run("runner", "runner-sim/main.ts", COLORS[5]!);
await waitForApi();
if (!stopping) banner(seeded.token, await demoRun(prisma));
await prisma.$disconnect();
