import { extendZodWithOpenApi } from "@asteasolutions/zod-to-openapi";
import { z } from "zod";
import { cancelJobBody, rerunRunBody } from "../../domain/contracts.ts";
import { CONCLUSIONS, type Conclusion } from "../../domain/lifecycle/types.ts";
import { cancelBody, emptyBody } from "../submit.ts";
import { cancelRunBody } from "../../domain/contracts.ts";
import { heartbeatBody, logBody, registerBody, reportBody } from "../routes/runner.ts";
import { bulkCancelRequest } from "../routes/bulk.ts";
import { bulkCancelBody } from "../../domain/contracts.ts";

// The schemas of the HTTP contract (docs/api.md). Request bodies and the two intent
// results are the zod schemas the routes and the worker already parse with; the read views
// (api/views.ts) and the small runner-protocol answers have no zod schema in the routes, so
// they are written here, next to the document that publishes them, and test/openapi.test.ts
// checks real responses against them.

extendZodWithOpenApi(z);

/**
 * zod 4 gives each instance its methods when it is built, so schemas made before
 * `extendZodWithOpenApi` ran (the routes' own) lack `.openapi`: a clone made now has it.
 */
function named<T extends z.ZodType>(name: string, schema: T, meta: { description?: string } = {}): T {
  return (schema.clone() as T & { openapi: (n: string, m: object) => T }).openapi(name, meta);
}

const MAX_ID = Number.MAX_SAFE_INTEGER;
const id = z.number().int().positive().max(MAX_ID);
const timestamp = z.iso.datetime().openapi({ description: "RFC 3339, UTC" });
const maybeTimestamp = timestamp.nullable();
/**
 * `.nullable()` on a named schema would carry its name over and make the named component
 * itself nullable; a union keeps the component as it is and says "or null" where it is used.
 */
const orNull = <T extends z.ZodType>(schema: T) => z.union([schema, z.null()]);

export const RunStatus = z.enum(["queued", "running", "completed"]).openapi("RunStatus");
export const JobStatus = z.enum(["queued", "running", "completed", "cancelled", "skipped"]).openapi("JobStatus");
export const ConclusionSchema = z.enum(CONCLUSIONS as [Conclusion, ...Conclusion[]]).openapi("Conclusion");

/** Every error: a short message, and for some answers one of the optional fields below. */
export const ErrorBody = z
  .object({
    error: z.string().openapi({ description: "Short message, e.g. `job not found`" }),
    reason: z.string().optional().openapi({ description: "GET /readyz: why the service is not ready" }),
    detail: z.string().optional().openapi({ description: "422 `workflow source invalid`: what is wrong with the source" }),
    intent_id: z.string().optional().openapi({
      description: "503 after a worker timeout, and 500 after a failed intent: the queued intent, for support",
    }),
  })
  .openapi("Error", { description: 'Every error is `{"error": "<short message>"}`; fields may be added, never removed.' });

// ---- User API ----

export const CancelJobResult = named("CancelJobResult", cancelJobBody, {
  description:
    "`run_completed` / `run_conclusion` say whether *this request* completed the run, and with which conclusion (`\"\"` when it did not). `changed_jobs` is 0 when nothing changed (terminal job, or already cancel-requested).",
});
export const RerunRunResult = named("RerunRunResult", rerunRunBody, { description: "The new run, created from the source run's workflow file at its head_sha." });
export const CancelBody = named("CancelBody", cancelBody, { description: "Optional. `reason` (at most 500 characters) is stored on every job the cancel changes and shown by the read views and the timeline." });
export const CancelRunResult = named("CancelRunResult", cancelRunBody, {
  description: "`changed_jobs`: jobs this request changed (queued ones ended, running ones flagged or, with force, ended). `run_completed`/`run_conclusion`: whether this request completed the run.",
});
export const TimelineEvent = z
  .object({
    at: timestamp,
    type: z.enum(["request", "job_transition"]),
    actor: orNull(z.object({ id, login: z.string() })),
    route: orNull(z.string()),
    action: z.string(),
    job_id: orNull(id),
    detail: z.record(z.string(), z.unknown()),
  })
  .openapi("TimelineEvent");
export const Timeline = z.object({ run_id: id, events: z.array(TimelineEvent) }).openapi("Timeline");
export const EmptyBody = named("EmptyBody", emptyBody, { description: "These operations take no options: no body, or `{}`. Unknown fields are refused (400)." });

const actor = z.object({ id, login: z.string() }).openapi("Actor");

