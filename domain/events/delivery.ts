import { assertNever } from "../../infra/assert.ts";

// What one delivery attempt leads to (docs/events.md, "Webhooks"). The attempt count is
// the delivery's own (stored with it), not the queue's, so a queue that lost its jobs and
// had them re-added still stops at WEBHOOK_MAX_ATTEMPTS.

export type AttemptOutcome = "delivered" | "retryable" | "final";

export type AttemptDecision =
  | { state: "delivered" }
  /** Try again after the queue's backoff. */
  | { state: "retrying" }
  | { state: "failed"; why: "refused" | "attempts_exhausted" };

export function decideAttempt(outcome: AttemptOutcome, attemptsMade: number, maxAttempts: number): AttemptDecision {
  switch (outcome) {
    case "delivered":
      return { state: "delivered" };
    case "final":
      return { state: "failed", why: "refused" };
    case "retryable":
      return attemptsMade >= maxAttempts ? { state: "failed", why: "attempts_exhausted" } : { state: "retrying" };
    default:
      return assertNever(outcome, "attempt outcome");
  }
}

export const USER_AGENT = "GitHub-Hookshot/actions-lifecycle";

/** GitHub's delivery headers; the signature only when the hook has a secret. */
export function deliveryHeaders(d: { event: string; guid: string; hookId: bigint; repoId: bigint; signature: string | null }): Record<string, string> {
  return {
    "User-Agent": USER_AGENT,
    "X-GitHub-Event": d.event,
    "X-GitHub-Delivery": d.guid,
    "X-GitHub-Hook-ID": d.hookId.toString(),
    "X-GitHub-Hook-Installation-Target-Type": "repository",
    "X-GitHub-Hook-Installation-Target-ID": d.repoId.toString(),
    ...(d.signature === null ? {} : { "X-Hub-Signature-256": d.signature }),
  };
}
