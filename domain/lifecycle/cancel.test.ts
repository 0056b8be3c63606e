import { describe, expect, it } from "vitest";
import { decideCancel, type CancelDecision } from "./cancel.ts";
import type { JobStatus } from "./types.ts";

// Every job status × cancelRequested (docs/lifecycle.md, "Cancel").
const table: [JobStatus, boolean, CancelDecision][] = [
  ["queued", false, { outcome: "cancel_now" }],
  // A queued job can carry the flag only transiently; it still ends at once.
  ["queued", true, { outcome: "cancel_now" }],
  ["running", false, { outcome: "request_cancel" }],
  ["running", true, { outcome: "noop", reason: "already_requested" }],
  ["completed", false, { outcome: "noop", reason: "terminal" }],
  ["completed", true, { outcome: "noop", reason: "terminal" }],
  ["cancelled", false, { outcome: "noop", reason: "terminal" }],
  ["cancelled", true, { outcome: "noop", reason: "terminal" }],
  ["skipped", false, { outcome: "noop", reason: "terminal" }],
  ["skipped", true, { outcome: "noop", reason: "terminal" }],
];

describe("decideCancel", () => {
  it.each(table)("status=%s cancelRequested=%s → %o", (status, cancelRequested, expected) => {
    expect(decideCancel({ status, cancelRequested })).toEqual(expected);
  });

  it("covers every job status", () => {
    const statuses: JobStatus[] = ["queued", "running", "completed", "cancelled", "skipped"];
    for (const s of statuses) {
      expect(table.filter(([st]) => st === s).map(([, r]) => r).sort()).toEqual([false, true]);
    }
  });

  it("rejects an unknown status instead of guessing", () => {
    expect(() => decideCancel({ status: "bogus" as JobStatus, cancelRequested: false })).toThrow(/job status/);
  });
});
