import { describe, expect, it } from "vitest";
import { bounded, decideStop, DUPLICATE_MS, type StopAction, type StopEvent, type StopState } from "./shutdown.ts";

const running: StopState = { kind: "running" };
const stopping: StopState = { kind: "stopping", at: 1_000 };
const delegated: StopState = { kind: "delegated", at: 1_000 };
const sig = (at: number, signal = "SIGINT"): StopEvent => ({ kind: "signal", signal, at });

describe("decideStop", () => {
  const cases: [string, StopState, StopEvent, boolean, StopAction][] = [
    ["a first signal stops a process on its own", running, sig(0), false, { kind: "stop", reason: "SIGINT" }],
    ["a first signal is handed to the supervisor", running, sig(0, "SIGTERM"), true, { kind: "delegate", signal: "SIGTERM" }],
    ["the same Ctrl-C again (npm forwards it) is one request", stopping, sig(1_000 + DUPLICATE_MS - 1), false, { kind: "ignore", why: "duplicate signal" }],
    ["a later signal forces", stopping, sig(1_000 + DUPLICATE_MS), false, { kind: "force", reason: "second signal (SIGINT)" }],
    ["a repeat while waiting for the supervisor is the same request", delegated, sig(1_010, "SIGTERM"), true, { kind: "ignore", why: "duplicate signal" }],
    ["a later signal while waiting for the supervisor forces", delegated, sig(5_000), true, { kind: "force", reason: "second signal (SIGINT)" }],
    ["the supervisor's stop stops", delegated, { kind: "supervisor-stop" }, true, { kind: "stop", reason: "asked by the supervisor" }],
    ["the supervisor's stop without a request of ours stops", running, { kind: "supervisor-stop" }, true, { kind: "stop", reason: "asked by the supervisor" }],
    ["the supervisor's stop while stopping changes nothing", stopping, { kind: "supervisor-stop" }, true, { kind: "ignore", why: "already stopping" }],
    ["the supervisor's force forces", stopping, { kind: "supervisor-force" }, true, { kind: "force", reason: "asked by the supervisor" }],
    ["a dead parent stops", running, { kind: "parent-gone" }, false, { kind: "stop", reason: "parent process exited" }],
    ["a dead supervisor stops one that asked it", delegated, { kind: "parent-gone" }, true, { kind: "stop", reason: "parent process exited" }],
    ["a dead parent while stopping changes nothing", stopping, { kind: "parent-gone" }, false, { kind: "ignore", why: "already stopping" }],
  ];
  it.each(cases)("%s", (_what, state, event, supervised, expected) => {
    expect(decideStop(state, event, supervised)).toEqual(expected);
  });
});

describe("bounded", () => {
  it("answers done when the work finishes in time", async () => {
    expect(await bounded(async () => 1, 1_000)).toBe("done");
  });
  it("answers timeout when the work never finishes", async () => {
    expect(await bounded(() => new Promise(() => {}), 10)).toBe("timeout");
  });
  it("passes the work's failure on", async () => {
    await expect(bounded(async () => { throw new Error("boom"); }, 1_000)).rejects.toThrow("boom");
  });
});
