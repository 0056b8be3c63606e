import { describe, expect, it } from "vitest";
import { mayClaim, needsRowWrite, type RunnerFacts } from "./heartbeat.ts";
import { waitMs } from "../../api/routes/runner-poll.ts";

const facts = (o: Partial<RunnerFacts> = {}): RunnerFacts => ({
  runnerId: 1n, tokenRevoked: false, runnerRevoked: false, draining: false, labels: ["linux", "x64"], capacity: 2,
  status: "idle", hostName: "h", version: "v", seenMs: 1_000_000, busy: 0, ...o,
});

describe("needsRowWrite", () => {
  const now = 1_000_000 + 5_000;
  const rows: [string, RunnerFacts, Parameters<typeof needsRowWrite>[1], number, boolean][] = [
    ["nothing changed, row 5 s old, 15 s between writes", facts(), { hostName: "h", version: "v" }, 15_000, false],
    ["the row as old as RUNNER_SEEN_WRITE_MS", facts({ seenMs: now - 15_000 }), {}, 15_000, true],
    ["0: every heartbeat writes", facts(), {}, 0, true],
    ["never seen", facts({ seenMs: null }), {}, 15_000, true],
    ["labels reported differ", facts(), { labels: ["linux"] }, 15_000, true],
    ["labels in another order differ", facts(), { labels: ["x64", "linux"] }, 15_000, true],
    ["capacity reported differs", facts(), { capacity: 3 }, 15_000, true],
    ["a job running and the row says idle", facts({ busy: 1 }), {}, 15_000, true],
    ["no job running and the row says active", facts({ status: "active" }), {}, 15_000, true],
    ["host name changed", facts(), { hostName: "other" }, 15_000, true],
    ["version changed", facts(), { version: "w" }, 15_000, true],
  ];
  it.each(rows)("%s", (_what, f, info, seenWriteMs, want) => {
    expect(needsRowWrite(f, info, now, seenWriteMs)).toBe(want);
  });
});

describe("mayClaim", () => {
  it("needs room and no drain; the capacity reported counts", () => {
    expect(mayClaim(facts(), {})).toBe(true);
    expect(mayClaim(facts({ busy: 2 }), {})).toBe(false);
    expect(mayClaim(facts({ busy: 2 }), { capacity: 3 })).toBe(true);
    expect(mayClaim(facts({ draining: true }), {})).toBe(false);
  });
});

describe("waitMs", () => {
  it("takes 0-60 whole seconds, held at most half the heartbeat window", () => {
    expect(waitMs(undefined, 60_000)).toBe(0);
    expect(waitMs("0", 60_000)).toBe(0);
    expect(waitMs("20", 60_000)).toBe(20_000);
    expect(waitMs("60", 60_000)).toBe(30_000);
    expect(waitMs("60", 200_000)).toBe(60_000);
  });
  it.each(["61", "-1", "1.5", "", "abc", "007", " 5"])("refuses %j with 422", (v) => {
    expect(() => waitMs(v, 60_000)).toThrow(expect.objectContaining({ status: 422 }));
  });
  it("refuses a repeated parameter", () => {
    expect(() => waitMs(["1", "2"], 60_000)).toThrow(expect.objectContaining({ status: 422 }));
  });
});
