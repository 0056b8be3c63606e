import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { z } from "zod";
import { procCmdline, procEnv, procStat, type ProcStat } from "./proc.ts";

/** The container environment variable that names the fleet which started it. */
export const FLEET_MARKER_ENV = "RUNNER_SIM_FLEET";

const pidRecord = z.object({ pid: z.number().int().positive(), job_id: z.number().int(), start_time: z.string(), marker: z.string() });
export type PidRecord = z.infer<typeof pidRecord>;

/** What /proc shows for a recorded pid now. */
export interface Observed {
  stat: ProcStat | null;
  isContainer: boolean;
  marker: string | null;
}

export type OrphanDecision =
  | { kind: "kill" }
  | { kind: "skip"; reason: "gone" | "pid reused" | "not a group leader" | "not a container" | "not this fleet's" };

/**
 * A recorded pid is killed only when everything proves it is the container this fleet
 * started: the same process (start time), still leading its own group (the kill goes to
 * the group), running the container program, with this fleet's marker in its environment.
 */
export function judgeOrphan(rec: PidRecord, fleetMarker: string, seen: Observed): OrphanDecision {
  if (seen.stat === null) return { kind: "skip", reason: "gone" };
  if (seen.stat.startTime !== rec.start_time) return { kind: "skip", reason: "pid reused" };
  if (seen.stat.pgrp !== rec.pid) return { kind: "skip", reason: "not a group leader" };
  if (!seen.isContainer) return { kind: "skip", reason: "not a container" };
  if (rec.marker !== fleetMarker || seen.marker !== fleetMarker) return { kind: "skip", reason: "not this fleet's" };
  return { kind: "kill" };
}

function observe(pid: number): Observed {
  return {
    stat: procStat(pid),
    isContainer: (procCmdline(pid) ?? []).some((a) => a.endsWith("runner-sim/container/main.mjs")),
    marker: procEnv(pid, FLEET_MARKER_ENV),
  };
}

export interface SweepResult {
  killed: number[];
  skipped: { pid: number; reason: string }[];
}

/**
 * Containers lead their own process groups, so they survive a runner-sim killed with
 * SIGKILL. Each live container leaves a pid file in this fleet's own folder; the next
 * start of the same fleet kills the groups its previous life left behind — and only
 * those it can prove it started (judgeOrphan). With RUNNER_DRIVER=docker no pid file is
 * written: the engine finds a previous life's containers by label (DockerDriver.sweep).
 */
export class ContainerRegistry {
  constructor(
    private readonly dir: string,
    readonly marker: string,
  ) {
    mkdirSync(dir, { recursive: true });
  }

  /** The environment every container of this fleet starts with. */
  containerEnv(): Record<string, string> {
    return { [FLEET_MARKER_ENV]: this.marker };
  }

  add(pid: number, jobId: number): void {
    // Without a start time the record can never prove anything: the sweep will skip it.
    const rec: PidRecord = { pid, job_id: jobId, start_time: procStat(pid)?.startTime ?? "", marker: this.marker };
    writeFileSync(path.join(this.dir, `${pid}.json`), JSON.stringify(rec));
  }

  remove(pid: number): void {
    rmSync(path.join(this.dir, `${pid}.json`), { force: true });
  }

  /** Kills what a previous life left running; every pid file is gone afterwards. */
  sweep(): SweepResult {
    const out: SweepResult = { killed: [], skipped: [] };
    for (const f of readdirSync(this.dir)) {
      if (!/^\d+\.json$/.test(f)) continue;
      const file = path.join(this.dir, f);
      const rec = readRecord(file);
      rmSync(file, { force: true });
      if (rec === null) {
        out.skipped.push({ pid: Number(f.slice(0, -5)), reason: "unreadable pid file" });
        continue;
      }
      const d = judgeOrphan(rec, this.marker, observe(rec.pid));
      if (d.kind === "skip") {
        if (d.reason !== "gone") out.skipped.push({ pid: rec.pid, reason: d.reason });
        continue;
      }
      try {
        process.kill(-rec.pid, "SIGKILL");
        out.killed.push(rec.pid);
      } catch {
        // Gone between the check and the kill.
      }
    }
    return out;
  }
}

function readRecord(file: string): PidRecord | null {
  try {
    const r = pidRecord.safeParse(JSON.parse(readFileSync(file, "utf8")));
    return r.success ? r.data : null;
  } catch {
    return null;
  }
}
