import { describe, expect, it } from "vitest";
import { CROSS_SITE, NEEDS_WRITE, cookieValue, credentialOf, decide, expectedOrigin, grantOfScopes, isSameOrigin, loginHandover, type DashboardDecision, type DashboardRequest } from "./access.ts";

describe("decide", () => {
  const serve = (board: "read-only" | "writable"): DashboardDecision => ({ kind: "serve", board });
  const hidden: DashboardDecision = { kind: "hidden" };
  const rows: [string, DashboardRequest, DashboardDecision][] = [
    ["no credential", { grant: null, via: "none", method: "GET", sameOrigin: true }, hidden],
    ["a token without an admin grant", { grant: null, via: "token", method: "GET", sameOrigin: true }, hidden],
    ["a dead session, writing", { grant: null, via: "session", method: "PUT", sameOrigin: true }, hidden],
    ["admin:read reads", { grant: "admin:read", via: "token", method: "GET", sameOrigin: false }, serve("read-only")],
    ["admin:read HEAD", { grant: "admin:read", via: "session", method: "HEAD", sameOrigin: false }, serve("read-only")],
    ["admin:read PUT (pause)", { grant: "admin:read", via: "token", method: "PUT", sameOrigin: true }, { kind: "refused", message: NEEDS_WRITE }],
    ["admin:read POST (add)", { grant: "admin:read", via: "session", method: "POST", sameOrigin: true }, { kind: "refused", message: NEEDS_WRITE }],
    ["admin:read PATCH", { grant: "admin:read", via: "token", method: "PATCH", sameOrigin: true }, { kind: "refused", message: NEEDS_WRITE }],
    ["admin:read DELETE", { grant: "admin:read", via: "token", method: "DELETE", sameOrigin: true }, { kind: "refused", message: NEEDS_WRITE }],
    ["admin:read OPTIONS", { grant: "admin:read", via: "token", method: "OPTIONS", sameOrigin: true }, { kind: "refused", message: NEEDS_WRITE }],
    ["admin:write reads the writable board", { grant: "admin:write", via: "token", method: "GET", sameOrigin: false }, serve("writable")],
    ["admin:write token writes from anywhere", { grant: "admin:write", via: "token", method: "PUT", sameOrigin: false }, serve("writable")],
    ["admin:write session writes same-origin", { grant: "admin:write", via: "session", method: "PUT", sameOrigin: true }, serve("writable")],
    ["admin:write session writes cross-site", { grant: "admin:write", via: "session", method: "POST", sameOrigin: false }, { kind: "refused", message: CROSS_SITE }],
  ];
  it.each(rows)("%s", (_what, req, want) => {
    expect(decide(req)).toEqual(want);
  });

  it("names admin:write in its refusal", () => {
    expect(NEEDS_WRITE).toContain("admin:write");
  });
});

describe("isSameOrigin", () => {
  const self = "http://127.0.0.1:3000";
  it.each([
    [{ secFetchSite: "same-origin", origin: undefined }, true],
    [{ secFetchSite: "same-origin", origin: "https://evil.example" }, true],
    [{ secFetchSite: "same-site", origin: self }, false],
    [{ secFetchSite: "cross-site", origin: self }, false],
    [{ secFetchSite: "none", origin: undefined }, false],
    [{ secFetchSite: undefined, origin: self }, true],
    [{ secFetchSite: undefined, origin: "http://127.0.0.1:3001" }, false],
    [{ secFetchSite: undefined, origin: "null" }, false],
    [{ secFetchSite: undefined, origin: undefined }, false],
  ] as const)("%j → %s", (h, want) => {
    expect(isSameOrigin({ ...h, self })).toBe(want);
  });
});

describe("isSameOrigin without an origin to compare with", () => {
  it.each([
    [{ secFetchSite: undefined, origin: "http://127.0.0.1:3000" }, false],
    [{ secFetchSite: undefined, origin: undefined }, false],
    [{ secFetchSite: "same-origin", origin: undefined }, true],
    [{ secFetchSite: "cross-site", origin: undefined }, false],
  ] as const)("%j → %s", (h, want) => {
    expect(isSameOrigin({ ...h, self: null })).toBe(want);
  });
});

describe("expectedOrigin", () => {
  const req = { protocol: "http", host: "127.0.0.1:3000" };
  it.each([
    ["PUBLIC_URL wins over Host", { publicOrigin: "https://ci.example.com", trustProxy: false, ...req }, "https://ci.example.com"],
    ["PUBLIC_URL wins behind a proxy too", { publicOrigin: "https://ci.example.com", trustProxy: true, ...req }, "https://ci.example.com"],
    ["no PUBLIC_URL, no proxy: the Host header", { publicOrigin: null, trustProxy: false, ...req }, "http://127.0.0.1:3000"],
    ["no PUBLIC_URL behind a trusted proxy: nothing", { publicOrigin: null, trustProxy: true, ...req }, null],
    ["no Host header: nothing", { publicOrigin: null, trustProxy: false, protocol: "http", host: undefined }, null],
    ["an empty Host header: nothing", { publicOrigin: null, trustProxy: false, protocol: "http", host: "" }, null],
  ] as const)("%s", (_name, facts, want) => {
    expect(expectedOrigin(facts)).toBe(want);
  });
});

describe("credentialOf and cookieValue", () => {
  it.each([
    [undefined, undefined, { kind: "none" }],
    ["", "actions_dashboard=abc", { kind: "session", value: "abc" }],
    ["Bearer x", "actions_dashboard=abc", { kind: "token", header: "Bearer x" }],
    [undefined, "a=1; actions_dashboard=abc; b=2", { kind: "session", value: "abc" }],
    [undefined, "actions_dashboard_x=abc", { kind: "none" }],
    [undefined, "xactions_dashboard=abc", { kind: "none" }],
  ] as const)("authorization %j, cookie %j → %j", (auth, cookie, want) => {
    expect(credentialOf(auth, cookie)).toEqual(want);
  });

  it("takes the first of repeated cookies and ignores pairs without '='", () => {
    expect(cookieValue("junk; n=1; n=2", "n")).toBe("1");
    expect(cookieValue("n", "n")).toBeUndefined();
  });
});

describe("grantOfScopes", () => {
  it.each([
    [["admin:read"], "admin:read"],
    [["admin:write"], "admin:write"],
    [["admin:read", "admin:write"], "admin:write"],
    [["repo:write", "user:write"], null],
    [["admin"], null],
    [[], null],
  ] as const)("%j → %s", (scopes, want) => {
    expect(grantOfScopes(scopes)).toBe(want);
  });
});

describe("loginHandover", () => {
  it.each([
    [undefined, "redirect"],
    ["none", "redirect"],
    ["same-origin", "redirect"],
    ["same-site", "page"],
    ["cross-site", "page"],
  ] as const)("Sec-Fetch-Site %j → %s", (site, want) => {
    expect(loginHandover(site)).toBe(want);
  });
});
