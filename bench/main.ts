import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import pg from "pg";
import { commonEnv, parseConfig } from "../infra/config.ts";
import { connectRedis } from "../infra/redis.ts";
import { ensureSigningKey } from "../infra/signing.ts";
import { withDatabase } from "../prisma/engine.ts";
import { DependencyError, failClearly, outcomeOf, probeRedis } from "../infra/deps.ts";
import { probeServer } from "../prisma/migrate.ts";
import { renderMarkdown, resultsJson, summaryText, type Machine, type Outcome, type Run } from "./lib/report.ts";
import { latencyHistogramSvg } from "./lib/svg.ts";
import { computeTargets } from "./lib/targets.ts";
import type { BenchContext, Scenario, ScenarioResult } from "./lib/types.ts";

// `npm run bench [-- --quick] [--only a,b] [--write-results]`: every scenario in order,
// one at a time (each owns the machine while it runs), then the report. A scenario that
// fails is reported and the rest still run; the exit code says whether any failed.

// Every api and worker process a scenario starts signs and verifies with this one key.
ensureSigningKey();

const ORDER = ["ceilings", "cancel", "width", "rerun", "propagation", "events", "scaling", "cluster", "growth", "lists", "memory", "runners"];
const NOT_SELECTED = "not selected (--only)";
const BENCH_DIR = path.dirname(fileURLToPath(import.meta.url));

interface Args {
  quick: boolean;
  only: string[] | null;
  writeResults: boolean;
}

function parseArgs(argv: string[]): Args {
  const args: Args = { quick: false, only: null, writeResults: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === "--quick") args.quick = true;
    else if (a === "--write-results") args.writeResults = true;
    else if (a === "--only" || a.startsWith("--only=")) args.only = (a === "--only" ? argv[++i] ?? "" : a.slice(7)).split(",").map((s) => s.trim()).filter(Boolean);
    else throw new Error(`unknown argument ${a}; usage: npm run bench [-- --quick] [--only ${ORDER.join(",")}] [--write-results]`);
  }
  const unknown = (args.only ?? []).filter((id) => !ORDER.includes(id));
  if (unknown.length > 0) throw new Error(`unknown scenario(s) ${unknown.join(", ")}; known: ${ORDER.join(", ")}`);
  return args;
}

