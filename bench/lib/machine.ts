import { ratio } from "./stats.ts";
import type { ScenarioResult, Table } from "./types.ts";

// Our figures against the machine: each cancel, rerun and width throughput divided by what
// pgbench does with the least work a cancel must do (bench/pgbench/cancel-min.sql) at the
// same concurrency in the same run. The db ceiling runs our own statements, so a ratio to
// it cannot show that those statements are the cost; this one can.

/** The two writers of a run the width scenario measures. */
export const WRITERS = ["cancel", "status"] as const;
export type Writer = (typeof WRITERS)[number];

type Results = ReadonlyMap<string, ScenarioResult>;

/** The value at `path` inside `v`, or undefined if any step is missing. */
export function get(v: unknown, ...path: string[]): unknown {
  let cur = v;
  for (const k of path) {
    if (cur === null || typeof cur !== "object") return undefined;
    cur = (cur as Record<string, unknown>)[k];
  }
  return cur;
}

export const num = (v: unknown) => (typeof v === "number" && Number.isFinite(v) ? v : undefined);

/** pgbench's tx/s at concurrency `c`, if this run measured it. */
export const pgbenchTps = (results: Results, c: string) => num(get(results.get("ceilings")?.data, "pgbench", c, "rps"));

interface Figure {
  what: string;
  c: string;
  rps: number | undefined;
}

function figures(results: Results): Figure[] {
  const cancel = results.get("cancel")?.data;
  const rerun = results.get("rerun")?.data;
  const width = results.get("width")?.data;
  const levels = ["1", "16", "64"];
  const spreadC = num(get(rerun, "spread", "concurrency"));
  const spreadRepos = num(get(rerun, "spread", "repos"));
  return [
    ...levels.map((c) => ({ what: "cancel (cancel)", c, rps: num(get(cancel, "closed", c, "rps")) })),
    ...levels.map((c) => ({ what: "rerun, one repository (rerun)", c, rps: num(get(rerun, "closed", c, "rps")) })),
    ...(spreadC === undefined ? [] : [{ what: `rerun, ${spreadRepos ?? "?"} repositories (rerun)`, c: String(spreadC), rps: num(get(rerun, "spread", "rps")) }]),
    ...WRITERS.flatMap((w) => ["5", "256"].flatMap((width_) => levels.map((c) => ({
      what: `${w === "cancel" ? "cancel" : "status report"}, ${width_}-job runs (width)`, c, rps: num(get(width, w, width_, c, "rps")),
    })))),
  ].filter((f) => f.rps !== undefined);
}

export function machineTable(results: Results): Table {
  const rows = figures(results).map((f) => {
    const ceiling = pgbenchTps(results, f.c);
    return [f.what, f.c, f.rps!, ceiling ?? "not measured", ceiling === undefined ? "–" : `${(100 * ratio(f.rps!, ceiling)).toFixed(0)}%`];
  });
  return {
    title: "Against the machine: each closed-loop figure ÷ the pgbench ceiling at the same concurrency",
    columns: ["figure (scenario)", "concurrency", "req/s", "pgbench tx/s", "÷ pgbench"],
    rows: rows.length > 0 ? rows : [["no cancel, rerun or width figures in this run", "–", "–", "–", "–"]],
    note: "pgbench: bench/pgbench/cancel-min.sql (lock run and job, end the job and its steps, count the run's open jobs, record the intent), "
      + "pgbench -M prepared, measured by the ceilings scenario in the same run on a database seeded like the cancel scenario's. "
      + "A rerun does more than a cancel, so its share reads lower for the same efficiency.",
  };
}
