import { describe, expect, it } from "vitest";
import { changeOf, driverMessage, publicReason, type Probe } from "./readiness.ts";

describe("publicReason", () => {
  it.each([
    [{ kind: "ready" }, null],
    [{ kind: "postgres_unreachable", detail: "Can't reach database server at 10.0.0.5:5432" }, "postgres unreachable"],
    [{ kind: "redis_unreachable", detail: "connect ECONNREFUSED 10.0.0.6:6379" }, "redis unreachable"],
    [{ kind: "migration_missing", migration: "20261202080000_trust_boundaries" }, "migration 20261202080000_trust_boundaries not applied"],
  ] as [Probe, string | null][])("%j → %j", (p, want) => {
    expect(publicReason(p)).toBe(want);
  });
});

describe("changeOf", () => {
  it.each([
    [undefined, null, null],
    [undefined, "redis unreachable", "unready"],
    [null, null, null],
    [null, "postgres unreachable", "unready"],
    ["postgres unreachable", "postgres unreachable", null],
    ["postgres unreachable", "redis unreachable", "unready"],
    ["postgres unreachable", null, "ready_again"],
  ] as const)("%j then %j → %j", (prev, now, want) => {
    expect(changeOf(prev, now)).toBe(want);
  });
});

describe("driverMessage", () => {
  it("prefers the driver's original message, else the last line of the error", () => {
    expect(driverMessage({ message: "x", meta: { driverAdapterError: { cause: { originalMessage: 'database "a" does not exist' } } } })).toBe('database "a" does not exist');
    expect(driverMessage(new Error("Invalid `prisma.$queryRaw()` invocation:\n\n\nRaw query failed. Message: `Can't reach`\n"))).toBe("Raw query failed. Message: `Can't reach`");
    expect(driverMessage("plain")).toBe("plain");
  });
});