/** domain/data/waiting.ts WaitingFor: what holds a queued job back, the first that must change. */
export const WaitingFor = z
  .discriminatedUnion("kind", [
    z.object({
      kind: z.literal("needs"),
      jobs: z.array(z.string()).openapi({ description: "`needs` jobs (job keys) not yet completed with success", example: ["build"] }),
    }),
    z.object({
      kind: z.literal("concurrency"),
      group: z.string().openapi({ description: "The `concurrency` group held by an older open run, or by a running job of the repository", example: "deploy-main" }),
    }),
    z.object({
      kind: z.literal("max_parallel"),
      limit: z.number().int().positive().openapi({ description: "That many jobs of its matrix are running (`strategy.max-parallel`)", example: 2 }),
    }),
    z.object({
      kind: z.literal("runner"),
      labels: z.array(z.string()).openapi({ description: "The `runs-on` labels a runner must have (empty: any runner)", example: ["linux", "x64"] }),
      online_runners: z.number().int().min(0).openapi({
        description: "Online runners (a heartbeat within RUNNER_HEARTBEAT_WINDOW_MS, not draining, not revoked) with every label: 0 means none can take it — register or start one with these labels",
        example: 0,
      }),
    }),
  ])
  .openapi("WaitingFor", { description: "What a queued job waits for, in the order to act on: its needs, a concurrency group, its matrix's max-parallel, then a runner with its labels." });

export const JobSummary = z
  .object({
    id,
    run_id: id,
    job_key: z.string(),
    name: z.string(),
    runs_on: z.string().openapi({ description: "Runner label the job needs; empty for any runner" }),
    needs: z.array(z.string()),
    status: JobStatus,
    conclusion: orNull(ConclusionSchema),
    cancel_requested: z.boolean(),
    cancel_requested_at: maybeTimestamp,
    cancel_requested_by: orNull(z.object({ id, login: z.string() })).openapi({ description: "Who first asked to cancel the job" }),
    cancel_requested_token_id: orNull(id).openapi({ description: "The id of the token that request used" }),
    cancel_reason: orNull(z.string()).openapi({ description: "The `reason` given with that cancel" }),
    runner_id: id.nullable(),
    started_at: maybeTimestamp,
    completed_at: maybeTimestamp,
    reused: z.boolean().openapi({ description: "Carried over from the source run by a partial rerun, as it ended there; not executed in this run" }),
    waiting_for: orNull(WaitingFor).openapi({ description: "While `queued`: what the job waits for; null in any other status" }),
  })
  .openapi("JobSummary", { description: "A job as listed in its run (no steps)." });

export const Step = z
  .object({
    id,
    index: z.number().int().min(0),
    name: z.string(),
    status: JobStatus,
    conclusion: orNull(ConclusionSchema),
    started_at: maybeTimestamp,
    completed_at: maybeTimestamp,
  })
  .openapi("Step");

// Spelled out rather than `.extend`ed, so the document has one flat object, not an allOf.
export const Job = z.object({ ...JobSummary.shape, steps: z.array(Step) }).openapi("Job");

// A run as a list shows it (docs/api.md, "Lists"): GET /runs/{id} without its jobs.
export const RunSummary = z
  .object({
    id,
    repo_id: id,
    run_index: z.number().int().positive(),
    workflow_file: z.string(),
    workflow_name: z.string(),
    head_sha: z.string(),
    head_ref: z.string(),
    event: z.string(),
    status: RunStatus,
    conclusion: orNull(ConclusionSchema),
    actor: orNull(actor),
    parent_run_id: id.nullable(),
    attempt: z.number().int().positive().openapi({ description: "1 for an original run; a rerun's is its source's + 1" }),
    original_run_id: id.openapi({ description: "The first run of the rerun chain; an original run's own id" }),
    created_at: timestamp,
    started_at: maybeTimestamp,
    completed_at: maybeTimestamp,
  })
  .openapi("RunSummary", { description: "A run without its jobs." });

export const Run = z.object({ ...RunSummary.shape, jobs: z.array(JobSummary) }).openapi("Run");

export const RunsPage = z
  .object({
    runs: z.array(RunSummary).openapi({ description: "Newest first: created_at descending, then id descending" }),
    next_cursor: orNull(z.string()).openapi({ description: "Pass as `cursor` for the next page (also in the `Link` header, `rel=\"next\"`); null on the last page" }),
  })
  .openapi("RunsPage");

export const JobsOfRun = z.object({ run_id: id, jobs: z.array(JobSummary).openapi({ description: "In the workflow file's order, without steps" }) }).openapi("JobsOfRun");

// ---- Runner protocol ----

