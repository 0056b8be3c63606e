import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { isAlive } from "./container/driver.ts";

/**
 * Containers lead their own process groups, so they survive a runner-sim killed with
 * SIGKILL. Each live container leaves a pid file here; the next start of the same fleet
 * kills the groups its previous life left behind.
 */
export class ContainerRegistry {
  constructor(private readonly dir: string) {
    mkdirSync(dir, { recursive: true });
  }

  add(pid: number, jobId: number): void {
    writeFileSync(path.join(this.dir, `${pid}.json`), JSON.stringify({ pid, job_id: jobId }));
  }

  remove(pid: number): void {
    rmSync(path.join(this.dir, `${pid}.json`), { force: true });
  }

  /** Kills what a previous life left running; returns the pids it killed. */
  sweep(): number[] {
    const killed: number[] = [];
    for (const f of readdirSync(this.dir)) {
      if (!f.endsWith(".json")) continue;
      const pid = Number(f.slice(0, -5));
      // A pid can be reused by an unrelated process: only kill our own container entry.
      if (Number.isInteger(pid) && isAlive(pid) && isContainer(pid)) {
        try {
          process.kill(-pid, "SIGKILL");
          killed.push(pid);
        } catch {
          // Gone between the check and the kill.
        }
      }
      rmSync(path.join(this.dir, f), { force: true });
    }
    return killed;
  }
}

function isContainer(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").includes("runner-sim/container/main.mjs");
  } catch {
    return false;
  }
}
