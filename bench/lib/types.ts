// What a scenario hands back: tables for RESULTS.md, plain data for the JSON file, and
// raw latency samples for the histogram picture.

export interface Table {
  title: string;
  columns: string[];
  rows: (string | number)[][];
  note?: string;
}

export interface Series {
  label: string;
  samples: number[];
}

export interface ScenarioResult {
  id: string;
  title: string;
  tables: Table[];
  data: Record<string, unknown>;
  histograms?: Series[];
  notes?: string[];
}

export interface BenchContext {
  quick: boolean;
  log(msg: string): void;
  /** Results of the scenarios already run, by id (ratios read the ceilings). */
  results: Map<string, ScenarioResult>;
}

export interface Scenario {
  id: string;
  title: string;
  /** Full mode only (e.g. the 5-minute soak). */
  fullOnly?: boolean;
  run(ctx: BenchContext): Promise<ScenarioResult>;
}

export const ms = (v: number) => (Number.isFinite(v) ? v.toFixed(1) : "–");
