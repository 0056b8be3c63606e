import { spawn } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { waitFor } from "../test/setup/db.ts";
import { isAlive, startContainer, type Container } from "./container/driver.ts";
import { ContainerRegistry, judgeOrphan, type Observed, type PidRecord } from "./orphans.ts";
import { procCmdline, procStat } from "./proc.ts";

const MARK = "a".repeat(32);
const rec: PidRecord = { pid: 500, job_id: 1, start_time: "777", marker: MARK };
const ours: Observed = { stat: { startTime: "777", pgrp: 500 }, isContainer: true, marker: MARK };

describe("judgeOrphan", () => {
  it.each([
    ["our container, still running", ours, { kind: "kill" }],
    ["gone", { ...ours, stat: null }, { kind: "skip", reason: "gone" }],
    ["its pid reused by a later process", { ...ours, stat: { startTime: "778", pgrp: 500 } }, { kind: "skip", reason: "pid reused" }],
    ["no longer leading its group", { ...ours, stat: { startTime: "777", pgrp: 1 } }, { kind: "skip", reason: "not a group leader" }],
    ["not the container program", { ...ours, isContainer: false }, { kind: "skip", reason: "not a container" }],
    ["another fleet's container", { ...ours, marker: "b".repeat(32) }, { kind: "skip", reason: "not this fleet's" }],
    ["a container without a marker", { ...ours, marker: null }, { kind: "skip", reason: "not this fleet's" }],
  ] as const)("%s", (_what, seen, want) => {
    expect(judgeOrphan(rec, MARK, seen as Observed)).toEqual(want);
  });

  it("skips a record written for another fleet even if the process carries our marker", () => {
    expect(judgeOrphan({ ...rec, marker: "c".repeat(32) }, MARK, ours)).toEqual({ kind: "skip", reason: "not this fleet's" });
  });
});

describe.runIf(process.platform === "linux")("ContainerRegistry.sweep (real processes)", () => {
  const base = mkdtempSync(path.join(os.tmpdir(), "orphans-"));
  const started: Container[] = [];
  afterAll(async () => {
    for (const c of started) await c.kill();
    rmSync(base, { recursive: true, force: true });
  });
  const sleeper = (reg: ContainerRegistry, jobId: number) => {
    const c = startContainer("sleep 600", { onLine: () => {}, env: reg.containerEnv() });
    started.push(c);
    reg.add(c.pid, jobId);
    return c;
  };

  it("kills its own previous life's containers and nothing else", async () => {
    const mine = new ContainerRegistry(path.join(base, "mine"), "1".repeat(32));
    const theirs = new ContainerRegistry(path.join(base, "theirs"), "2".repeat(32));
    const own = sleeper(mine, 1);
    const other = sleeper(theirs, 2);
    await waitFor("both containers to have exec'ed", async () => [own.pid, other.pid].every((p) => procCmdline(p)?.some((a) => a.endsWith("main.mjs"))));
    // A pid file naming the other fleet's container (copied, or a shared folder), one naming
    // an unrelated process (this test runner), and one whose start time is not the process's.
    const otherStat = procStat(other.pid)!;
    writeFileSync(path.join(base, "mine", `${other.pid}.json`), JSON.stringify({ pid: other.pid, job_id: 2, start_time: otherStat.startTime, marker: "1".repeat(32) }));
    const unrelated = spawn(process.execPath, ["-e", "setTimeout(() => {}, 600000)"], { detached: true, stdio: "ignore" });
    writeFileSync(path.join(base, "mine", `${unrelated.pid}.json`), JSON.stringify({ pid: unrelated.pid, job_id: 3, start_time: procStat(unrelated.pid!)!.startTime, marker: "1".repeat(32) }));
    try {
      // The next life of "mine".
      const next = new ContainerRegistry(path.join(base, "mine"), "1".repeat(32));
      const swept = next.sweep();
      expect(swept.killed).toEqual([own.pid]);
      expect(swept.skipped).toEqual(expect.arrayContaining([
        { pid: other.pid, reason: "not this fleet's" },
        { pid: unrelated.pid, reason: "not a container" },
      ]));
      expect((await own.exited).signal).toBe("SIGKILL");
      expect(isAlive(other.pid)).toBe(true);
      expect(isAlive(unrelated.pid!)).toBe(true);
      expect(readdirSync(path.join(base, "mine"))).toEqual([]);
    } finally {
      unrelated.kill("SIGKILL");
    }
  });

  it("leaves a container whose recorded start time is not its own (pid reuse)", async () => {
    const reg = new ContainerRegistry(path.join(base, "reuse"), "3".repeat(32));
    const c = sleeper(reg, 4);
    await waitFor("the container to have exec'ed", async () => procCmdline(c.pid)?.some((a) => a.endsWith("main.mjs")));
    writeFileSync(path.join(base, "reuse", `${c.pid}.json`), JSON.stringify({ pid: c.pid, job_id: 4, start_time: "1", marker: "3".repeat(32) }));
    expect(new ContainerRegistry(path.join(base, "reuse"), "3".repeat(32)).sweep()).toEqual({ killed: [], skipped: [{ pid: c.pid, reason: "pid reused" }] });
    expect(isAlive(c.pid)).toBe(true);
  });
});