async function describeMachine(mode: Machine["mode"]): Promise<Machine> {
  const cfg = parseConfig(commonEnv);
  const attempt = async (what: () => Promise<string>) => what().catch((e: Error) => `unknown (${e.message})`);
  const postgres = await attempt(async () => {
    const c = new pg.Client({ connectionString: withDatabase(cfg.DATABASE_URL, "postgres") });
    await c.connect();
    try {
      return (await c.query<{ server_version: string }>("SHOW server_version")).rows[0]!.server_version;
    } finally {
      await c.end();
    }
  });
  const redis = await attempt(async () => {
    const r = connectRedis(cfg.REDIS_URL, "producer", "bench-machine");
    try {
      await new Promise<void>((resolve, reject) => r.once("ready", resolve).once("error", reject));
      return /redis_version:(\S+)/.exec(await r.info("server"))?.[1] ?? "unknown";
    } finally {
      r.disconnect();
    }
  });
  const git = (...a: string[]) => execFileSync("git", a, { cwd: BENCH_DIR, encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim();
  let commit = "unknown";
  try {
    commit = git("rev-parse", "--short", "HEAD") + (git("status", "--porcelain", "--untracked-files=no") ? " (with uncommitted changes)" : "");
  } catch {
    // Not a git checkout (a tarball): the report says "unknown".
  }
  const cpus = os.cpus();
  return {
    cpus: cpus.length, cpuModel: cpus[0]?.model.trim() ?? "unknown", memoryGiB: +(os.totalmem() / 2 ** 30).toFixed(1),
    platform: `${os.type()} ${os.release()} ${os.arch()}`, node: process.version, postgres, redis, commit,
    loadAtStart: os.loadavg().map((l) => l.toFixed(2)).join(" / "), mode,
  };
}

/** The scenario `id`, or why it cannot run: others are still writing some of them. */
async function load(id: string): Promise<Scenario | string> {
  const file = path.join(BENCH_DIR, "scenarios", `${id}.ts`);
  if (!existsSync(file)) return `bench/scenarios/${id}.ts is not written yet`;
  const mod = (await import(`./scenarios/${id}.ts`)) as Record<string, Scenario | undefined>;
  return mod[`${id}Scenario`] ?? `bench/scenarios/${id}.ts does not export ${id}Scenario`;
}

async function runOne(id: string, args: Args, ctx: BenchContext): Promise<Outcome> {
  const t0 = performance.now();
  const seconds = () => +((performance.now() - t0) / 1000).toFixed(1);
  let title = id;
  try {
    const s = await load(id);
    if (typeof s === "string") return { id, title, status: "skipped", reason: s };
    title = s.title;
    if (s.fullOnly && args.quick) return { id, title, status: "skipped", reason: "full mode only" };
    ctx.log(`— ${id}: ${title}`);
    const result: ScenarioResult = await s.run(ctx);
    ctx.results.set(id, result);
    return { id, title, status: "ok", seconds: seconds(), result };
  } catch (e) {
    ctx.log(`${id} FAILED: ${(e as Error).stack ?? String(e)}`);
    return { id, title, status: "failed", seconds: seconds(), reason: (e as Error).message ?? String(e) };
  }
}

/** 2025-01-31T0942 (UTC): sorts by time, and is safe in a file name. */
const stampOf = (d: Date) => d.toISOString().slice(0, 16).replace(":", "");

function writeOutputs(run: Run, args: Args): string[] {
  const stamp = `${stampOf(run.startedAt)}${args.quick ? "-quick" : ""}`;
  const svgName = `${stamp}-latency.svg`;
  const resultsDir = path.join(BENCH_DIR, "results");
  mkdirSync(resultsDir, { recursive: true });
  const svg = latencyHistogramSvg(run.outcomes.flatMap((o) => o.result?.histograms ?? []), `Latency, ${run.machine.mode} run ${stampOf(run.startedAt)} UTC`);
  const files: [string, string][] = [
    [path.join(resultsDir, `${stamp}.json`), resultsJson(run)],
    [path.join(resultsDir, svgName), svg],
  ];
  // A quick run never overwrites the full report: its markdown stays beside its JSON.
  if (!args.quick || args.writeResults) {
    files.push([path.join(BENCH_DIR, "latency.svg"), svg], [path.join(BENCH_DIR, "RESULTS.md"), renderMarkdown(run, "latency.svg")]);
  }
  if (args.quick) files.push([path.join(resultsDir, `${stamp}.md`), renderMarkdown(run, svgName)]);
  for (const [file, text] of files) writeFileSync(file, text);
  return files.map(([file]) => path.relative(process.cwd(), file));
}

async function main(): Promise<number> {
  const args = parseArgs(process.argv.slice(2));
  const startedAt = new Date();
  const t0 = performance.now();
  const log = (msg: string) => process.stderr.write(`[bench +${((performance.now() - t0) / 1000).toFixed(0).padStart(4)} s] ${msg}\n`);
  // Both answer before any scenario starts (docs/decisions.md, "Failing clearly").
  const cfg = parseConfig(commonEnv);
  await Promise.all([probeServer(cfg.DATABASE_URL), probeRedis(cfg.REDIS_URL)]);
  const machine = await describeMachine(args.quick ? "quick" : "full");
  log(`machine: ${JSON.stringify(machine)}`);
  const ctx: BenchContext = { quick: args.quick, log, results: new Map() };
  const outcomes: Outcome[] = [];
  for (const id of ORDER) {
    const o = args.only === null || args.only.includes(id)
      ? await runOne(id, args, ctx)
      : { id, title: id, status: "skipped" as const, reason: NOT_SELECTED };
    if (o.status === "skipped" && o.reason !== NOT_SELECTED) log(`${id}: skipped (${o.reason})`);
    outcomes.push(o);
  }
  const run: Run = {
    startedAt, seconds: +((performance.now() - t0) / 1000).toFixed(1), command: `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(" ")}` : ""}`,
    machine, outcomes, targets: computeTargets(ctx.results),
  };
  const written = writeOutputs(run, args);
  process.stdout.write(summaryText(run, written));
  return outcomes.some((o) => o.status === "failed") ? 1 : 0;
}

// Exit explicitly: a scenario may leave keep-alive sockets or timers behind, and the
// report is already written, so waiting for the event loop to drain gains nothing.
failClearly("bench");
main().then((code) => process.exit(code), (e: Error) => {
  const { message } = outcomeOf("bench", e);
  process.stderr.write(`${message}\n`);
  process.exit(e instanceof DependencyError ? 1 : 2);
});
