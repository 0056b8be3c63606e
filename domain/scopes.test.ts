import { describe, expect, it } from "vitest";
import { SCOPES, hasScope, isScope, type Scope } from "./scopes.ts";

describe("hasScope", () => {
  const rows: [string[], Scope, boolean][] = [
    [[], "repo:read", false],
    [["repo:read"], "repo:read", true],
    [["repo:write"], "repo:read", true],
    [["repo:write"], "repo:write", true],
    [["repo:read"], "repo:write", false],
    [["user:write"], "user:read", true],
    [["user:read"], "user:write", false],
    [["user:write"], "repo:read", false],
    [["repo:write"], "user:read", false],
    [["admin:read"], "repo:read", false],
    [["admin:read"], "admin:read", true],
    [["user:read", "repo:write"], "repo:read", true],
    [["repo"], "repo:read", false],
    [["REPO:READ"], "repo:read", false],
    [[" repo:read"], "repo:read", false],
    [["admin"], "admin:read", false],
    [["admin:write"], "admin:read", true],
    [["admin:write"], "admin:write", true],
    [["admin:read"], "admin:write", false],
    [["admin:write"], "repo:read", false],
  ];
  it.each(rows)("granted %j needs %s → %s", (granted, needed, want) => {
    expect(hasScope(granted, needed)).toBe(want);
  });

  it.each(SCOPES.map((s) => [s] as const))("every scope grants itself: %s", (s) => {
    expect(hasScope([s], s)).toBe(true);
  });

  it.each(SCOPES.filter((s) => s !== "admin:read" && s !== "admin:write").map((s) => [s] as const))("no scope implies admin:read: %s", (s) => {
    expect(hasScope([s], "admin:read")).toBe(false);
  });
});

describe("isScope", () => {
  it.each([
    ["repo:read", true],
    ["repo:write", true],
    ["user:read", true],
    ["user:write", true],
    ["admin:read", true],
    ["admin:write", true],
    ["admin:delete", false],
    ["repo", false],
    ["", false],
  ] as const)("%j → %s", (s, want) => {
    expect(isScope(s)).toBe(want);
  });
});
