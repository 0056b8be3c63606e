import { describe, expect, it } from "vitest";
import { ConfigError } from "./config.ts";
import { nextWatch, type WatchEvent, type WatchState } from "./dep-watch.ts";
import { classifyPg, classifyRedis, DependencyError, formatFailure, isConnectionError, outcomeOf, redactUrl, scrubRedisError, urlUser, type Failure } from "./deps.ts";

const PG = "postgresql://postgres:s3cret@127.0.0.1:5999/actions?password=q";
const RD = "redis://actions-api:s3cret@127.0.0.1:6399/0";

describe("redactUrl", () => {
  it.each([
    [PG, "postgresql://postgres@127.0.0.1:5999/actions"],
    [RD, "redis://actions-api@127.0.0.1:6399/0"],
    ["redis://:only-pw@h:1", "redis://h:1"],
    ["redis://127.0.0.1:6379", "redis://127.0.0.1:6379"],
    ["not a url", "<unparseable URL>"],
  ])("%s → %s", (url, want) => expect(redactUrl(url)).toBe(want));

  it("names Redis' default user when the URL names none", () => {
    expect(urlUser("redis", "redis://:pw@h:1")).toBe("default");
    expect(urlUser("redis", RD)).toBe("actions-api");
  });
});

describe("classify", () => {
  const refused = Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:5999"), { code: "ECONNREFUSED" });
  it.each<[string, unknown, Failure["kind"]]>([
    ["refused", refused, "unreachable"],
    ["dual-stack AggregateError", Object.assign(new AggregateError([refused], ""), { code: "ECONNREFUSED" }), "unreachable"],
    ["no database", Object.assign(new Error('database "x" does not exist'), { code: "3D000" }), "missing_database"],
    ["bad password", Object.assign(new Error("password authentication failed"), { code: "28P01" }), "auth"],
    ["timeout", new Error("timeout expired"), "unreachable"],
    ["syntax", Object.assign(new Error("syntax error"), { code: "42601" }), "other"],
  ])("postgres %s", (_, e, kind) => expect(classifyPg(e, PG).kind).toBe(kind));

  it.each<[string, unknown, Failure["kind"]]>([
    ["refused", refused, "unreachable"],
    ["closed", new Error("Connection is closed."), "unreachable"],
    ["wrong password", new Error("WRONGPASS invalid username-password pair or user is disabled."), "auth"],
    ["no auth", new Error("NOAUTH Authentication required."), "auth"],
    ["no permission", new Error("NOPERM User actions-runner has no permissions to access the 'x' channel"), "permission"],
    ["other", new Error("ERR unknown command"), "other"],
  ])("redis %s", (_, e, kind) => expect(classifyRedis(e, RD).kind).toBe(kind));

  it("tells connection errors from refusals", () => {
    expect(isConnectionError(refused)).toBe(true);
    expect(isConnectionError(new Error("WRONGPASS x"))).toBe(false);
  });
});

describe("formatFailure", () => {
  it.each<[Failure, RegExp]>([
    [{ kind: "unreachable", detail: "connect ECONNREFUSED 127.0.0.1:5999" }, /^Postgres is unreachable at postgresql:\/\/postgres@127\.0\.0\.1:5999\/actions \(DATABASE_URL\): connect ECONNREFUSED 127\.0\.0\.1:5999 — start Postgres or set DATABASE_URL$/],
    [{ kind: "missing_database", database: "actions" }, /no database "actions" .*run npm run db:migrate/],
    [{ kind: "auth", user: "postgres", detail: "password authentication failed" }, /refused the credentials of user "postgres".*fix the user or password in DATABASE_URL/],
    [{ kind: "other", detail: "boom" }, /failed: boom — check DATABASE_URL/],
  ])("%j", (f, want) => {
    const line = formatFailure("postgres", PG, f);
    expect(line).toMatch(want);
    expect(line).not.toContain("s3cret");
    expect(line).not.toContain("\n");
  });

  it("names Redis' user for a permission refusal", () => {
    expect(formatFailure("redis", RD, { kind: "permission", user: "actions-api", detail: "NOPERM x" })).toMatch(/Redis user "actions-api" lacks a permission at redis:\/\/actions-api@127\.0\.0\.1:6399\/0 \(REDIS_URL\)/);
  });
});

describe("scrubRedisError", () => {
  it.each([["auth"], ["hello"], ["AUTH"]])("blanks the arguments of %s", (name) => {
    const e = Object.assign(new Error("WRONGPASS"), { command: { name, args: ["user", "s3cret"] } });
    expect(scrubRedisError(e).command.args).toEqual(["***", "***"]);
  });
  it("leaves other commands alone", () => {
    const e = Object.assign(new Error("ERR"), { command: { name: "get", args: ["k"] } });
    expect(scrubRedisError(e).command.args).toEqual(["k"]);
  });
});

describe("outcomeOf", () => {
  it("a bad setting: the message alone, exit 2", () => {
    const o = outcomeOf("api", new ConfigError("invalid configuration:\n  PORT: expected number"));
    expect(o).toEqual({ code: 2, message: "api: invalid configuration; PORT: expected number" });
  });
  it("a dependency: its line, exit 1", () => {
    const o = outcomeOf("worker", new DependencyError("redis", { kind: "unreachable", detail: "connect ECONNREFUSED" }, RD));
    expect(o.code).toBe(1);
    expect(o.message.split("\n")).toHaveLength(1);
    expect(o.message).toMatch(/^worker: Redis is unreachable at redis:\/\/actions-api@/);
  });
  it("a bug keeps its stack", () => {
    expect(outcomeOf("cli", new TypeError("x is undefined")).message).toMatch(/^cli failed: x is undefined\nTypeError/);
  });
});

describe("nextWatch: lost once, back once", () => {
  const run = (events: WatchEvent[]) => {
    let s: WatchState = [];
    return events.map((e) => {
      const r = nextWatch(s, e);
      s = r.state;
      return r.report;
    });
  };
  const down = (source: string): WatchEvent => ({ kind: "down", source });
  const up = (source: string): WatchEvent => ({ kind: "up", source });
  it.each<[string, WatchEvent[], (string | null)[]]>([
    ["first ready is no news", [up("a")], [null]],
    ["retries repeat nothing", [down("a"), down("a"), down("a")], ["lost", null, null]],
    ["two connections: lost at the first, back at the last", [down("a"), down("b"), up("a"), up("b")], ["lost", null, null, "back"]],
    ["lost again after back", [down("a"), up("a"), down("a"), up("a")], ["lost", "back", "lost", "back"]],
  ])("%s", (_, events, want) => expect(run(events)).toEqual(want));
});
