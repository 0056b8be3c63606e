import { describe, expect, it } from "vitest";
import { decodeCursor, encodeCursor, parseCreated, parseListQuery, PER_PAGE_DEFAULT } from "./list-query.ts";

const d = (s: string) => new Date(s);

describe("parseCreated", () => {
  it.each([
    ["2026-01-01", "2026-01-01T00:00:00.000Z", "2026-01-02T00:00:00.000Z"],
    [">=2026-01-01", "2026-01-01T00:00:00.000Z", null],
    [">2026-01-01", "2026-01-02T00:00:00.000Z", null],
    ["<2026-01-01", null, "2026-01-01T00:00:00.000Z"],
    ["<=2026-01-01", null, "2026-01-02T00:00:00.000Z"],
    ["2026-01-01..2026-02-01", "2026-01-01T00:00:00.000Z", "2026-02-02T00:00:00.000Z"],
    ["*..2026-02-01", null, "2026-02-02T00:00:00.000Z"],
    ["2026-01-01..*", "2026-01-01T00:00:00.000Z", null],
    ["2026-01-01T10:00:00Z", "2026-01-01T10:00:00.000Z", "2026-01-01T10:00:00.001Z"],
    [">2026-01-01T10:00:00+02:00", "2026-01-01T08:00:00.001Z", null],
    ["<2026-01-01T10:00", null, "2026-01-01T10:00:00.000Z"],
    ["2028-02-29", "2028-02-29T00:00:00.000Z", "2028-03-01T00:00:00.000Z"],
  ])("%s is [%s, %s)", (text, from, to) => {
    expect(parseCreated(text)).toEqual({ ok: true, value: { from: from && d(from), to: to && d(to) } });
  });

  it.each(["", "yesterday", "2026-02-30", "2026-13-01", ">=", "2026-01-01..", "a..b", "2026-01-01..2026-01-02..2026-01-03", "=2026-01-01", "2026-1-1"])(
    "refuses %j, naming the parameter",
    (text) => {
      const r = parseCreated(text);
      expect(r.ok).toBe(false);
      expect(!r.ok && r.param).toBe("created");
      expect(!r.ok && r.message).toMatch(/^created: expected a date/);
    },
  );

  it("refuses a range that ends before it starts", () => {
    expect(parseCreated("2026-02-01..2026-01-01")).toMatchObject({ ok: false, message: "created: the range ends before it starts" });
  });
});

describe("cursor", () => {
  it("round-trips", () => {
    const c = { createdAt: d("2026-03-04T05:06:07.089Z"), id: 123456789012n };
    const text = encodeCursor(c);
    expect(text).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(decodeCursor(text)).toEqual({ ok: true, value: c });
  });

  const enc = (s: string) => Buffer.from(s).toString("base64url");
  const good = encodeCursor({ createdAt: d("2026-03-04T05:06:07.089Z"), id: 42n });
  const [ms, , sum] = Buffer.from(good, "base64url").toString().split(".");
  it.each([
    ["garbage!"], [enc("1.0")], [enc("abc.1")], [enc("1.99999999999999999999")], [enc("9223372036854775808")], [enc(`1.${1n << 63n}`)],
    ["x".repeat(97)], [""], [good.slice(0, -2)], [enc(`${ms}.43.${sum}`)], [enc(`${ms}.42`)],
  ])(
    "refuses %j",
    (text) => {
      expect(decodeCursor(text)).toMatchObject({ ok: false, param: "cursor" });
    },
  );
});

describe("parseListQuery", () => {
  it("defaults: no filters, 30 a page, from the start", () => {
    expect(parseListQuery({})).toEqual({ ok: true, value: { filters: {}, perPage: PER_PAGE_DEFAULT, after: null } });
  });

  it("reads every filter", () => {
    const r = parseListQuery({
      status: "completed", conclusion: "failure", branch: "refs/heads/feature/x", event: "push", head_sha: "ABCDEF12",
      actor: "alice", created: ">=2026-01-01", per_page: "100",
    });
    expect(r).toEqual({
      ok: true,
      value: {
        filters: {
          status: "completed", conclusion: "failure", branch: "feature/x", event: "push", headSha: "abcdef12", actor: "alice",
          created: { from: d("2026-01-01T00:00:00Z"), to: null },
        },
        perPage: 100,
        after: null,
      },
    });
  });

  it.each([
    [{ status: "done" }, "status", /^status: expected one of queued, running, completed/],
    [{ conclusion: "ok" }, "conclusion", /^conclusion: expected one of success/],
    [{ branch: "a..b" }, "branch", /^branch: expected a branch name/],
    [{ branch: "" }, "branch", /^branch:/],
    [{ event: "Push!" }, "event", /^event:/],
    [{ head_sha: "xyz" }, "head_sha", /^head_sha: expected a commit sha/],
    [{ actor: "-x" }, "actor", /^actor:/],
    [{ per_page: "0" }, "per_page", /^per_page: expected a whole number from 1 to 100/],
    [{ per_page: "101" }, "per_page", /^per_page:/],
    [{ per_page: "1.5" }, "per_page", /^per_page:/],
    [{ status: ["queued", "running"] }, "status", /^status: give it once/],
    [{ actor: { a: "b" } }, "actor", /^actor: give it once/],
    [{ page: "2" }, "page", /^page: unknown parameter/],
    [{ cursor: "nope" }, "cursor", /^cursor: not a cursor/],
  ])("%j → 400 naming %s", (query, param, message) => {
    const r = parseListQuery(query as Record<string, unknown>);
    expect(r).toMatchObject({ ok: false, param });
    expect(!r.ok && r.message).toMatch(message);
  });
});
