import { describe, expect, it } from "vitest";
import { pageNumberLinks, parseGitHubListQuery } from "./query.ts";

describe("parseGitHubListQuery", () => {
  it.each<[string, Record<string, unknown>, object]>([
    ["nothing: page 1 of 30", {}, { filters: {}, page: 1, perPage: 30 }],
    ["a status", { status: "in_progress" }, { filters: { status: "running" } }],
    ["queued", { status: "queued" }, { filters: { status: "queued" } }],
    ["a conclusion as status", { status: "failure" }, { filters: { conclusion: "failure" } }],
    ["a status no run of ours is in", { status: "waiting" }, { filters: { never: true } }],
    ["the shared filters", { branch: "main", event: "push", actor: "alice", head_sha: "ab12", created: ">=2026-01-01" }, { filters: { branch: "main", event: "push", actor: "alice", headSha: "ab12" } }],
    ["pages", { page: "3", per_page: "100" }, { page: 3, perPage: 100 }],
    ["parameters GitHub ignores", { exclude_pull_requests: "true", check_suite_id: "5" }, { filters: {}, page: 1 }],
    ["empty values, as clients send unset options", { status: "", branch: "" }, { filters: {} }],
  ])("%s", (_name, query, expected) => {
    const r = parseGitHubListQuery(query);
    expect(r.ok).toBe(true);
    expect(r.ok && r.value).toMatchObject(expected);
  });

  it.each<[string, Record<string, unknown>, string]>([
    ["an unknown status", { status: "sideways" }, "status"],
    ["a repeated status", { status: ["queued", "completed"] }, "status"],
    ["page 0", { page: "0" }, "page"],
    ["a page that is no number", { page: "two" }, "page"],
    ["per_page over 100", { per_page: "101" }, "per_page"],
    ["a bad created range", { created: "yesterday" }, "created"],
  ])("refuses %s, naming the parameter", (_name, query, param) => {
    const r = parseGitHubListQuery(query);
    expect(r.ok).toBe(false);
    expect(!r.ok && r.message).toMatch(new RegExp(`^${param}:`));
  });
});

describe("pageNumberLinks", () => {
  const url = new URL("http://h/api/v3/repos/o/r/actions/runs?status=completed");
  it.each<[string, number, number, number, string[]]>([
    ["one page: no links", 1, 30, 10, []],
    ["first of three", 1, 10, 25, ["next:2", "last:3"]],
    ["middle", 2, 10, 25, ["next:3", "last:3", "first:1", "prev:1"]],
    ["last", 3, 10, 25, ["first:1", "prev:2"]],
    ["past the end: prev is the last page", 9, 10, 25, ["first:1", "prev:3"]],
    ["nothing at all", 1, 30, 0, []],
  ])("%s", (_name, page, perPage, total, expected) => {
    const header = pageNumberLinks(url, page, perPage, total);
    const got = header === null ? [] : header.split(", ").map((l) => {
      const m = /^<(.+)>; rel="(\w+)"$/.exec(l)!;
      const u = new URL(m[1]!);
      expect(u.searchParams.get("status")).toBe("completed");
      expect(u.searchParams.get("per_page")).toBe(String(perPage));
      return `${m[2]}:${u.searchParams.get("page")}`;
    });
    expect(got).toEqual(expected);
  });
});
