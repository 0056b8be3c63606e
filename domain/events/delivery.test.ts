import { describe, expect, it } from "vitest";
import { decideAttempt, deliveryHeaders, type AttemptDecision, type AttemptOutcome } from "./delivery.ts";

describe("decideAttempt", () => {
  const rows: [AttemptOutcome, number, number, AttemptDecision][] = [
    ["delivered", 1, 8, { state: "delivered" }],
    ["delivered", 8, 8, { state: "delivered" }],
    ["retryable", 1, 8, { state: "retrying" }],
    ["retryable", 7, 8, { state: "retrying" }],
    ["retryable", 8, 8, { state: "failed", why: "attempts_exhausted" }],
    // Counted by the delivery: a re-added queue job past the limit still stops.
    ["retryable", 9, 8, { state: "failed", why: "attempts_exhausted" }],
    ["final", 1, 8, { state: "failed", why: "refused" }],
    ["retryable", 1, 1, { state: "failed", why: "attempts_exhausted" }],
  ];
  it.each(rows)("%s after %i of %i attempts", (o, n, max, want) => {
    expect(decideAttempt(o, n, max)).toEqual(want);
  });
});

describe("deliveryHeaders", () => {
  it("GitHub's headers, the signature only with a secret", () => {
    const base = { event: "workflow_job", guid: "0f0e0d0c-0000-4000-8000-000000000001", hookId: 12n, repoId: 3n };
    expect(deliveryHeaders({ ...base, signature: "sha256=ab" })).toEqual({
      "User-Agent": "GitHub-Hookshot/actions-lifecycle", "X-GitHub-Event": "workflow_job", "X-GitHub-Delivery": base.guid,
      "X-GitHub-Hook-ID": "12", "X-GitHub-Hook-Installation-Target-Type": "repository", "X-GitHub-Hook-Installation-Target-ID": "3",
      "X-Hub-Signature-256": "sha256=ab",
    });
    expect(deliveryHeaders({ ...base, signature: null })).not.toHaveProperty("X-Hub-Signature-256");
  });
});
