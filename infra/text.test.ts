import { describe, expect, it } from "vitest";
import { z } from "zod";
import { hasNoNul, logText, NUL_MESSAGE, sqlText } from "./text.ts";

describe("logText", () => {
  const cases: [string, string, string][] = [
    ["plain text", "hello\n", "hello\n"],
    ["empty", "", ""],
    ["NUL", "a\u0000b", "a\uFFFDb"],
    ["only NULs", "\u0000\u0000", "\uFFFD\uFFFD"],
    ["lone high surrogate", "x\ud800y", "x\uFFFDy"],
    ["lone low surrogate at the end", "x\udfff", "x\uFFFD"],
    ["a valid pair stays", "💥", "💥"],
    ["reversed pair", "\udc00\ud800", "\uFFFD\uFFFD"],
    ["U+FFFD itself", "\uFFFD", "\uFFFD"],
  ];
  it.each(cases)("%s", (_name, input, want) => {
    expect(logText(input)).toBe(want);
  });

  it("is idempotent (a retried chunk normalises to what was stored)", () => {
    for (const [, input] of cases) expect(logText(logText(input))).toBe(logText(input));
  });

  it("always yields text UTF-8 round-trips and Postgres can store", () => {
    for (const [, input] of cases) {
      const out = logText(input);
      expect(Buffer.from(out, "utf8").toString("utf8")).toBe(out);
      expect(hasNoNul(out)).toBe(true);
    }
  });
});

describe("sqlText", () => {
  const schema = z.strictObject({ head_ref: sqlText(z.string().max(10)).optional() });
  const cases: [string, unknown, boolean][] = [
    ["absent", {}, true],
    ["plain", { head_ref: "main" }, true],
    ["NUL", { head_ref: "ma\u0000in" }, false],
    ["only NUL", { head_ref: "\u0000" }, false],
    ["other limits still apply", { head_ref: "x".repeat(11) }, false],
  ];
  it.each(cases)("%s", (_name, body, ok) => {
    expect(schema.safeParse(body).success).toBe(ok);
  });

  it("names the problem", () => {
    const r = schema.safeParse({ head_ref: "\u0000" });
    expect(r.success).toBe(false);
    expect(r.error?.issues[0]).toMatchObject({ path: ["head_ref"], message: NUL_MESSAGE });
  });
});
