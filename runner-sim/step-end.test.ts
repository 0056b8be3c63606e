import { describe, expect, it } from "vitest";
import { stepEndLine } from "./step-end.ts";

describe("stepEndLine", () => {
  it.each([
    [{ code: 1, signal: null }, "failure", "##[error]Process completed with exit code 1."],
    [{ code: 127, signal: null }, "failure", "##[error]Process completed with exit code 127."],
    [{ code: null, signal: "SIGKILL" }, "failure", "##[error]Process was killed by signal SIGKILL."],
    [{ code: 0, signal: null }, "success", null],
    [{ code: null, signal: "SIGTERM" }, "cancelled", null],
    [{ code: 143, signal: null }, "timed_out", null],
  ] as const)("%j ending %s → %s", (exit, ending, line) => {
    expect(stepEndLine(exit, ending)).toBe(line);
  });
});
