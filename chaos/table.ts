import { MUST_BE_ZERO, type Tally } from "./reconcile.ts";

export interface Row {
  scenario: string;
  reps: number;
  tally: Tally;
  /** Failed checks that are not counts (a crashed process, a fault that hit nothing). */
  problems: number;
  seconds: number;
}

const COLUMNS: [string, (r: Row) => string | number][] = [
  ["scenario", (r) => r.scenario],
  ["reps", (r) => r.reps],
  ["intents", (r) => r.tally.intents],
  ["acknowledged", (r) => r.tally.acknowledged],
  ["applied", (r) => r.tally.applied],
  ["lost", (r) => r.tally.lost],
  ["duplicated", (r) => r.tally.duplicated],
  ["contradicted", (r) => r.tally.contradicted],
  ["errors", (r) => r.tally.errors],
  ["hung", (r) => r.tally.hung],
  ["non-terminal after reaper window", (r) => r.tally.nonTerminal],
  ["orphans", (r) => r.tally.orphans],
  ["invariant violations", (r) => r.tally.invariants],
  ["other problems", (r) => r.problems],
  ["seconds", (r) => r.seconds.toFixed(0)],
];

/** A Markdown table, so it can go into an issue as it is. */
export function table(rows: Row[]): string {
  const cells = [COLUMNS.map(([h]) => h), ...rows.map((r) => COLUMNS.map(([, f]) => String(f(r))))];
  const widths = COLUMNS.map((_, i) => Math.max(...cells.map((c) => c[i]!.length)));
  const line = (c: string[]) => `| ${c.map((v, i) => (i === 0 ? v.padEnd(widths[i]!) : v.padStart(widths[i]!))).join(" | ")} |`;
  const rule = `|${widths.map((w, i) => (i === 0 ? "-".repeat(w + 2) : "-".repeat(w + 1) + ":")).join("|")}|`;
  return [line(cells[0]!), rule, ...cells.slice(1).map(line)].join("\n");
}

export function failures(t: Tally, problems = 0): string[] {
  const f = MUST_BE_ZERO.filter((k) => t[k] !== 0).map((k) => `${k}=${t[k]}`);
  return problems > 0 ? [...f, `problems=${problems}`] : f;
}
