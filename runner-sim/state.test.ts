import { chmodSync, lstatSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { procCmdline, procStat } from "./proc.ts";
import { FleetLockedError, fleetIdentity, isLiveOwner, lockFleet, readRunnerTokens, writeRunnerTokens } from "./state.ts";

const API = "http://127.0.0.1:3000";
const TOKEN = "shithub_runner_0123456789abcdefghijklmnopqrstuvwxyz";

describe("fleetIdentity", () => {
  it("gives fleets of different prefixes, services or tokens different folders and markers", () => {
    const ids = [
      fleetIdentity(API, { kind: "names", prefix: "sim-a" }),
      fleetIdentity(API, { kind: "names", prefix: "sim-b" }),
      fleetIdentity("http://127.0.0.1:4000", { kind: "names", prefix: "sim-a" }),
      fleetIdentity(API, { kind: "tokens", tokens: [TOKEN] }),
      fleetIdentity(API, { kind: "tokens", tokens: [TOKEN, `${TOKEN}2`] }),
    ];
    expect(new Set(ids.map((i) => i.dirName)).size).toBe(ids.length);
    expect(new Set(ids.map((i) => i.marker)).size).toBe(ids.length);
  });

  it("is the same for the same fleet started again (its sweep finds its own folder)", () => {
    expect(fleetIdentity(API, { kind: "names", prefix: "sim-a" })).toEqual(fleetIdentity(API, { kind: "names", prefix: "sim-a" }));
    expect(fleetIdentity(API, { kind: "tokens", tokens: ["a", "b"] })).toEqual(fleetIdentity(API, { kind: "tokens", tokens: ["b", "a"] }));
  });

  it("never puts a token in the folder name", () => {
    const id = fleetIdentity(API, { kind: "tokens", tokens: [TOKEN] });
    expect(id.dirName).toMatch(/^tokens-[0-9a-f]{12}$/);
    expect(id.marker).not.toContain(TOKEN.slice(15, 30));
    expect(fleetIdentity(API, { kind: "names", prefix: "sim-a" }).dirName).toMatch(/^sim-a-[0-9a-f]{12}$/);
  });
});

describe("isLiveOwner", () => {
  const rec = { pid: 4242, start_time: "1000" };
  const stat = { startTime: "1000", pgrp: 4242 };
  const sim = ["node", "--import", "tsx", "runner-sim/main.ts"];
  it.each([
    ["the runner-sim that wrote it", stat, sim, true],
    ["gone", null, null, false],
    ["its pid now used by another process", { ...stat, startTime: "2000" }, sim, false],
    ["not a runner-sim", stat, ["node", "other.js"], false],
  ] as const)("%s", (_what, st, cmd, want) => {
    expect(isLiveOwner(rec, st, cmd ? [...cmd] : null)).toBe(want);
  });
});

describe("lockFleet", () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), "fleet-lock-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it.runIf(process.platform === "linux")("refuses a second holder of one identity until the first releases it", async () => {
    const id = fleetIdentity(API, { kind: "names", prefix: `lock-${process.pid}` });
    const first = await lockFleet(dir, id);
    expect(first.locked).toBe(true);
    await expect(lockFleet(dir, id)).rejects.toThrow(FleetLockedError);
    await expect(lockFleet(dir, id)).rejects.toThrow(/another runner-sim fleet with this identity is running/);
    // Another identity is not held up.
    const other = await lockFleet(dir, fleetIdentity(API, { kind: "names", prefix: `lock-${process.pid}-b` }));
    other.release();
    first.release();
    const again = await lockFleet(dir, id);
    again.release();
  });

  it.runIf(process.platform === "linux")("reads start time and process group from /proc", () => {
    const st = procStat(process.pid);
    expect(st?.startTime).toMatch(/^\d+$/);
    expect(Number.isInteger(st?.pgrp)).toBe(true);
    expect(procCmdline(process.pid)?.[0]).toContain("node");
    expect(procStat(2 ** 30)).toBeNull();
  });
});

describe("runner tokens kept in the state folder", () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), "sim-tokens-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, "runner-tokens.json");

  it("reads back what was written, in a file only its user may read (0600)", () => {
    expect(readRunnerTokens(dir)).toEqual({});
    writeRunnerTokens(dir, { "sim-1": TOKEN });
    expect(readRunnerTokens(dir)).toEqual({ "sim-1": TOKEN });
    expect(statSync(file).mode & 0o777).toBe(0o600);
    // A file someone widened is narrowed again on the next write.
    chmodSync(file, 0o644);
    writeRunnerTokens(dir, { "sim-1": TOKEN, "sim-2": `${TOKEN}2` });
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(readRunnerTokens(dir)).toEqual({ "sim-1": TOKEN, "sim-2": `${TOKEN}2` });
  });

  it("does not write the tokens through a symlink planted at its temporary file's name", () => {
    const victim = path.join(dir, "victim.txt");
    writeFileSync(victim, "someone else's file\n", { mode: 0o644 });
    symlinkSync(victim, `${file}.${process.pid}.tmp`);
    writeRunnerTokens(dir, { "sim-1": TOKEN });
    expect(readFileSync(victim, "utf8")).toBe("someone else's file\n");
    expect(statSync(victim).mode & 0o777).toBe(0o644);
    expect(lstatSync(file).isFile()).toBe(true);
    expect(readRunnerTokens(dir)).toEqual({ "sim-1": TOKEN });
  });

  it("treats a torn or foreign file as no tokens (the runners then register without proof)", () => {
    for (const text of ["{\"sim-1\": \"shithub_run", "[1, 2]", "null", "7"]) {
      writeFileSync(file, text);
      expect(readRunnerTokens(dir), text).toEqual({});
    }
    writeFileSync(file, JSON.stringify({ "sim-1": TOKEN, "sim-2": 5 }));
    expect(readRunnerTokens(dir)).toEqual({ "sim-1": TOKEN });
  });
});
