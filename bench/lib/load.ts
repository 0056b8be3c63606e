import { summarize, type Summary } from "./stats.ts";

// Load shapes. Closed loop: `concurrency` callers, each sending its next request when the
// previous one answers (measures capacity). Open loop: requests start on a fixed schedule
// whatever the answers do, and latency counts from the scheduled start, so a stall shows
// up in the tail instead of silently slowing the sender (no coordinated omission).

/** One request; resolves true when the answer was the expected one. */
export type Fire = (i: number) => Promise<boolean>;

export interface LoadResult {
  requests: number;
  errors: number;
  seconds: number;
  rps: number;
  latency: Summary;
  /** Raw latencies in ms (for histograms); not written to the JSON results. */
  samples: number[];
}

function result(samples: number[], errors: number, seconds: number): LoadResult {
  const requests = samples.length;
  return { requests, errors, seconds: +seconds.toFixed(3), rps: +((requests - errors) / seconds).toFixed(1), latency: summarize(samples), samples };
}

/** Sends `total` requests from `concurrency` callers; the first `warmup` are not counted. */
export async function closedLoop(o: { concurrency: number; total: number; warmup?: number; fire: Fire }): Promise<LoadResult> {
  const warmup = o.warmup ?? 0;
  let next = 0;
  let errors = 0;
  const samples: number[] = [];
  let started = 0;
  const caller = async () => {
    for (let i = next++; i < o.total; i = next++) {
      if (i === warmup) started = performance.now();
      const t = performance.now();
      const ok = await o.fire(i).catch(() => false);
      if (i >= warmup) {
        samples.push(performance.now() - t);
        if (!ok) errors++;
      }
    }
  };
  if (warmup === 0) started = performance.now();
  await Promise.all(Array.from({ length: o.concurrency }, caller));
  return result(samples, errors, (performance.now() - started) / 1000);
}

/** Starts `rate` requests per second for `seconds`, each timed from its scheduled start. */
export async function openLoop(o: { rate: number; seconds: number; fire: Fire }): Promise<LoadResult> {
  const total = Math.round(o.rate * o.seconds);
  const interval = 1000 / o.rate;
  const samples: number[] = [];
  let errors = 0;
  const inflight: Promise<void>[] = [];
  const t0 = performance.now();
  for (let i = 0; i < total; i++) {
    const due = t0 + i * interval;
    const wait = due - performance.now();
    // Timers are coarse (≥1 ms); past the due time, start at once and keep the schedule.
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    inflight.push(
      o.fire(i).catch(() => false).then((ok) => {
        samples.push(performance.now() - due);
        if (!ok) errors++;
      }),
    );
  }
  await Promise.all(inflight);
  return result(samples, errors, (performance.now() - t0) / 1000);
}
