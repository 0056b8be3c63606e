import { ratio } from "./stats.ts";
import { get, machineTable, num, pgbenchTps, WRITERS, type Writer } from "./machine.ts";
import type { ScenarioResult, Table } from "./types.ts";

// The targets the suite exists to check, computed from the scenarios' `data`. Every read
// is defensive: a scenario may be missing (not written yet, skipped in quick mode, failed)
// or shaped differently than expected, and then its target reads "not measured" instead
// of breaking the report.

export type Verdict = "pass" | "FAIL" | "not measured";

export interface TargetRow {
  target: string;
  measured: string;
  verdict: Verdict;
}

export interface Targets {
  rows: TargetRow[];
  /** Cancel's throughput next to each ceiling, level by level. */
  ceilings: Table;
  /** Every cancel, rerun and width figure as a share of the pgbench ceiling at its concurrency. */
  machine: Table;
}

type Results = ReadonlyMap<string, ScenarioResult>;

const LEVELS = ["1", "16", "64"];
const CEILING_KINDS = ["http", "queue", "db"] as const;


const signed = (v: number) => `${v >= 0 ? "+" : ""}${v}`;
const pct = (r: number) => `${(100 * r).toFixed(0)}%`;
const verdict = (ok: boolean): Verdict => (ok ? "pass" : "FAIL");
const notMeasured = (target: string, why: string): TargetRow => ({ target, measured: `not measured (${why})`, verdict: "not measured" });

interface Level {
  c: string;
  ours?: number;
  ceilings: Partial<Record<(typeof CEILING_KINDS)[number], number>>;
  tightest?: { kind: string; rps: number };
}

function levels(results: Results): Level[] {
  const cancel = results.get("cancel")?.data;
  const ceilings = results.get("ceilings")?.data;
  return LEVELS.map((c) => {
    const each = Object.fromEntries(CEILING_KINDS.flatMap((k) => {
      const rps = num(get(ceilings, k, c, "rps"));
      return rps === undefined ? [] : [[k, rps]];
    })) as Level["ceilings"];
    const tightest = Object.entries(each).sort((a, b) => a[1] - b[1])[0];
    return { c, ours: num(get(cancel, "closed", c, "rps")), ceilings: each, tightest: tightest && { kind: tightest[0], rps: tightest[1] } };
  });
}

function cancelVsCeilings(lv: Level[]): TargetRow {
  const target = "Cancel through the queue ≥ 50% of the tightest ceiling's throughput";
  const best = lv.filter((l) => l.ours !== undefined).sort((a, b) => b.ours! - a.ours!)[0];
  if (!best) return notMeasured(target, "no cancel run");
  if (!best.tightest) return notMeasured(target, "no ceiling run");
  const r = ratio(best.ours!, best.tightest.rps);
  const missing = CEILING_KINDS.filter((k) => best.ceilings[k] === undefined);
  const caveat = missing.length > 0 ? `; ${missing.join(", ")} ceiling not measured` : "";
  return {
    target,
    measured: `${best.ours} req/s at concurrency ${best.c} (cancel's best) = ${pct(r)} of the ${best.tightest.kind} ceiling, ${best.tightest.rps} req/s${caveat}`,
    verdict: verdict(r >= 0.5),
  };
}

function ceilingTable(lv: Level[]): Table {
  const cell = (v: number | undefined) => v ?? "not measured";
  return {
    title: "Cancel against the ceilings (closed loop, req/s)",
    columns: ["concurrency", "cancel", "http ceiling", "queue ceiling", "db ceiling", "tightest", "cancel ÷ tightest"],
    rows: lv.map((l) => [
      l.c, cell(l.ours), cell(l.ceilings.http), cell(l.ceilings.queue), cell(l.ceilings.db),
      l.tightest ? `${l.tightest.rps} (${l.tightest.kind})` : "not measured",
      l.ours !== undefined && l.tightest ? pct(ratio(l.ours, l.tightest.rps)) : "–",
    ]),
    note: "Every ceiling runs on this machine in the same run with the same request counts. The target is judged at the concurrency where cancel is fastest.",
  };
}

function cancelLatency(results: Results): TargetRow {
  const target = "Cancel p99 < 25 ms at half of our maximum rate (open loop)";
  const open = results.get("cancel")?.data.open;
  const p99 = num(get(open, "latency", "p99"));
  if (p99 === undefined) return notMeasured(target, "no cancel run");
  return { target, measured: `p99 ${p99} ms at ${num(get(open, "rate")) ?? "?"} cancels/s`, verdict: verdict(p99 < 25) };
}

function cancelVsMachine(results: Results): TargetRow {
  const target = "Cancel at c=64 ≥ 30% of the pgbench ceiling (minimal cancel transaction), with p99 < 25 ms at half that rate, open loop";
  const cancel = results.get("cancel")?.data;
  const ours = num(get(cancel, "closed", "64", "rps"));
  const ceiling = pgbenchTps(results, "64");
  if (ours === undefined) return notMeasured(target, "no cancel run");
  if (ceiling === undefined) return notMeasured(target, `no pgbench ceiling${pgbenchError(results)}`);
  const r = ratio(ours, ceiling);
  const rate = num(get(cancel, "open", "rate"));
  const p99 = num(get(cancel, "open", "latency", "p99"));
  // The cancel scenario's open loop runs at half its best closed-loop rate; say so when that is not c=64's.
  const half = Math.round(ours / 2);
  const rateNote = rate === undefined ? "" : rate === half ? ` (= half of c=64's)` : ` (half the best level's; half of c=64's is ${half}/s)`;
  const latency = p99 === undefined ? "open loop not measured" : `open loop p99 ${p99} ms at ${rate}/s${rateNote}`;
  return {
    target,
    measured: `${ours} cancels/s ÷ ${ceiling} tx/s = ${pct(r)}; ${latency}`,
    verdict: p99 === undefined ? "not measured" : verdict(r >= 0.3 && p99 < 25),
  };
}

