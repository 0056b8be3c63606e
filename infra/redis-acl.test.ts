import { readdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { describe, expect, it } from "vitest";
import {
  ACL_USER, aclUsers, defaultUserLock, globEscape, isOpenUser, judgeOpenUsers, loginOf, SCRIPT_COMMAND_LIST, urlForUser, type AclProblem, type AclRole, type DefaultLock,
} from "./redis-acl.ts";
import { sha256 } from "../domain/tokens.ts";

const PW = { api: "api-password-0123456789", worker: "worker-password-0123456789", runner: "runner-password-0123456789" };

function users(prefix = "actions") {
  const plan = aclUsers({ prefix, passwords: PW });
  if (!plan.ok) throw new Error(JSON.stringify(plan.problem));
  return Object.fromEntries(plan.users.map((u) => [u.name, u.rules])) as Record<string, string[]>;
}

describe("aclUsers", () => {
  it("starts every user from nothing, with only the hash of its password", () => {
    const all = users();
    expect(Object.keys(all)).toEqual([ACL_USER.api, ACL_USER.worker, ACL_USER.runner]);
    for (const [role, name] of Object.entries(ACL_USER) as [AclRole, string][]) {
      expect(all[name]!.slice(0, 4)).toEqual(["reset", "resetchannels", "on", `#${sha256(PW[role])}`]);
    }
    expect(JSON.stringify(all)).not.toMatch(/password-0123456789/);
    // No category, no "all": every command is named.
    expect(Object.values(all).flat().filter((r) => /^[+-]@|^(allcommands|allkeys|allchannels|nopass|~\*|&\*)$/.test(r))).toEqual([]);
  });

  it("gives the runner the signal channels and five commands, no key", () => {
    expect(users()[ACL_USER.runner]!.slice(4)).toEqual(["&actions:signals:*", "+subscribe", "+unsubscribe", "+ssubscribe", "+sunsubscribe", "+ping"]);
  });

  it("gives api and worker their key families; only the worker publishes and blocks; only the api subscribes to the events hint", () => {
    const { [ACL_USER.api]: api, [ACL_USER.worker]: worker } = users();
    const families = (rules: string[]) => rules.filter((r) => r.startsWith("~") || r.startsWith("&"));
    expect(families(api!)).toEqual(["~actions:lifecycle-intents:*", "~actions:maintenance:*", "~actions:webhook-deliveries:*", "~actions:rl:*", "~actions:runner-seen:*", "&actions:events"]);
    // The reaper reads runners' last-seen and may not write it.
    expect(worker).toContain("%R~actions:runner-seen:*");
    expect(families(worker!)).toEqual(["~actions:lifecycle-intents:*", "~actions:maintenance:*", "~actions:webhook-deliveries:*", "&actions:signals:*", "&actions:events"]);
    expect(api).not.toContain("+publish");
    expect(worker!.filter((r) => !api!.includes(r) && r.startsWith("+"))).toEqual(["+bzpopmin", "+publish"]);
    expect(api!.filter((r) => !worker!.includes(r) && r.startsWith("+"))).toEqual(["+subscribe", "+unsubscribe"]);
    for (const rules of [api!, worker!]) expect(rules).not.toEqual(expect.arrayContaining(["+client|list"]));
  });

  it("escapes the glob characters of a prefix", () => {
    expect(globEscape("a*b?[c]\\d")).toBe("a\\*b\\?\\[c\\]\\\\d");
    expect(users("{actions}")[ACL_USER.runner]).toContain("&{actions}:signals:*");
    expect(users("q*")[ACL_USER.api]).toContain("~q\\*:rl:*");
  });

  const rows: [string, string, Partial<Record<AclRole, string>>, AclProblem][] = [
    ["empty prefix", "", PW, { kind: "bad-prefix", prefix: "" }],
    ["prefix with a space", "a b", PW, { kind: "bad-prefix", prefix: "a b" }],
    ["prefix with a newline", "a\nb", PW, { kind: "bad-prefix", prefix: "a\nb" }],
    ["no api password", "actions", { ...PW, api: undefined }, { kind: "missing-password", role: "api" }],
    ["empty worker password", "actions", { ...PW, worker: "" }, { kind: "missing-password", role: "worker" }],
    ["short runner password", "actions", { ...PW, runner: "short" }, { kind: "short-password", role: "runner" }],
    ["runner shares the worker's password", "actions", { ...PW, runner: PW.worker }, { kind: "shared-password", role: "runner", with: "worker" }],
  ];
  it.each(rows)("refuses %s", (_name, prefix, passwords, problem) => {
    expect(aclUsers({ prefix, passwords })).toEqual({ ok: false, problem });
  });
});

describe("the script command list", () => {
  it("covers every command the installed BullMQ's Lua scripts call", () => {
    const require = createRequire(import.meta.url);
    const dir = path.join(path.dirname(require.resolve("bullmq/package.json")), "dist", "esm", "commands");
    const files = readdirSync(dir, { recursive: true, encoding: "utf8" }).filter((f) => f.endsWith(".lua"));
    expect(files.length).toBeGreaterThan(20);
    const called = new Set<string>();
    for (const f of files) {
      const src = readFileSync(path.join(dir, f), "utf8");
      for (const m of src.matchAll(/(?:rcall|redis\.p?call)\(\s*["']([A-Za-z]+)["']/g)) called.add(m[1]!.toLowerCase());
      // The three calls that pick their command at run time (findPage, paginate, addJobInTargetList).
      if (/rcall\((command|countCommand|pushCmd),/.test(src)) ["sscan", "hscan", "scard", "hlen", "lpush", "rpush"].forEach((c) => called.add(c));
    }
    expect([...called].filter((c) => !SCRIPT_COMMAND_LIST.includes(c)).sort()).toEqual([]);
  });
});

describe("urlForUser", () => {
  it("puts an encoded user and password into the URL", () => {
    expect(urlForUser("redis://127.0.0.1:6380", "actions-runner", "p@ss:w/rd")).toBe("redis://actions-runner:p%40ss%3Aw%2Frd@127.0.0.1:6380");
  });
});

describe("the default user", () => {
  const ADMIN = "admin-password-0123456789";
  it.each<[string, string, DefaultLock]>([
    ["another admin user: default switched off, with no password and no rights", `redis://ops:${ADMIN}@h:6379`,
      { ok: true, user: { name: "default", rules: ["reset", "resetchannels"] } }],
    ["default with a password: it keeps its rights and needs that password (its hash only)", `redis://default:${ADMIN}@h:6379`,
      { ok: true, user: { name: "default", rules: ["on", "resetpass", `#${sha256(ADMIN)}`] } }],
    ["a password alone (AUTH <password> is default's)", `redis://:${ADMIN}@h:6379`,
      { ok: true, user: { name: "default", rules: ["on", "resetpass", `#${sha256(ADMIN)}`] } }],
    ["no login at all", "redis://h:6379", { ok: false, problem: { kind: "default-login-without-password" } }],
    ["a user name without a password (nothing is sent: default)", "redis://ops@h:6379", { ok: false, problem: { kind: "default-login-without-password" } }],
    ["a short admin password", "redis://default:short@h:6379", { ok: false, problem: { kind: "short-admin-password" } }],
    ["the runner's password as the admin's", `redis://default:${PW.runner}@h:6379`, { ok: false, problem: { kind: "admin-password-shared", with: "runner" } }],
  ])("--lock-default with %s", (_what, url, want) => {
    expect(defaultUserLock(loginOf(url), PW)).toEqual(want);
  });

  it("decodes the login of a URL", () => {
    expect(loginOf("redis://my%40ops:p%3Aw@h:1")).toEqual({ user: "my@ops", password: "p:w" });
  });

  it.each<[string, unknown, boolean]>([
    ["on nopass (a fresh server)", ["flags", ["on", "nopass", "sanitize-payload"], "passwords", [], "commands", "+@all"], true],
    ["on with a password", ["flags", ["on", "sanitize-payload"], "passwords", ["ab12"], "commands", "+@all"], false],
    ["off", ["flags", ["off", "sanitize-payload"], "passwords", [], "commands", "-@all"], false],
    ["off but nopass", ["flags", ["off", "nopass"], "passwords", [], "commands", "-@all"], false],
    ["no such user", null, false],
    // A value that merely says "flags" is not the flags field.
    ["a field value named flags", ["commands", "flags", ["on", "nopass"], "x"], false],
  ])("judges a user %s open: %s", (_what, reply, open) => {
    expect(isOpenUser(reply)).toBe(open);
  });

  const ROLES = [ACL_USER.api, ACL_USER.worker, ACL_USER.runner];
  it.each<[string, string[], string[], ReturnType<typeof judgeOpenUsers>]>([
    ["nothing open", [], ROLES, { ok: true }],
    ["default open, not locked", ["default"], ROLES, { ok: false, kind: "default-open" }],
    ["default open, locked by this apply", ["default"], [...ROLES, "default"], { ok: true }],
    // Anyone who names "ops" gets in with any password, whatever becomes of default.
    ["another user open, default locked", ["default", "ops"], [...ROLES, "default"], { ok: false, kind: "others-open", users: ["ops"] }],
    ["another user open, default closed", ["ops", "ci"], ROLES, { ok: false, kind: "others-open", users: ["ops", "ci"] }],
    // A role user left open by hand is reset (with its password) by this very apply.
    ["a role user open", [ACL_USER.runner], ROLES, { ok: true }],
  ])("judges the open users when %s", (_what, open, setting, want) => {
    expect(judgeOpenUsers(open, setting)).toEqual(want);
  });
});
