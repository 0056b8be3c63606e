import { summarize } from "./stats.ts";
import type { Series } from "./types.ts";

// The latency histogram picture of RESULTS.md, as plain SVG text (no chart library: the
// suite should not need one, and a text file diffs). Buckets are log-spaced, so a 1 ms
// answer and a 1 s stall are both visible; each series is scaled to its own sample count,
// so a 1,000-request series and a 6,000-request one overlay comparably.

const MIN_MS = 0.5;
const MAX_MS = 2000;
const PER_DECADE = 10;
const TICKS_MS = [0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000];
const COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#7f7f7f", "#bcbd22"];

const W = 960;
const PLOT_H = 320;
const M = { left: 64, right: 24, top: 44, bottom: 52 };
const LEGEND_ROW = 18;
const PLOT_W = W - M.left - M.right;

/** Bucket k holds [EDGES[k], EDGES[k+1]); below MIN_MS counts in the first, above MAX_MS in the last. */
const EDGES = Array.from({ length: Math.ceil(Math.log10(MAX_MS / MIN_MS) * PER_DECADE) + 1 }, (_, k) => MIN_MS * 10 ** (k / PER_DECADE));
const LOG_SPAN = Math.log10(EDGES[EDGES.length - 1]! / MIN_MS);

const x = (v: number) => M.left + (Math.log10(Math.min(Math.max(v, MIN_MS), EDGES[EDGES.length - 1]!) / MIN_MS) / LOG_SPAN) * PLOT_W;
const f = (v: number) => v.toFixed(1);
const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
const msLabel = (v: number) => (v >= 1000 ? `${v / 1000} s` : `${v} ms`);

/** Percent of the series' samples in each bucket. */
function shares(samples: readonly number[]): number[] {
  const counts = new Array<number>(EDGES.length - 1).fill(0);
  let n = 0;
  for (const v of samples) {
    if (!Number.isFinite(v)) continue;
    const k = v <= MIN_MS ? 0 : Math.floor(Math.log10(v / MIN_MS) * PER_DECADE);
    counts[Math.min(Math.max(k, 0), counts.length - 1)]!++;
    n++;
  }
  return counts.map((c) => (n === 0 ? 0 : (100 * c) / n));
}

/** A round top for the y axis, so its ticks read 0, 5, 10… rather than 0, 4.37… */
function yScale(v: number): { max: number; step: number } {
  const step = [1, 2, 2.5, 5, 10, 20, 25].find((s) => v <= s * 5) ?? 25;
  return { max: Math.min(100, Math.max(step, Math.ceil(v / step) * step)), step };
}

function axes(yMax: number, yStep: number, title: string): string[] {
  const y = (p: number) => M.top + PLOT_H - (p / yMax) * PLOT_H;
  const out = [`<text x="${W / 2}" y="22" text-anchor="middle" font-size="15" font-weight="bold">${esc(title)}</text>`];
  for (const t of TICKS_MS) {
    out.push(`<line x1="${f(x(t))}" y1="${M.top}" x2="${f(x(t))}" y2="${M.top + PLOT_H}" stroke="#e4e4e4"/>`);
    out.push(`<text x="${f(x(t))}" y="${M.top + PLOT_H + 16}" text-anchor="middle">${msLabel(t)}</text>`);
  }
  for (let p = 0; p <= yMax + 1e-9; p += yStep) {
    out.push(`<line x1="${M.left}" y1="${f(y(p))}" x2="${W - M.right}" y2="${f(y(p))}" stroke="#e4e4e4"/>`);
    out.push(`<text x="${M.left - 6}" y="${f(y(p) + 4)}" text-anchor="end">${+p.toFixed(1)}%</text>`);
  }
  out.push(`<rect x="${M.left}" y="${M.top}" width="${PLOT_W}" height="${PLOT_H}" fill="none" stroke="#333"/>`);
  out.push(`<text x="${M.left + PLOT_W / 2}" y="${M.top + PLOT_H + 38}" text-anchor="middle">latency (log scale; ${msLabel(MIN_MS)} holds everything faster, the last bucket everything slower than ${msLabel(MAX_MS)})</text>`);
  out.push(`<text transform="translate(16 ${M.top + PLOT_H / 2}) rotate(-90)" text-anchor="middle">share of the series' requests per bucket</text>`);
  return out;
}

/** One series: its step line, and its p50 (dashed) and p99 (dotted) as vertical lines. */
function seriesPath(pct: number[], color: string, yMax: number, p50: number, p99: number): string[] {
  const y = (p: number) => M.top + PLOT_H - (p / yMax) * PLOT_H;
  let d = `M${f(x(EDGES[0]!))},${f(y(0))}`;
  pct.forEach((p, k) => (d += ` L${f(x(EDGES[k]!))},${f(y(p))} L${f(x(EDGES[k + 1]!))},${f(y(p))}`));
  d += ` L${f(x(EDGES[EDGES.length - 1]!))},${f(y(0))}`;
  const marker = (v: number, dash: string) =>
    `<line x1="${f(x(v))}" y1="${M.top}" x2="${f(x(v))}" y2="${M.top + PLOT_H}" stroke="${color}" stroke-width="1.5" stroke-dasharray="${dash}"/>`;
  return [
    `<path d="${d}" fill="${color}" fill-opacity="0.07" stroke="${color}" stroke-width="1.8"/>`,
    marker(p50, "6 4"),
    marker(p99, "2 3"),
  ];
}

function legendRow(i: number, color: string, text: string): string {
  const ty = M.top + PLOT_H + M.bottom + 10 + i * LEGEND_ROW;
  return `<line x1="${M.left}" y1="${ty - 4}" x2="${M.left + 24}" y2="${ty - 4}" stroke="${color}" stroke-width="3"/>`
    + `<text x="${M.left + 32}" y="${ty}">${esc(text)}</text>`;
}

/** Overlaid step-line histograms of latency samples (ms), one per series with samples. */
export function latencyHistogramSvg(series: readonly Series[], title = "Latency histogram"): string {
  const drawn = series.filter((s) => s.samples.length > 0).map((s, i) => {
    const sum = summarize(s.samples);
    return { label: s.label, color: COLORS[i % COLORS.length]!, pct: shares(s.samples), sum };
  });
  const { max: yMax, step } = yScale(Math.max(1, ...drawn.flatMap((d) => d.pct)));
  const height = M.top + PLOT_H + M.bottom + 16 + (drawn.length + 1) * LEGEND_ROW;
  const body = [
    ...axes(yMax, step, title),
    ...drawn.flatMap((d) => seriesPath(d.pct, d.color, yMax, d.sum.p50, d.sum.p99)),
    ...drawn.map((d, i) => legendRow(i, d.color, `${d.label}: n=${d.sum.n}, p50 ${d.sum.p50} ms, p99 ${d.sum.p99} ms`)),
    legendRow(drawn.length, "#fff", drawn.length === 0 ? "no latency samples in this run" : "vertical lines: p50 dashed, p99 dotted, in the series' colour"),
  ];
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${height}" viewBox="0 0 ${W} ${height}" font-family="Helvetica, Arial, sans-serif" font-size="11">`,
    `<rect width="${W}" height="${height}" fill="#fff"/>`,
    ...body,
    "</svg>",
    "",
  ].join("\n");
}
