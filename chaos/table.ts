import { MUST_BE_ZERO, type Tally } from "./reconcile.ts";
import { DELIVERY_MUST_BE_ZERO, type DeliveryTally } from "./webhooks.ts";

export interface Row {
  scenario: string;
  reps: number;
  tally: Tally;
  /** Failed checks that are not counts (a crashed process, a fault that hit nothing). */
  problems: number;
  seconds: number;
  /** Scenarios with a webhook: a row of the deliveries table too. */
  deliveries?: DeliveryTally;
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

type DeliveryRow = Row & { deliveries: DeliveryTally };

const DELIVERY_COLUMNS: [string, (r: DeliveryRow) => string | number][] = [
  ["scenario", (r) => r.scenario],
  ["reps", (r) => r.reps],
  ["events", (r) => r.deliveries.events],
  ["received", (r) => r.deliveries.received],
  ["lost", (r) => r.deliveries.lost],
  ["duplicated", (r) => r.deliveries.duplicated],
  ["out of order", (r) => r.deliveries.outOfOrder],
  ["retried (> 0)", (r) => r.deliveries.retried],
  ["most attempts", (r) => r.deliveries.maxAttempts],
  ["receiver retries", (r) => r.deliveries.receiverRetries],
  ["failed", (r) => r.deliveries.failed],
  ["unknown guid", (r) => r.deliveries.unknown],
  ["bad signature", (r) => r.deliveries.badSignature],
];

/** The lifecycle table, and below it the webhook deliveries of the scenarios that have them. */
export function table(rows: Row[]): string {
  const hooked = rows.filter((r): r is DeliveryRow => r.deliveries !== undefined);
  const main = markdown(COLUMNS, rows);
  return hooked.length ? `${main}\n\nwebhook deliveries:\n\n${markdown(DELIVERY_COLUMNS, hooked)}` : main;
}

/** A Markdown table, so it can go into an issue as it is. */
function markdown<R>(columns: [string, (r: R) => string | number][], rows: R[]): string {
  const cells = [columns.map(([h]) => h), ...rows.map((r) => columns.map(([, f]) => String(f(r))))];
  const widths = columns.map((_, i) => Math.max(...cells.map((c) => c[i]!.length)));
  const line = (c: string[]) => `| ${c.map((v, i) => (i === 0 ? v.padEnd(widths[i]!) : v.padStart(widths[i]!))).join(" | ")} |`;
  const rule = `|${widths.map((w, i) => (i === 0 ? "-".repeat(w + 2) : "-".repeat(w + 1) + ":")).join("|")}|`;
  return [line(cells[0]!), rule, ...cells.slice(1).map(line)].join("\n");
}

export function failures(t: Tally, problems = 0, deliveries?: DeliveryTally): string[] {
  const f = MUST_BE_ZERO.filter((k) => t[k] !== 0).map((k) => `${k}=${t[k]}`);
  const d = deliveries ? DELIVERY_MUST_BE_ZERO.filter((k) => deliveries[k] !== 0).map((k) => `deliveries.${k}=${deliveries[k]}`) : [];
  return problems > 0 ? [...f, ...d, `problems=${problems}`] : [...f, ...d];
}
