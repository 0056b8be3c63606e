import { describe, expect, it } from "vitest";
import { judgeRotation, liveMessage, type RotationDecision, type RotationFacts } from "./runners.ts";

describe("judgeRotation", () => {
  const now = 1_000_000;
  const facts = (f: Partial<RotationFacts>): RotationFacts => ({ proven: false, lastHeartbeatMs: now - 1000, nowMs: now, windowMs: 60_000, ...f });
  const cases: [string, RotationFacts, RotationDecision["kind"]][] = [
    ["live, no proof: not the secret's to end", facts({}), "live"],
    ["live, with its current token", facts({ proven: true }), "rotate"],
    ["silent exactly one window: still live", facts({ lastHeartbeatMs: now - 60_000 }), "live"],
    ["silent longer than the window: gone", facts({ lastHeartbeatMs: now - 60_001 }), "rotate"],
    ["never sent a heartbeat", facts({ lastHeartbeatMs: null }), "rotate"],
    ["a heartbeat from the future (clock skew) counts as live", facts({ lastHeartbeatMs: now + 5000 }), "live"],
  ];
  it.each(cases)("%s", (_name, f, want) => {
    expect(judgeRotation(f).kind).toBe(want);
  });

  it("tells the caller what to do", () => {
    expect(liveMessage("sim-1", 60_000)).toBe(
      "runner sim-1 is online (a heartbeat within the last 60 s): re-register with its current runner token as current_token, or stop it and retry once it has been silent for 60 s",
    );
  });
});
