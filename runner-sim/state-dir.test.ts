import { chmodSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { judgeStateDir, prepareStateDir } from "./state-dir.ts";

const dir = (over: Partial<{ uid: number; mode: number; isDirectory: boolean; isSymbolicLink: boolean }> = {}) => ({
  uid: 1000, mode: 0o40700, isDirectory: true, isSymbolicLink: false, ...over,
});

describe("judgeStateDir", () => {
  it.each([
    ["this user's own folder, 700", dir(), true, ""],
    ["755 (others may read, not write)", dir({ mode: 0o40755 }), true, ""],
    ["another user's folder", dir({ uid: 0 }), false, "belongs to uid 0"],
    ["group-writable", dir({ mode: 0o40770 }), false, "can be written by others (mode 770)"],
    ["world-writable (a shared /tmp)", dir({ mode: 0o41777 }), false, "can be written by others (mode 777)"],
    ["a symbolic link", dir({ isSymbolicLink: true, isDirectory: false }), false, "symbolic link"],
    ["a file", dir({ isDirectory: false }), false, "not a folder"],
  ])("%s", (_what, facts, ok, reason) => {
    const v = judgeStateDir(facts, 1000);
    expect(v.ok).toBe(ok);
    if (!v.ok) expect(v.reason).toContain(reason);
  });
});

describe("prepareStateDir", () => {
  const root = mkdtempSync(path.join(os.tmpdir(), "state-dir-"));
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it("creates the base and the fleet's folder, mode 700", () => {
    const made = prepareStateDir(path.join(root, "base"), "sim-abc");
    expect(made).toBe(path.join(root, "base", "sim-abc"));
  });

  it("refuses a world-writable base and a symlinked fleet folder, naming RUNNER_STATE_DIR", () => {
    const open = path.join(root, "open");
    mkdirSync(open);
    chmodSync(open, 0o777);
    expect(() => prepareStateDir(open, "sim-x")).toThrow(/can be written by others.*RUNNER_STATE_DIR/);
    const base = path.join(root, "linked");
    mkdirSync(base, { mode: 0o700 });
    symlinkSync(root, path.join(base, "sim-y"));
    expect(() => prepareStateDir(base, "sim-y")).toThrow(/symbolic link/);
  });
});
