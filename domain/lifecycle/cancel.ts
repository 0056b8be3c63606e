import { assertNever } from "../../infra/assert.ts";
import type { JobStatus } from "./types.ts";

export type CancelDecision =
  | { outcome: "noop"; reason: "terminal" | "already_requested" }
  /** A queued job ends at once: nothing runs it yet. */
  | { outcome: "cancel_now" }
  /** A running job is flagged; its runner stops the container and reports `cancelled`. */
  | { outcome: "request_cancel" };

export function decideCancel(job: { status: JobStatus; cancelRequested: boolean }): CancelDecision {
  switch (job.status) {
    case "queued":
      return { outcome: "cancel_now" };
    case "running":
      return job.cancelRequested ? { outcome: "noop", reason: "already_requested" } : { outcome: "request_cancel" };
    case "completed":
    case "cancelled":
    case "skipped":
      return { outcome: "noop", reason: "terminal" };
    default:
      return assertNever(job.status, "job status");
  }
}
