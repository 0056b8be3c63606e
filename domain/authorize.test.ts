import { describe, expect, it } from "vitest";
import type { Access, AuthedToken, TokenForTarget } from "./data/access.ts";
import { authorizeIntent, tokenVerdict } from "./authorize.ts";

const NOW = Date.UTC(2026, 11, 2, 12);
const before = new Date(NOW - 1000);
const later = new Date(NOW + 1000);

function token(t: Partial<AuthedToken> & { suspendedAt?: Date | null } = {}): AuthedToken {
  const { suspendedAt = null, ...rest } = t;
  return {
    id: 3n, userId: 2n, scopes: ["repo:write"], repoId: null, expiresAt: null, revokedAt: null, lastUsedAt: null,
    user: { id: 2n, login: "bob", suspendedAt, isSiteAdmin: false }, ...rest,
  };
}
const found = (t: AuthedToken, access: Access): TokenForTarget => ({ token: t, repoId: 7n, access });

describe("tokenVerdict", () => {
  it.each<[string, AuthedToken | null, string]>([
    ["no token", null, "invalid token"],
    ["a revoked token (before it expired)", token({ revokedAt: before, expiresAt: before }), "token revoked"],
    ["an expired token", token({ expiresAt: before }), "token expired"],
    ["a token expiring this millisecond", token({ expiresAt: new Date(NOW) }), "token expired"],
    ["a suspended owner", token({ suspendedAt: before }), "account suspended"],
    ["a valid token", token({ expiresAt: later }), "ok"],
  ])("%s → %s", (_what, t, want) => {
    const v = tokenVerdict(t, NOW);
    expect(v.ok ? "ok" : v.reason).toBe(want);
  });
});

describe("authorizeIntent (the worker's check inside the intent's transaction)", () => {
  it.each<[string, TokenForTarget | null, bigint, unknown]>([
    ["still allowed", found(token(), "write"), 2n, { kind: "allowed" }],
    ["no such token", null, 2n, { kind: "unauthorized", message: "invalid token" }],
    ["a token of another user than the intent's actor", found(token(), "write"), 9n, { kind: "unauthorized", message: "invalid token" }],
    ["revoked since the API's check", found(token({ revokedAt: before }), "write"), 2n, { kind: "unauthorized", message: "token revoked" }],
    ["expired since", found(token({ expiresAt: before }), "write"), 2n, { kind: "unauthorized", message: "token expired" }],
    ["owner suspended since", found(token({ suspendedAt: before }), "write"), 2n, { kind: "unauthorized", message: "account suspended" }],
    ["a read-only token", found(token({ scopes: ["repo:read"] }), "write"), 2n, { kind: "forbidden", message: "token lacks required scope: repo:write" }],
    ["role reduced to read", found(token(), "read"), 2n, { kind: "forbidden", message: "write permission required" }],
    ["repository hidden since (role removed from a private repository, or deleted)", found(token(), "none"), 2n, { kind: "not_found" }],
  ])("%s", (_what, f, actor, want) => {
    expect(authorizeIntent(f, actor, NOW)).toEqual(want);
  });
});
