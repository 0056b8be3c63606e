import { execFile } from "node:child_process";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { summarize } from "./stats.ts";
import { withPg } from "./data.ts";
import type { LoadResult } from "./load.ts";
import { withStack, type Stack } from "./stack.ts";
import { seedQueued } from "../scenarios/cancel.ts";
import type { BenchContext } from "./types.ts";

// The machine's ceiling for a cancel: Postgres' own load generator running the least work
// one cancel must do (bench/pgbench/cancel-min.sql), prepared, at the cancel scenario's
// concurrencies, on a database seeded as the cancel scenario seeds its own (one queued job
// of three steps per run). Our figures divided by this say how much of the machine the
// service turns into cancels; the db ceiling (db-ceiling.ts) runs our own statements and
// so cannot say that.

const run = promisify(execFile);
const SCRIPT = fileURLToPath(new URL("../pgbench/cancel-min.sql", import.meta.url));
const PGBENCH = process.env.PGBENCH ?? "pgbench";

type Counts = { total: number; warmup: number };

/** Throws one line naming pgbench and what to do, before anything is seeded. */
export async function pgbenchVersion(): Promise<string> {
  try {
    return (await run(PGBENCH, ["--version"])).stdout.trim();
  } catch (e) {
    const why = (e as NodeJS.ErrnoException).code === "ENOENT" ? "not found" : (e as Error).message.split("\n")[0];
    throw new Error(`pgbench ${why} (${PGBENCH}): install the PostgreSQL client tools (apt-get install postgresql-client) or set PGBENCH to its path`);
  }
}

/** pgbench's figures of one invocation: its own tps and the per-transaction latencies of its log. */
export function parsePgbench(stdout: string, logs: string[]): { tps: number; processed: number; failed: number; samples: number[] } {
  const tps = /^tps = ([\d.]+) \(without initial connection time\)/m.exec(stdout);
  const processed = /^number of transactions actually processed: (\d+)/m.exec(stdout);
  if (!tps || !processed) throw new Error(`pgbench printed no tps line:\n${stdout}`);
  const failed = Number(/^number of failed transactions: (\d+)/m.exec(stdout)?.[1] ?? 0);
  // Log lines: client_id transaction_no time_us script_no epoch_s epoch_us.
  const samples = logs.flatMap((text) => text.split("\n").filter(Boolean).map((l) => Number(l.split(" ")[2]) / 1000));
  return { tps: Number(tps[1]), processed: Number(processed[1]), failed, samples };
}

async function pgbench(stack: Stack, clients: number, perClient: number, firstJob: number): Promise<ReturnType<typeof parsePgbench>> {
  const dir = await mkdtemp(path.join(os.tmpdir(), "bench-pgbench-"));
  try {
    const args = [
      "-n", "-M", "prepared", "-f", SCRIPT, "-c", String(clients), "-j", String(Math.min(clients, os.cpus().length)), "-t", String(perClient),
      "-D", "n=0", "-D", `clients=${clients}`, "-D", `first_job=${firstJob}`, "-D", `user=${stack.userId}`,
      "-l", `--log-prefix=${path.join(dir, "tx")}`, stack.dbUrl,
    ];
    const { stdout } = await run(PGBENCH, args, { maxBuffer: 16 * 2 ** 20 });
    const logs = await Promise.all((await readdir(dir)).map((f) => readFile(path.join(dir, f), "utf8")));
    return parsePgbench(stdout, logs);
  } catch (e) {
    const err = e as Error & { stderr?: string };
    throw new Error(`pgbench -c ${clients} failed: ${(err.stderr ?? err.message).trim().split("\n").slice(-2).join(" ")}`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Every seeded job id is first + k for k < n: the script computes the job it takes. */
async function contiguous(stack: Stack, n: number): Promise<number> {
  const jobs = await seedQueued(stack, n);
  const first = jobs[0]!;
  if (jobs.length !== n || jobs[n - 1]! - first !== n - 1) throw new Error("pgbench ceiling: seeded job ids are not contiguous; the script cannot address them");
  return first;
}

/** Jobs the script ended: one per transaction, or the ceiling measured something else. */
async function cancelledJobs(stack: Stack): Promise<number> {
  return withPg(stack.dbUrl, async (c) => Number((await c.query<{ n: string }>(
    `SELECT count(*) AS n FROM workflow_jobs j JOIN lifecycle_intents i ON i.target_id = j.id AND i.kind = 'cancel_job' WHERE j.status = 'cancelled'`)).rows[0]!.n));
}

export async function pgbenchCeiling(ctx: BenchContext, levels: readonly number[], counts: Counts): Promise<Record<string, LoadResult>> {
  ctx.log(`ceiling pgbench: ${await pgbenchVersion()}`);
  return withStack("pgbench", { apis: 0, workers: 0 }, async (stack) => {
    // Per level: a warm-up invocation, then the counted one, each over jobs of its own.
    const plan = levels.map((c) => ({ c, warm: Math.max(1, Math.ceil(counts.warmup / c)), counted: Math.max(1, Math.ceil((counts.total - counts.warmup) / c)) }));
    const needed = plan.reduce((n, p) => n + p.c * (p.warm + p.counted), 0);
    let next = await contiguous(stack, needed);
    const out: Record<string, LoadResult> = {};
    let done = 0;
    for (const p of plan) {
      ctx.log(`ceiling pgbench closed loop c=${p.c}`);
      await pgbench(stack, p.c, p.warm, next);
      next += p.c * p.warm;
      const r = await pgbench(stack, p.c, p.counted, next);
      next += p.c * p.counted;
      done += p.c * (p.warm + p.counted);
      const ended = await cancelledJobs(stack);
      if (ended !== done) throw new Error(`pgbench ceiling c=${p.c}: ${ended} jobs cancelled with their intent recorded after ${done} transactions`);
      const seconds = r.tps > 0 ? r.processed / r.tps : 0;
      out[p.c] = { requests: r.processed, errors: r.failed, seconds: +seconds.toFixed(3), rps: +r.tps.toFixed(1), latency: summarize(r.samples), samples: r.samples };
    }
    return out;
  });
}
