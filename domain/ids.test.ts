import { describe, expect, it } from "vitest";
import { num, parseId } from "./ids.ts";

describe("parseId", () => {
  const valid: [string, bigint][] = [
    ["1", 1n],
    ["42", 42n],
    ["1000", 1000n],
    ["9007199254740991", 9007199254740991n], // 2^53 - 1
  ];
  it.each(valid)("%j → %s", (raw, want) => {
    expect(parseId(raw)).toBe(want);
  });

  const invalid: [string, unknown][] = [
    ["zero", "0"],
    ["negative", "-1"],
    ["plus sign", "+1"],
    ["letters", "abc"],
    ["exponent", "1e3"],
    ["2^53", "9007199254740992"],
    ["17 digits", "10000000000000000"],
    ["20 digits", "99999999999999999999"],
    ["leading space", " 1"],
    ["trailing space", "1 "],
    ["trailing newline", "1\n"],
    ["leading zero", "01"],
    ["decimal point", "1.0"],
    ["hex", "0x10"],
    ["underscore separator", "1_000"],
    ["full-width digit", "１"],
    ["empty", ""],
    ["a number, not a string", 5],
    ["a bigint", 5n],
    ["undefined", undefined],
    ["null", null],
    ["an array", ["1"]],
  ];
  it.each(invalid)("%s → null", (_name, raw) => {
    expect(parseId(raw)).toBeNull();
  });
});

describe("num", () => {
  it.each([
    [1n, 1],
    [9007199254740991n, 9007199254740991],
    [null, null],
  ] as const)("%s → %s", (id, want) => {
    expect(num(id)).toBe(want);
  });
});