export const RunnerRegistration = named("RunnerRegistration", registerBody, {
  description:
    "Registers a runner by name, or starts a new life for a runner that registered itself (its old runner and job tokens stop working, jobs it still held are ended): only when `current_token` is that runner's current token, or the runner has sent no heartbeat for 60 s. Names are compared regardless of case (`Sim-1` is `sim-1`; the stored spelling is answered). A name an operator registered (`admin runner register`) is refused.",
});
export const RunnerRegistered = z
  .object({
    id,
    name: z.string(),
    token: z.string().openapi({ description: "The runner token (`shithub_runner_…`) for heartbeats; shown once" }),
    ended_jobs: z.array(id).openapi({ description: "Jobs the runner's previous life held, now ended" }),
  })
  .openapi("RunnerRegistered");

export const Heartbeat = named("Heartbeat", heartbeatBody, { description: "Optional updates of the runner's labels, capacity and identity." });
export const ClaimedJob = z
  .object({
    token: z.string().openapi({ description: "Per-job token (`shithub_job_…`) for the job endpoints" }),
    expires_at: timestamp,
    job: z.object({
      id,
      run_id: id,
      runner_id: id.openapi({ description: "The runner that claimed the job: a cancel signal for it must name this runner" }),
      job_key: z.string(),
      name: z.string(),
      runs_on: z.string(),
      timeout_minutes: z.number().int().positive(),
      steps: z.array(z.object({ id, index: z.number().int().min(0), name: z.string(), run: z.string() })),
    }),
  })
  .openapi("ClaimedJob");

export const StatusReport = named("StatusReport", reportBody, {
  description:
    "`completed` needs a `conclusion` (`completed`/`cancelled` means `cancelled`). Repeats of the same terminal state are no-ops; terminal states never change.",
});
export const LogChunk = named("LogChunk", logBody, {
  description: "One chunk of a step's log. A retried chunk (same `seq`, same content) is accepted once; different content under a written `seq` is a 409.",
});
export const JobReported = z.object({ changed: z.boolean(), run_completed: z.boolean() }).openapi("JobReported");
export const Changed = z.object({ changed: z.boolean() }).openapi("Changed");
export const CancelCheck = z
  .object({
    cancelled: z.boolean().openapi({ description: "A cancel was requested, or the server already ended the job: stop it" }),
    force: z.boolean().openapi({ description: "It was force-cancelled: stop it at once, without the grace period" }),
  })
  .openapi("CancelCheck");

// ---- Operations ----

export const Liveness = z.object({ status: z.literal("ok") }).openapi("Liveness");
export const Readiness = z.object({ status: z.literal("ready") }).openapi("Readiness");
export const OpenApiDocument = z
  .looseObject({ openapi: z.string(), info: z.looseObject({ title: z.string(), version: z.string() }), paths: z.record(z.string(), z.unknown()) })
  .openapi("OpenApiDocument", { description: "This document." });

// ---- Bulk cancel (POST /api/v1/repos/{owner}/{repo}/actions/runs/cancel) ----

export const BulkCancelRequest = named("BulkCancelRequest", bulkCancelRequest, {
  description:
    "Optional; every field is optional. Filters combine with AND over the repository's open runs (`queued` or `running`): `workflow_file` is the stored path or the file name under `.shithub/workflows/`; `head_ref` the stored ref or a branch name under `refs/heads/`; `status` one of `queued`, `running` (completed runs cannot be cancelled); `created_before` RFC 3339 with offset; `limit` 1-500 (default 100), oldest runs first. `dry_run: true` only lists the matches. `reason` (at most 500 characters) is stored on every job the cancel changes. Unknown fields are refused (400).",
});
export const BulkCancelResult = named("BulkCancelResult", bulkCancelBody, {
  description:
    "`matched_runs`: the runs the filters matched, oldest first, with the status they had when matched. `changed_jobs`: jobs this request changed (queued ones ended, running ones flagged); 0 for a dry run.",
});

// ---- Examples ----

/**
 * What Swagger's "Try it out" fills in, and what a reader copies: real values, each valid
 * against its body's schema (test/openapi.test.ts checks that). A bulk cancel's example is a
 * dry run, so trying it changes nothing.
 */
export const REQUEST_EXAMPLES = {
  cancel: { reason: "superseded by a newer push" },
  empty: {},
  bulkCancel: { workflow_file: "ci.yml", head_ref: "main", status: "queued", limit: 20, dry_run: true, reason: "superseded by a newer push" },
  register: { name: "build-host-1", labels: ["ubuntu-latest", "linux", "x64"], capacity: 2 },
  heartbeat: { labels: ["ubuntu-latest", "linux", "x64"], capacity: 2, host_name: "build-host-1", version: "1.4.0" },
  status: { status: "completed", conclusion: "success" },
  log: { step_id: 1, seq: 0, content: "Compiling 42 files\ndone\n" },
} as const;

