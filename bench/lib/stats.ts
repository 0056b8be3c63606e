// Latency summaries. Percentiles by nearest rank over the sorted sample: with n samples,
// p99.9 is only meaningful when n ≥ 1000, and the report says n next to it.

export interface Summary {
  n: number;
  mean: number;
  min: number;
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
}

const r2 = (v: number) => +v.toFixed(2);

export function summarize(ms: readonly number[]): Summary {
  if (ms.length === 0) return { n: 0, mean: NaN, min: NaN, p50: NaN, p90: NaN, p99: NaN, p999: NaN, max: NaN };
  const s = Float64Array.from(ms).sort();
  const q = (p: number) => s[Math.min(s.length - 1, Math.max(0, Math.ceil(p * s.length) - 1))]!;
  let sum = 0;
  for (const v of s) sum += v;
  return { n: s.length, mean: r2(sum / s.length), min: r2(s[0]!), p50: r2(q(0.5)), p90: r2(q(0.9)), p99: r2(q(0.99)), p999: r2(q(0.999)), max: r2(s[s.length - 1]!) };
}

export const ratio = (ours: number, ceiling: number) => (ceiling > 0 ? +(ours / ceiling).toFixed(3) : NaN);
