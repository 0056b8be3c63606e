import { describe, expect, it } from "vitest";
import { branchOf, jobState, runStatus } from "./views.ts";

describe("our states in GitHub's vocabulary", () => {
  it.each([["queued", "queued"], ["running", "in_progress"], ["completed", "completed"]])("run %s is %s", (ours, theirs) => {
    expect(runStatus(ours)).toBe(theirs);
  });

  it.each<[string, string | null, { status: string; conclusion: string | null }]>([
    ["queued", null, { status: "queued", conclusion: null }],
    ["running", null, { status: "in_progress", conclusion: null }],
    ["completed", "success", { status: "completed", conclusion: "success" }],
    ["completed", "timed_out", { status: "completed", conclusion: "timed_out" }],
    ["cancelled", "cancelled", { status: "completed", conclusion: "cancelled" }],
    ["cancelled", null, { status: "completed", conclusion: "cancelled" }],
    ["skipped", "skipped", { status: "completed", conclusion: "skipped" }],
    ["skipped", null, { status: "completed", conclusion: "skipped" }],
  ])("job %s/%s", (status, conclusion, expected) => {
    expect(jobState(status, conclusion)).toEqual(expected);
  });

  it.each([["refs/heads/main", "main"], ["main", "main"], ["refs/heads/feature/x", "feature/x"], ["refs/tags/v1", "refs/tags/v1"]])("head_ref %s is branch %s", (ref, branch) => {
    expect(branchOf(ref)).toBe(branch);
  });
});
