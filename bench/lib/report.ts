import type { ScenarioResult, Table } from "./types.ts";
import type { Targets } from "./targets.ts";

// What a run leaves behind: the JSON file (every figure, for tools and later comparison)
// and the markdown report (for people). The report has to make sense to someone who just
// cloned the repo: what was measured, on what, how to run it again, and what passed.

export interface Machine {
  cpus: number;
  cpuModel: string;
  memoryGiB: number;
  platform: string;
  node: string;
  postgres: string;
  redis: string;
  commit: string;
  /** 1/5/15-minute load average when the run started: the machine may be shared. */
  loadAtStart: string;
  mode: "full" | "quick";
}

export interface Outcome {
  id: string;
  title: string;
  status: "ok" | "failed" | "skipped";
  seconds?: number;
  /** Why it was skipped, or the error it failed with. */
  reason?: string;
  result?: ScenarioResult;
}

export interface Run {
  startedAt: Date;
  seconds: number;
  command: string;
  machine: Machine;
  outcomes: Outcome[];
  targets: Targets;
}

/** The JSON results: everything but the raw latency samples (they only feed the picture). */
export function resultsJson(run: Run): string {
  const doc = {
    startedAt: run.startedAt.toISOString(),
    seconds: run.seconds,
    command: run.command,
    machine: run.machine,
    targets: run.targets.rows,
    scenarios: run.outcomes.map(({ result, ...o }) => ({ ...o, data: result?.data, tables: result?.tables, notes: result?.notes })),
  };
  return `${JSON.stringify(doc, (k, v: unknown) => (k === "samples" ? undefined : typeof v === "bigint" ? v.toString() : v), 2)}\n`;
}

const cell = (v: string | number) => String(v).replace(/\|/g, "\\|").replace(/\s*\n\s*/g, " ");

export function mdTable(columns: readonly string[], rows: readonly (readonly (string | number)[])[]): string {
  const line = (cells: readonly (string | number)[]) => `| ${cells.map(cell).join(" | ")} |`;
  return [line(columns), `|${columns.map(() => " --- ").join("|")}|`, ...rows.map(line)].join("\n");
}

function tableSection(t: Table): string {
  return [`**${t.title}**`, "", mdTable(t.columns, t.rows), ...(t.note ? ["", `_${t.note}_`] : [])].join("\n");
}

function reproduce(run: Run): string {
  return `## How to reproduce

Needs Node ≥ 20.19, Postgres 15 and Redis 7 (defaults: \`postgresql://postgres@127.0.0.1:5432/actions\`, \`redis://127.0.0.1:6379\`; override with \`DATABASE_URL\` / \`REDIS_URL\`). Each scenario creates its own database and queue prefix and drops them afterwards.

\`\`\`sh
npm ci
npm run bench                          # full run, under 15 minutes: rewrites bench/RESULTS.md and bench/latency.svg
npm run bench -- --quick               # under 2 minutes: writes bench/results/<stamp>-quick.md, leaves this file alone
npm run bench -- --only ceilings,cancel  # a subset, in the suite's order
\`\`\`

Every run also writes \`bench/results/<stamp>[-quick].json\` (all figures, no raw samples) and \`bench/results/<stamp>[-quick]-latency.svg\`. This report came from \`${run.command}\`. Scenarios run one after another, each owning the machine while it runs; the load generator runs in the bench process and the services in their own processes, all on this one machine, so the figures are what the service does when it shares the CPUs with its clients.`;
}

function machineSection(m: Machine): string {
  return `## Machine

${mdTable(["", ""], [
    ["CPU", `${m.cpus} × ${m.cpuModel}`],
    ["memory", `${m.memoryGiB} GiB`],
    ["OS", m.platform],
    ["Node", m.node],
    ["Postgres", m.postgres],
    ["Redis", m.redis],
    ["commit", m.commit],
    ["load average at start (1/5/15 min)", m.loadAtStart],
    ["mode", m.mode],
  ])}`;
}

function targetsSection(run: Run): string {
  const quick = run.machine.mode === "quick"
    ? "\n\n_Quick mode: fewer requests and shorter loops, and the full-only scenarios are skipped. The verdicts are indicative; judge the targets on a full run._"
    : "";
  return `## Targets

${mdTable(["target", "measured", "verdict"], run.targets.rows.map((r) => [r.target, r.measured, r.verdict]))}${quick}

${tableSection(run.targets.ceilings)}

${tableSection(run.targets.machine)}`;
}

function statusText(o: Outcome): string {
  if (o.status === "ok") return `ok (${o.seconds?.toFixed(0)} s)`;
  if (o.status === "failed") return `**failed** after ${o.seconds?.toFixed(0)} s`;
  return `skipped: ${o.reason}`;
}

function scenarioSection(o: Outcome): string {
  const head = `## ${o.title} (\`${o.id}\`)`;
  if (o.status === "failed") return `${head}\n\n**Failed** after ${o.seconds?.toFixed(0)} s:\n\n\`\`\`\n${(o.reason ?? "").slice(0, 2000)}\n\`\`\``;
  const r = o.result!;
  return [head, ...r.tables.map(tableSection), ...(r.notes?.length ? [r.notes.map((n) => `- ${n}`).join("\n")] : [])].join("\n\n");
}

function histogramSection(run: Run, svgHref: string): string {
  const series = run.outcomes.flatMap((o) => (o.result?.histograms ?? []).filter((s) => s.samples.length > 0).map((s) => `${s.label} (\`${o.id}\`)`));
  return `## Latency histogram

![latency histogram](${svgHref})

Share of each series' requests per latency bucket (log-spaced), with its p50 (dashed) and p99 (dotted). Series: ${series.length > 0 ? series.join("; ") : "none in this run"}.`;
}

/** The markdown report; `svgHref` is the histogram picture relative to where the report is written. */
export function renderMarkdown(run: Run, svgHref: string): string {
  const failed = run.outcomes.filter((o) => o.status === "failed").length;
  const intro = `# Benchmark results

What the actions lifecycle service does under load: cancel and rerun throughput and latency against what the machine can do at all (the ceilings), cancel propagation to a runner, scaling with more processes, latency as the tables grow, and memory over a soak. Generated ${run.startedAt.toISOString().slice(0, 16).replace("T", " ")} UTC from commit \`${run.machine.commit}\` in ${run.machine.mode} mode; the run took ${(run.seconds / 60).toFixed(1)} minutes${failed > 0 ? `, and **${failed} scenario(s) failed**` : ""}. Run it again with \`npm run bench\` (see [How to reproduce](#how-to-reproduce)).`;
  const status = `## Scenarios

${mdTable(["scenario", "what", "status"], run.outcomes.map((o) => [o.id, o.title, statusText(o)]))}`;
  return [intro, targetsSection(run), reproduce(run), machineSection(run.machine), status, ...run.outcomes.filter((o) => o.status !== "skipped").map(scenarioSection), histogramSection(run, svgHref)].join("\n\n") + "\n";
}

/** What the terminal shows at the end: the targets and each scenario's status. */
export function summaryText(run: Run, written: readonly string[]): string {
  return [
    mdTable(["target", "measured", "verdict"], run.targets.rows.map((r) => [r.target, r.measured, r.verdict])),
    "",
    mdTable(run.targets.machine.columns, run.targets.machine.rows),
    "",
    mdTable(["scenario", "status"], run.outcomes.map((o) => [o.id, statusText(o)])),
    "",
    ...written.map((p) => `wrote ${p}`),
    "",
  ].join("\n");
}
