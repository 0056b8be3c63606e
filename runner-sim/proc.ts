import { readFileSync } from "node:fs";

// What Linux's /proc says about a process: enough to tell "the process we started" from
// "a process that now has its pid". Each reader answers null when it cannot tell (the
// process is gone, /proc is hidden, another platform): callers then act as if unproven.

export interface ProcStat {
  /** Clock ticks after boot when the process started: with the pid, it names one process. */
  startTime: string;
  /** The process group it belongs to. */
  pgrp: number;
}

function read(pid: number, file: string): string | null {
  if (!Number.isInteger(pid) || pid <= 0) return null;
  try {
    return readFileSync(`/proc/${pid}/${file}`, "utf8");
  } catch {
    return null;
  }
}

/** Fields of /proc/<pid>/stat (the command name in parentheses may hold spaces or ')'). */
export function procStat(pid: number): ProcStat | null {
  const s = read(pid, "stat");
  if (s === null) return null;
  // After "pid (comm) " come fields 3…; pgrp is field 5, starttime field 22.
  const rest = s.slice(s.lastIndexOf(")") + 2).split(" ");
  const pgrp = Number(rest[2]);
  const startTime = rest[19];
  if (!Number.isInteger(pgrp) || startTime === undefined || !/^\d+$/.test(startTime)) return null;
  return { startTime, pgrp };
}

export function procCmdline(pid: number): string[] | null {
  const s = read(pid, "cmdline");
  return s === null ? null : s.split("\0").filter(Boolean);
}

/** One variable of the process's environment as it was exec'ed. */
export function procEnv(pid: number, name: string): string | null {
  const s = read(pid, "environ");
  if (s === null) return null;
  const entry = s.split("\0").find((e) => e.startsWith(`${name}=`));
  return entry === undefined ? null : entry.slice(name.length + 1);
}
