import { z } from "zod";

// What crosses process boundaries: the queue payload, the worker's result, the cancel
// signal. Every receiver parses with these schemas; nothing is trusted by shape alone.

export const QUEUE_NAME = "lifecycle-intents";
/** Housekeeping (the reaper's schedule), apart from the intents clients wait on. */
export const MAINTENANCE_QUEUE = "maintenance";
/** Webhook deliveries (docs/events.md): one job per delivery, its id `delivery-<id>`. */
export const DELIVERY_QUEUE = "webhook-deliveries";
/** The channel the dispatcher announces newly dispatched events on (a hint: streams read Postgres). */
export const eventsChannel = (prefix: string) => `${prefix}:events`;
// The intents, their record kinds and routes: one table, domain/intents.ts.
export { INTENT_NAMES, type IntentName } from "./intents.ts";

const id = z.number().int().positive().max(Number.MAX_SAFE_INTEGER);

export const intentPayload = z.object({
  intentUid: z.string().min(1).max(200),
  targetId: id,
  actorUserId: id,
  tokenId: id.nullable(),
  idempotencyKey: z.string().max(255).nullable(),
  requestId: z.string().max(200).nullable(),
  /** The optional `{"reason"}` of a cancel route, stored on the jobs it cancels. */
  reason: z.string().max(500).nullable().default(null),
  /** Route-specific parameters (the filters of a bulk cancel). */
  params: z.record(z.string(), z.unknown()).nullable().default(null),
  /** When the API signed it (ms since the epoch): older than INTENT_MAX_AGE_MS (infra/signing.ts) is refused. */
  issuedAt: z.number().int().nonnegative().optional(),
  /** `v1=<hex HMAC-SHA256>` over the name and every field above (infra/signing.ts). */
  signature: z.string().max(200).optional(),
});
export type IntentPayload = z.input<typeof intentPayload>;

export const cancelJobBody = z.object({
  job_id: id,
  run_id: id,
  repo_id: id,
  changed_jobs: z.number().int().min(0),
  run_completed: z.boolean(),
  run_conclusion: z.string(),
});

export const rerunRunBody = z.object({
  run_id: id,
  run_index: z.number().int().positive(),
  parent_run_id: id,
  repo_id: id,
  workflow_file: z.string(),
  head_sha: z.string(),
});

export const INTENT_ERRORS = [
  "not_found",
  "not_rerunnable",
  "source_unavailable",
  "source_invalid",
  "idempotency_conflict",
  "no_failed_jobs",
  "rerun_limit",
  /** The token stopped being valid between the API's check and the apply (401). */
  "unauthorized",
  /** The user lost write access, or the token its scope, in between (403). */
  "forbidden",
] as const;

export const cancelRunBody = z.object({
  run_id: id,
  repo_id: id,
  changed_jobs: z.number().int().min(0),
  run_completed: z.boolean(),
  run_conclusion: z.string(),
});

export const bulkCancelBody = z.object({
  repo_id: id,
  dry_run: z.boolean(),
  matched_runs: z.array(z.object({ id, run_index: z.number().int(), status: z.string(), workflow_file: z.string(), head_ref: z.string() })),
  changed_jobs: z.number().int().min(0),
});

export const intentResult = z.discriminatedUnion("ok", [
  z.object({ ok: z.literal(true), body: z.union([cancelJobBody, rerunRunBody, cancelRunBody, bulkCancelBody]) }),
  z.object({ ok: z.literal(false), error: z.enum(INTENT_ERRORS), message: z.string() }),
]);
export type IntentResult = z.infer<typeof intentResult>;

export const cancelSignal = z.object({
  job_id: id,
  run_id: id,
  runner_id: id.nullable(),
  requested_at: z.iso.datetime({ offset: true }),
  /** The X-Request-Id of the cancel request, so one cancel can be followed across logs. */
  request_id: z.string().max(200).nullable().optional(),
  /** Force-cancel: kill the container at once, without the grace period. */
  force: z.boolean().optional(),
});
export type CancelSignal = z.infer<typeof cancelSignal>;

/**
 * Cancel signals the API decided but may not publish (its Redis user has no PUBLISH):
 * fail-fast's (docs/workflows.md), sent as a job of this name on the maintenance queue,
 * which a worker publishes. A signal is only a hint a runner confirms with cancel-check,
 * so the job carries no authority.
 */
export const SIGNALS_JOB = "signals";
export const signalsJob = z.strictObject({ signals: z.array(cancelSignal).min(1).max(1000) });

/** One channel for every cancel: runners keep the ones for jobs they hold. */
export function cancelChannel(prefix: string): string {
  return `${prefix}:signals:cancel`;
}

/**
 * Retention keeps finished jobs long enough for the idempotency window. Transient failures
 * (the database away) are retried from 100 ms, doubling: 14 attempts wait about 13 minutes
 * in all, so an intent answered "queued and will be applied" survives a database outage of
 * that length; with 8 (12.7 s) a 20 s Postgres restart lost such intents (chaos suite).
 */
export const INTENT_JOB_OPTIONS = {
  attempts: 14,
  backoff: { type: "exponential" as const, delay: 100 },
  removeOnComplete: { age: 24 * 3600, count: 100_000 },
  removeOnFail: { age: 7 * 24 * 3600 },
};
