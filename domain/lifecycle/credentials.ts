import type { JobStatus } from "./types.ts";

/** How long a job token keeps working once its job is terminal: room for a retried end report. */
export const JOB_TOKEN_AFTER_END_MS = 60_000;

/** What the job-token statement reads (times in epoch ms). */
export interface JobTokenRow {
  expiresMs: number;
  tokenRevokedMs: number | null;
  runnerRevokedMs: number | null;
  jobStatus: JobStatus;
  jobCompletedMs: number | null;
}

export type JobTokenRefusal = "runner revoked" | "token revoked" | "token expired";
export type JobTokenDecision = { kind: "ok" } | { kind: "refused"; reason: JobTokenRefusal };

const TERMINAL: ReadonlySet<JobStatus> = new Set(["completed", "cancelled", "skipped"]);

/**
 * A job token works while its runner is not revoked, its runner has not registered again
 * (which revokes the token), it has not expired, and its job ended less than
 * `afterEndMs` ago. A terminal job without an end time fails closed.
 */
export function judgeJobToken(t: JobTokenRow, nowMs: number, afterEndMs = JOB_TOKEN_AFTER_END_MS): JobTokenDecision {
  if (t.runnerRevokedMs !== null) return { kind: "refused", reason: "runner revoked" };
  if (t.tokenRevokedMs !== null) return { kind: "refused", reason: "token revoked" };
  if (t.expiresMs <= nowMs) return { kind: "refused", reason: "token expired" };
  if (TERMINAL.has(t.jobStatus) && (t.jobCompletedMs === null || t.jobCompletedMs + afterEndMs <= nowMs)) {
    return { kind: "refused", reason: "token expired" };
  }
  return { kind: "ok" };
}

/** The runner a self-registration names, as stored (null: no runner of that name). */
export interface ExistingRunner {
  revoked: boolean;
  selfRegistered: boolean;
}

export type RegistrationDecision =
  | { kind: "create" }
  | { kind: "rotate" }
  | { kind: "revoked" }
  | { kind: "operator_owned" };

/**
 * Self-registration (the shared secret) may create a runner or start a new life for one
 * that registered itself; a name an operator registered is not its to take over, and a
 * revoked name stays revoked.
 */
export function judgeRegistration(existing: ExistingRunner | null): RegistrationDecision {
  if (existing === null) return { kind: "create" };
  if (existing.revoked) return { kind: "revoked" };
  return existing.selfRegistered ? { kind: "rotate" } : { kind: "operator_owned" };
}

