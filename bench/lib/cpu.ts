import { readdirSync, readFileSync } from "node:fs";

// CPU time by process group from /proc (Linux): what the stack's api and worker, the
// Postgres backends of its database (and the server's shared background processes), Redis,
// this bench process and anything else spent between two snapshots. The machine may be
// shared: another stack's api or database counts as "other" (Redis is one server for all).
// Processes that exit in between lose their share, so compare spans within one stack's life.

export const CPU_GROUPS = ["api", "worker", "postgres", "redis", "bench", "other"] as const;
export type CpuGroup = (typeof CPU_GROUPS)[number];
export type CpuSnapshot = Map<string, { group: CpuGroup; ticks: number }>;

/** USER_HZ: the unit of /proc/<pid>/stat's utime and stime (100 on every Linux we run on). */
const TICKS_PER_SECOND = 100;

export interface Own {
  /** The stack's processes by pid (its api and worker). */
  pids: ReadonlyMap<number, CpuGroup>;
  dbName: string;
}

/** A backend's title is "postgres: <cluster>: <user> <database> <client> <state>"; a background process's has no database. */
export function postgresGroup(cmdline: string, dbName: string): CpuGroup {
  const parts = cmdline.trim().split(/\s+/);
  return parts.length >= 5 && parts[3] !== dbName ? "other" : "postgres";
}

function groupOf(pid: number, comm: string, cmdline: string, own: Own): CpuGroup {
  const mine = own.pids.get(pid);
  if (mine !== undefined) return mine;
  if (pid === process.pid) return "bench";
  if (comm.startsWith("postgres") || comm.startsWith("postmaster")) return postgresGroup(cmdline, own.dbName);
  if (comm.startsWith("redis")) return "redis";
  return "other";
}

export function cpuSnapshot(own: Own): CpuSnapshot {
  const m: CpuSnapshot = new Map();
  let pids: string[] = [];
  try {
    pids = readdirSync("/proc").filter((d) => /^\d+$/.test(d));
  } catch {
    return m; // No /proc: every span reads 0.
  }
  for (const pid of pids) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      const comm = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
      const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, "utf8").replace(/\0/g, " ");
      m.set(pid, { group: groupOf(Number(pid), comm, cmdline, own), ticks: Number(f[11]) + Number(f[12]) });
    } catch {
      // Exited between the listing and the read.
    }
  }
  return m;
}

/** CPU seconds per group from `a` to `b`. */
export function cpuSpent(a: CpuSnapshot, b: CpuSnapshot): Record<CpuGroup, number> {
  const out = Object.fromEntries(CPU_GROUPS.map((g) => [g, 0])) as Record<CpuGroup, number>;
  for (const [pid, v] of b) out[v.group] += (v.ticks - (a.get(pid)?.ticks ?? 0)) / TICKS_PER_SECOND;
  for (const g of CPU_GROUPS) out[g] = +out[g].toFixed(2);
  return out;
}
