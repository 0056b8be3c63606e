import { describe, expect, it } from "vitest";
import { Fragment, render, sql } from "./sqlf.ts";

describe("sql fragments render to numbered text and values", () => {
  const where = (id: string) => sql`id = ${id}::bigint`;
  const cases: [string, Fragment, { text: string; values: unknown[] }][] = [
    ["no parameters", sql`SELECT 1`, { text: "SELECT 1", values: [] }],
    ["parameters in order", sql`SELECT ${1}::int, ${"a"}::text`, { text: "SELECT $1::int, $2::text", values: [1, "a"] }],
    ["an array is one parameter", sql`WHERE id = ANY(${["1", "2"]}::bigint[])`, { text: "WHERE id = ANY($1::bigint[])", values: [["1", "2"]] }],
    ["null is a parameter", sql`SET x = ${null}::text`, { text: "SET x = $1::text", values: [null] }],
    ["a nested fragment is spliced, numbering continues", sql`UPDATE t SET a = ${"x"}::text WHERE ${where("7")} AND b = ${true}::boolean`,
      { text: "UPDATE t SET a = $1::text WHERE id = $2::bigint AND b = $3::boolean", values: ["x", "7", true] }],
    ["the same fragment twice gets its own numbers each time", sql`${where("1")} OR ${where("1")}`,
      { text: "id = $1::bigint OR id = $2::bigint", values: ["1", "1"] }],
    ["nested two deep", sql`WITH ${sql`a AS (${sql`SELECT ${1}::int`}), b AS (SELECT ${2}::int)`} SELECT ${3}::int`,
      { text: "WITH a AS (SELECT $1::int), b AS (SELECT $2::int) SELECT $3::int", values: [1, 2, 3] }],
    ["join with the default separator", sql`VALUES (${sql.join([sql`${1}`, sql`${2}`, sql`${3}`])})`, { text: "VALUES ($1, $2, $3)", values: [1, 2, 3] }],
    ["join with a separator", sql`WHERE ${sql.join([where("1"), sql`open`], " AND ")}`, { text: "WHERE id = $1::bigint AND open", values: ["1"] }],
    ["join of nothing is empty", sql`SELECT 1${sql.join([])}`, { text: "SELECT 1", values: [] }],
    ["raw text is spliced verbatim, never a parameter", sql`SELECT ${sql.raw("t.expires_at")} FROM t WHERE a = ${"$1"}::text`,
      { text: "SELECT t.expires_at FROM t WHERE a = $1::text", values: ["$1"] }],
    ["an empty fragment adds nothing", sql`SELECT 1${sql``}`, { text: "SELECT 1", values: [] }],
  ];
  it.each(cases)("%s", (_, f, want) => {
    expect(render(f)).toEqual(want);
  });

  it("one shape renders the identical string object whatever the values (named statements key on it)", () => {
    const stmt = (id: string, inner: Fragment) => sql`SELECT ${id}::bigint WHERE ${inner}`;
    const a = render(stmt("1", where("2")));
    const b = render(stmt("3", where("4")));
    expect(b.text).toBe(a.text);
    expect(b.values).toEqual(["3", "4"]);
  });

  it("a different shape renders a different text under the same root", () => {
    const stmt = (inner: unknown) => sql`SELECT 1 WHERE ${inner}`;
    const asParam = render(stmt(true)).text;
    const asFragment = render(stmt(sql`open`)).text;
    const asOtherFragment = render(stmt(sql.raw("closed"))).text;
    expect([asParam, asFragment, asOtherFragment]).toEqual(["SELECT 1 WHERE $1", "SELECT 1 WHERE open", "SELECT 1 WHERE closed"]);
    // And each again, from the cache, unchanged.
    expect([render(stmt(false)).text, render(stmt(sql`open`)).text, render(stmt(sql.raw("closed"))).text]).toEqual([asParam, asFragment, asOtherFragment]);
  });

  it("a fragment needs one more string than values", () => {
    expect(() => new Fragment(["a", "b"], [])).toThrow(/one more string/);
  });
});