function pgbenchError(results: Results): string {
  const e = get(results.get("ceilings")?.data, "pgbench", "error");
  return typeof e === "string" ? `: ${e}` : "";
}

function width(results: Results, writer: Writer): TargetRow {
  const what = writer === "cancel" ? "Cancel" : "Runner status report";
  const target = `${what} on a 256-job run within 20% of the throughput on a 5-job run (width, c=64)`;
  const data = results.get("width")?.data;
  const narrow = num(get(data, writer, "5", "64", "rps"));
  const wide = num(get(data, writer, "256", "64", "rps"));
  if (narrow === undefined || wide === undefined) return notMeasured(target, "no width run");
  const r = ratio(wide, narrow);
  return { target, measured: `${wide}/s on 256-job runs vs ${narrow}/s on 5-job runs = ${pct(r)}`, verdict: verdict(r >= 0.8) };
}

function propagation(results: Results): TargetRow {
  const target = "Cancel propagation, 202 → container gone, p99 < 50 ms at 50 cancels/s";
  const p99 = num(get(results.get("propagation")?.data, "rates", "50", "gone", "p99"));
  if (p99 === undefined) return notMeasured(target, "no propagation run at 50/s");
  return { target, measured: `p99 ${p99} ms`, verdict: verdict(p99 < 50) };
}

function eventsFanout(results: Results): TargetRow {
  const target = "Cancel at c=64 with 2 webhooks and 10 repository streams attached ≥ 80% of its throughput with none (events, back to back)";
  const f = get(results.get("events")?.data, "fanout");
  const r = num(get(f, "ratio"));
  const fanned = num(get(f, "fanned", "rps"));
  const bare = get(f, "bare");
  const bares = (Array.isArray(bare) ? bare : []).map((b: unknown) => num(get(b, "rps"))).filter((v): v is number => v !== undefined);
  if (r === undefined || fanned === undefined || bares.length === 0) return notMeasured(target, "no events run");
  return { target, measured: `${fanned} cancels/s vs ${bares.join(" and ")} cancels/s without (before and after) = ${pct(r)}`, verdict: verdict(r >= 0.8) };
}

function rerun(results: Results): TargetRow {
  const target = "Rerun ≥ 300 reruns/s of the 5×3 workflow";
  const closed = get(results.get("rerun")?.data, "closed");
  const best = Object.entries(closed && typeof closed === "object" ? closed : {})
    .flatMap(([c, r]) => { const rps = num(get(r, "rps")); return rps === undefined ? [] : [{ c, rps }]; })
    .sort((a, b) => b.rps - a.rps)[0];
  if (!best) return notMeasured(target, "no rerun run");
  return { target, measured: `${best.rps} reruns/s at concurrency ${best.c}`, verdict: verdict(best.rps >= 300) };
}

function growth(results: Results): TargetRow {
  const target = "Growth: p50 at 1M jobs within 20% of p50 at 10k";
  const raw = get(results.get("growth")?.data, "levels");
  const lv = (Array.isArray(raw) ? raw : [])
    .map((l: unknown) => ({ jobs: num(get(l, "jobs")), p50: num(get(l, "latency", "p50")) }))
    .filter((l): l is { jobs: number; p50: number } => l.jobs !== undefined && l.p50 !== undefined)
    .sort((a, b) => a.jobs - b.jobs);
  // Quick mode may stop short of 1M or start elsewhere than 10k: compare what was measured, and say so.
  const base = lv.find((l) => l.jobs === 10_000) ?? lv[0];
  const top = lv[lv.length - 1];
  if (!base || !top || top === base) return notMeasured(target, "no growth run with two levels");
  const r = top.p50 / base.p50;
  return {
    target,
    measured: `p50 ${top.p50} ms at ${top.jobs.toLocaleString("en")} jobs vs ${base.p50} ms at ${base.jobs.toLocaleString("en")} (×${r.toFixed(2)})`,
    verdict: verdict(r <= 1.2),
  };
}

function soak(results: Results): TargetRow {
  const target = "Soak: RSS growth < 10% over 5 minutes after warm-up";
  const s = get(results.get("memory")?.data, "soak");
  const api = num(get(s, "api", "growthPct"));
  const worker = num(get(s, "worker", "growthPct"));
  if (api === undefined || worker === undefined) return notMeasured(target, "no memory soak; it runs in full mode only");
  return { target, measured: `api ${signed(api)}%, worker ${signed(worker)}%`, verdict: verdict(api < 10 && worker < 10) };
}

export function computeTargets(results: Results): Targets {
  const lv = levels(results);
  return {
    rows: [
      cancelVsCeilings(lv), cancelLatency(results), cancelVsMachine(results), ...WRITERS.map((w) => width(results, w)),
      propagation(results), eventsFanout(results), rerun(results), growth(results), soak(results),
    ],
    ceilings: ceilingTable(lv),
    machine: machineTable(results),
  };
}
