import { readFileSync } from "node:fs";

// Resident memory of the service's processes while a load runs, read from
// /proc/<pid>/status. VmRSS is what the process holds now; VmHWM is the kernel's own
// high-water mark over the process's whole life, which catches a spike between two
// samples (but also counts start-up, hence both are kept).

export interface RssTrace {
  /** Highest VmRSS sampled while the sampler ran. */
  peakMiB: number;
  /** VmRSS at the last sample. */
  lastMiB: number;
  /** VmHWM at the last sample: the peak over the process's life so far. */
  hwmMiB: number;
  /** t: ms since the sampler started. */
  samples: { t: number; mib: number }[];
}

export interface RssSampler {
  stop(): Record<string, RssTrace>;
}

const r1 = (v: number) => +v.toFixed(1);

/** VmRSS and VmHWM in MiB, or null once the process is gone. */
export function readRss(pid: number): { rss: number; hwm: number } | null {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/status`, "utf8");
  } catch {
    return null;
  }
  const kib = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(text)?.[1] ?? NaN);
  const rss = kib("VmRSS");
  // A zombie has no memory lines left.
  return Number.isFinite(rss) ? { rss: rss / 1024, hwm: kib("VmHWM") / 1024 } : null;
}

export function startRssSampler(pids: Record<string, number>, intervalMs = 100): RssSampler {
  const t0 = performance.now();
  const traces: Record<string, RssTrace> = {};
  for (const name of Object.keys(pids)) traces[name] = { peakMiB: NaN, lastMiB: NaN, hwmMiB: NaN, samples: [] };
  const sample = () => {
    const t = Math.round(performance.now() - t0);
    for (const [name, pid] of Object.entries(pids)) {
      const m = readRss(pid);
      if (!m) continue;
      const tr = traces[name]!;
      tr.samples.push({ t, mib: r1(m.rss) });
      tr.lastMiB = r1(m.rss);
      tr.hwmMiB = r1(m.hwm);
      tr.peakMiB = Number.isNaN(tr.peakMiB) ? r1(m.rss) : Math.max(tr.peakMiB, r1(m.rss));
    }
  };
  sample();
  const timer = setInterval(sample, intervalMs);
  // The sampler must never be what keeps a finished benchmark alive.
  timer.unref();
  return {
    stop() {
      clearInterval(timer);
      sample();
      return traces;
    },
  };
}

/** Median of the samples with from ≤ t < to (ms since the sampler started). */
export function medianMiB(tr: RssTrace, from: number, to: number): number {
  const v = tr.samples.filter((s) => s.t >= from && s.t < to).map((s) => s.mib).sort((a, b) => a - b);
  return v.length === 0 ? NaN : v[Math.floor((v.length - 1) / 2)]!;
}

/** Checks that `pid` is the node process running `entry` (not a wrapper such as npm or a tsx CLI parent). */
export function isNodeRunning(pid: number, entry: string): boolean {
  try {
    const argv = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0");
    return /(^|\/)node$/.test(argv[0] ?? "") && argv.includes(entry);
  } catch {
    return false;
  }
}
