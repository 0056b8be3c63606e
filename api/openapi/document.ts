import {
  OpenAPIRegistry,
  OpenApiGeneratorV31,
  type ResponseConfig,
  type RouteConfig,
} from "@asteasolutions/zod-to-openapi";
import { z } from "zod";
import { IDEMPOTENCY_KEY } from "../submit.ts";
import { INTENTS, type IntentName } from "../../domain/intents.ts";
import { DOCS_ASSETS } from "./assets.ts";
import * as S from "./schemas.ts";
import { GITHUB_TAG, registerGitHub } from "./github.ts";

// The OpenAPI 3.1 document of the HTTP contract (docs/api.md), built from the zod schemas.
// Status codes and messages follow the code: api/app.ts (body parsing, request id, 404),
// api/errors.ts, api/auth.ts, api/ratelimit.ts and api/routes/*.ts.

type Headers = Record<string, { $ref: string }>;
const header = (name: string) => ({ $ref: `#/components/headers/${name}` });

/** On every response (api/app.ts requestContext). */
const ALWAYS: Headers = { "X-Request-Id": header("X-Request-Id"), "Cache-Control": header("Cache-Control") };
const RATE: Headers = {
  "X-RateLimit-Limit": header("X-RateLimit-Limit"),
  "X-RateLimit-Remaining": header("X-RateLimit-Remaining"),
  "X-RateLimit-Reset": header("X-RateLimit-Reset"),
};
const SCOPES: Headers = { "X-OAuth-Scopes": header("X-OAuth-Scopes"), "X-Accepted-OAuth-Scopes": header("X-Accepted-OAuth-Scopes") };
const RETRY: Headers = { "Retry-After": header("Retry-After") };
const CHALLENGE: Headers = { "WWW-Authenticate": header("WWW-Authenticate") };

function json(description: string, schema: z.ZodType, headers: Headers = {}): ResponseConfig {
  return { description, headers: { ...ALWAYS, ...headers }, content: { "application/json": { schema } } };
}
const error = (description: string, headers: Headers = {}) => json(description, S.ErrorBody, headers);
const empty = (description: string, headers: Headers = {}): ResponseConfig => ({ description, headers: { ...ALWAYS, ...headers } });

// Bodies are checked (api/body.ts) and parsed (express.json, 256 KiB) before any route or authentication runs.
const BODY_ERRORS = {
  413: error("`request body too large`: over 256 KiB. Decided before authentication."),
  415: error(
    "`Content-Type must be application/json`: the request carries a body (`Content-Length` > 0 or `Transfer-Encoding`) whose type is not `application/json` (parameters allowed), or has no type; nothing is applied. Or `unsupported charset` (JSON not in UTF-8), `unsupported content encoding`. Decided before authentication.",
  ),
};
const INTERNAL = { 500: error("`internal error`: logged with the request id, never detailed.") };

export function buildRegistry(): OpenAPIRegistry {
  const registry = new OpenAPIRegistry();

  // ---- Security schemes ----
  registry.registerComponent("securitySchemes", "pat", {
    type: "http",
    scheme: "bearer",
    bearerFormat: "shithub_pat_ + 32 base62",
    description:
      "Personal access token, `Authorization: Bearer <pat>` (or `Authorization: token <pat>`). The scopes an operation needs are listed in its security requirement; `repo:write` implies `repo:read`. A token bound to one repository sees no other.",
  });
  registry.registerComponent("securitySchemes", "patBasic", {
    type: "http",
    scheme: "basic",
    description: "The same personal access token as the Basic-auth password (any user name), as git clients send it.",
  });
  registry.registerComponent("securitySchemes", "runnerRegistrationToken", {
    type: "http",
    scheme: "bearer",
    description: "The site's runner registration secret (`RUNNER_REGISTRATION_TOKEN`); self-registration is off without it.",
  });
  registry.registerComponent("securitySchemes", "runnerToken", {
    type: "http",
    scheme: "bearer",
    bearerFormat: "shithub_runner_ + 40 base62",
    description: "A runner's own token, from registration (or `npm run admin`); stops working when the runner re-registers or is revoked.",
  });
  registry.registerComponent("securitySchemes", "jobToken", {
    type: "http",
    scheme: "bearer",
    bearerFormat: "shithub_job_ + 40 base62",
    description: "The per-job token from a claim: works for its own job only, until it expires, and not after its runner is revoked.",
  });

  // ---- Headers ----
  const hdr = (name: string, description: string, schema: object) => registry.registerComponent("headers", name, { description, schema });
  hdr("X-Request-Id", "This request's id: the caller's `X-Request-Id` when it is 1-200 of `[A-Za-z0-9._:-]`, a new UUID otherwise. Logged by the API and carried to the worker.", { type: "string" });
  hdr("Cache-Control", "`no-store` on every API answer.", { type: "string" });
  hdr("X-RateLimit-Limit", "Requests allowed per hour for this token (or, without valid credentials, this client address).", { type: "integer" });
  hdr("X-RateLimit-Remaining", "Requests left in the current window.", { type: "integer" });
  hdr("X-RateLimit-Reset", "When the window resets, in Unix seconds.", { type: "integer" });
  hdr("Retry-After", "Seconds to wait before retrying.", { type: "integer" });
  hdr("WWW-Authenticate", '`Bearer realm="shithub"` without credentials; `Bearer realm="shithub", error="invalid_token", error_description="<reason>"` for a bad token.', { type: "string" });
  hdr("X-OAuth-Scopes", "The scopes the token holds, comma-separated.", { type: "string" });
  hdr("X-Accepted-OAuth-Scopes", "The scope this operation needs.", { type: "string" });
  hdr("Link", 'RFC 8288 links between pages: `<…?cursor=…>; rel="next"` (absent on the last page), `<…>; rel="first"`.', { type: "string" });

  // ---- Parameters ----
  const RequestIdParam = registry.registerParameter(
    "RequestId",
    z.string().optional().openapi({
      param: { name: "X-Request-Id", in: "header", description: "Optional id for this request, echoed back and logged (1-200 of `[A-Za-z0-9._:-]`; anything else is replaced)." },
    }),
  );
  const IdempotencyKeyParam = registry.registerParameter(
    "IdempotencyKey",
    z.string().regex(IDEMPOTENCY_KEY).optional().openapi({
      param: {
        name: "Idempotency-Key",
        in: "header",
        description: "Any visible ASCII, at most 255 characters. The same key from the same user on the same route within 24 h returns the original answer and changes nothing; the same key with another target is a 422.",
      },
    }),
  );
  const idParam = (name: string, what: string) =>
    registry.registerParameter(
      name,
      z.number().int().positive().max(Number.MAX_SAFE_INTEGER).openapi({
        param: { name: name === "StepId" ? "step_id" : "id", in: "path", description: `${what} id. Anything but a positive decimal integer is treated as an unknown id (404).`, example: 1 },
      }),
    );
  const JobId = idParam("JobId", "Job");
  const RunId = idParam("RunId", "Run");
  const StepId = idParam("StepId", "Step");

  const path = (c: RouteConfig) => {
    const headers = c.request?.headers;
    registry.registerPath({
      ...c,
      request: { ...c.request, headers: [RequestIdParam, ...(Array.isArray(headers) ? headers : [])] },
    });
  };

  // ---- User API ----
  const pat = (scope: string): Record<string, string[]>[] => [{ pat: [scope] }, { patBasic: [scope] }];
  /** An intent's operation as the one table (domain/intents.ts) names it: what the route serves. */
  const intentOp = (name: IntentName, description: string) => {
    const d = INTENTS[name];
    return { method: d.method, path: d.path, operationId: d.operationId, tags: ["Lifecycle"], summary: d.summary, description, security: pat(d.scope) };
  };
  const userErrors = (scope: string, what: "job" | "run" | "repository", write: boolean) => ({
    401: error(
      'No credentials: `unauthenticated`. A malformed, unknown, revoked or expired token, or a suspended owner: `invalid token`, `token revoked`, `token expired`, `account suspended` (with `WWW-Authenticate: Bearer realm="shithub", error="invalid_token"`).',
      { ...CHALLENGE, ...RATE },
    ),
    403: error(
      `\`token lacks required scope: ${scope}\`, decided from the token before anything is looked up` +
        (write ? "; or `write permission required`: the user can read the repository but has no write role, or it is archived." : "."),
      { ...SCOPES, ...RATE },
    ),
    404: error(
      `\`${what} not found\`: no such ${what}, or its repository is one the user cannot read, or the token is bound to another repository. The answer never reveals what exists.`,
      { ...SCOPES, ...RATE },
    ),
    429: error("`rate limit exceeded`: the token's hourly budget (or, without valid credentials, the client address's) is spent.", { ...RETRY, ...RATE }),
  });
  const lifecycleErrors = (what: "job" | "run" | "repository") => ({
    ...userErrors("repo:write", what, true),
    400: error(
      "`malformed JSON body` (before authentication); `body must be a JSON object`, `unknown field: <names>`; `Idempotency-Key must be 1 to 255 visible ASCII characters`.",
      { ...RATE, ...SCOPES },
    ),
    ...BODY_ERRORS,
    503: error(
      "`the worker tier did not answer in time; the request is queued and will be applied` (with `intent_id`, `Retry-After: 5`); `queue unavailable; nothing was applied` (`Retry-After: 2`); `queue unavailable; the request may have been queued, and if so it will be applied` (with `intent_id`, `Retry-After: 5`: retry with the same Idempotency-Key); or `database unavailable; retry later` (`Retry-After: 2`).",
      { ...RETRY, ...RATE, ...SCOPES },
    ),
    500: error("`internal error`; with `intent_id` when the worker failed the intent.", { ...RATE, ...SCOPES }),
  });
  const X = S.REQUEST_EXAMPLES;
  const emptyBody = { required: false, content: { "application/json": { schema: S.EmptyBody, example: X.empty } } };
  const cancelBodyRef = { required: false, content: { "application/json": { schema: S.CancelBody, example: X.cancel } } };

  for (const [name, description] of [
    ["cancel-run",
      "Every queued job ends `cancelled` at once; every running job is marked `cancel_requested` and its runner is signalled after commit. A terminal run answers 202 with `changed_jobs: 0`."],
    ["force-cancel-run",
      "Every open job becomes `cancelled/cancelled` at once; runners are told to kill their containers without a grace period, and a runner's later report for those jobs is accepted (200, `changed: false`) and changes nothing."],
  ] as const) {
    path({
      ...intentOp(name, description),
      request: { params: z.object({ id: RunId }), headers: [IdempotencyKeyParam], body: cancelBodyRef },
      responses: {
        202: json("Accepted: applied by the worker tier.", S.CancelRunResult, { ...RATE, ...SCOPES }),
        ...lifecycleErrors("run"),
        422: error("`Idempotency-Key already used for a different request`.", { ...RATE, ...SCOPES }),
      },
    });
  }

  path({
    ...intentOp("cancel-job",
      "A queued job becomes `cancelled` at once (its open steps too). A running job is marked `cancel_requested` and its runner is signalled after commit; the runner stops the container and reports `cancelled`. A terminal or already cancel-requested job changes nothing (`changed_jobs: 0`), so a retry is safe."),
    request: { params: z.object({ id: JobId }), headers: [IdempotencyKeyParam], body: cancelBodyRef },
    responses: {
      202: json("Accepted: applied by the worker tier.", S.CancelJobResult, { ...RATE, ...SCOPES }),
      ...lifecycleErrors("job"),
      422: error("`Idempotency-Key already used for a different request`.", { ...RATE, ...SCOPES }),
    },
  });

  path({
    ...intentOp("rerun-run",
      "Creates a new run from the workflow source at the original run's `head_sha` and workflow file (never the latest version), with the requesting user as actor, `parent_run_id` set to the source run, the chain's next `attempt`, and the repository's next `run_index`."),
    request: { params: z.object({ id: RunId }), headers: [IdempotencyKeyParam], body: emptyBody },
    responses: {
      201: json("Created: the new run.", S.RerunRunResult, { ...RATE, ...SCOPES }),
      ...lifecycleErrors("run"),
      409: error("`run is not rerunnable` (only completed runs are), `rerun limit reached` (the chain from the original run already has `RERUN_LIMIT` reruns, default 50), or `workflow source unavailable`.", { ...RATE, ...SCOPES }),
      422: error("`workflow source invalid` (invalid YAML or workflow, with `detail`), or `Idempotency-Key already used for a different request`.", { ...RATE, ...SCOPES }),
    },
  });

  const partialRerunConflicts =
    "`run is not rerunnable` (only completed runs are), `rerun limit reached` (the chain from the original run already has `RERUN_LIMIT` reruns, default 50), or `workflow source unavailable`";
  path({
    ...intentOp("rerun-failed-jobs",
      "Creates a new run (`parent_run_id` = the source, next `attempt` of the chain) from the workflow source at the source's `head_sha`. Jobs that ended `completed/success` in the source are carried over as they ended there (`reused: true`, never executed again); every other job (failed, timed out, cancelled, skipped, or missing in the source), and every job that needs one of them, is queued."),
    request: { params: z.object({ id: RunId }), headers: [IdempotencyKeyParam], body: emptyBody },
    responses: {
      201: json("Created: the new run.", S.RerunRunResult, { ...RATE, ...SCOPES }),
      ...lifecycleErrors("run"),
      409: error(`${partialRerunConflicts}, or \`run has no failed jobs\` (every job succeeded).`, { ...RATE, ...SCOPES }),
      422: error("`workflow source invalid` (invalid YAML or workflow, with `detail`), or `Idempotency-Key already used for a different request`.", { ...RATE, ...SCOPES }),
    },
  });

  path({
    ...intentOp("rerun-job",
      "Creates a new run of the job's run in which that job is queued, with every job that needs it (transitively) and the jobs it needs that did not succeed in the source; every other job is carried over with the status and conclusion it had (`reused: true`), failures included. A queued job that needs a carried-over job that did not succeed is skipped at once, as the run would skip it."),
    request: { params: z.object({ id: JobId }), headers: [IdempotencyKeyParam], body: emptyBody },
    responses: {
      201: json("Created: the new run.", S.RerunRunResult, { ...RATE, ...SCOPES }),
      ...lifecycleErrors("job"),
      409: error(`${partialRerunConflicts}.`, { ...RATE, ...SCOPES }),
      422: error("`workflow source invalid` (invalid YAML or workflow, or the job is not in it; with `detail`), or `Idempotency-Key already used for a different request`.", { ...RATE, ...SCOPES }),
    },
  });

  path({
    method: "get",
    path: "/api/v1/runs/{id}",
    operationId: "getRun",
    tags: ["Read"],
    summary: "A run and its jobs",
    security: pat("repo:read"),
    request: { params: z.object({ id: RunId }) },
    responses: { 200: json("The run, with its jobs (without steps).", S.Run, { ...RATE, ...SCOPES }), ...userErrors("repo:read", "run", false), ...INTERNAL },
  });

  path({
    method: "get",
    path: "/api/v1/runs/{id}/timeline",
    operationId: "getRunTimeline",
    tags: ["Read"],
    summary: "Who did what to a run and its jobs",
    description: "Requests (who, with which token, through which route, with which reason and outcome) and every job transition (runner reports, server decisions), oldest first.",
    security: pat("repo:read"),
    request: { params: z.object({ id: RunId }) },
    responses: { 200: json("The run's timeline.", S.Timeline, { ...RATE, ...SCOPES }), ...userErrors("repo:read", "run", false), ...INTERNAL },
  });

  path({
    method: "get",
    path: "/api/v1/jobs/{id}",
    operationId: "getJob",
    tags: ["Read"],
    summary: "A job and its steps",
    security: pat("repo:read"),
    request: { params: z.object({ id: JobId }) },
    responses: { 200: json("The job, with its steps in order.", S.Job, { ...RATE, ...SCOPES }), ...userErrors("repo:read", "job", false), ...INTERNAL },
  });

  path({
    method: "get",
    path: "/api/v1/jobs/{id}/logs",
    operationId: "getJobLogs",
    tags: ["Read"],
    summary: "A job's logs",
    security: pat("repo:read"),
    request: { params: z.object({ id: JobId }) },
    responses: {
      200: {
        description: "Plain text, steps in order, each as `##[group]<step name>` … `##[endgroup]`, each chunk on its own line. A failed step's log ends with the runner's `##[error]Process completed with exit code N.`; a reused job's (carried over by a partial rerun) starts with a `##[notice]` line naming the job it was reused from and that job's log path, since its own steps have no log. Streamed (chunked transfer encoding): a failure part-way cuts the connection instead of ending the body.",
        headers: { ...ALWAYS, ...RATE, ...SCOPES },
        content: { "text/plain": { schema: z.string() } },
      },
      ...userErrors("repo:read", "job", false),
      ...INTERNAL,
    },
  });

  const repoParams = z.object({
    owner: z.string().openapi({ param: { name: "owner", in: "path", description: "The repository owner's login.", example: "demo" } }),
    repo: z.string().openapi({ param: { name: "repo", in: "path", description: "The repository name.", example: "hello" } }),
  });
  path({
    ...intentOp("bulk-cancel",
      "Cancels, as `POST /runs/{id}/cancel` does, every open run of the repository that the filters match (at most `limit`, oldest first): queued jobs end at once, running ones are flagged and their runners signalled after commit. Matching and cancelling happen in the worker, in one transaction with the intent record. `dry_run` is answered by the API from a read: 200, nothing changes, no intent is recorded. Repeats are safe: jobs already ended or flagged change nothing. A JSON body is required: `{}` explicitly means every open run (up to `limit`); a request without a body is refused (400) and changes nothing. A repository that does not exist and one the caller may not see get the same 404 from the same single statement."),
    request: {
      params: repoParams,
      headers: [IdempotencyKeyParam],
      body: { required: true, content: { "application/json": { schema: S.BulkCancelRequest, example: X.bulkCancel } } },
    },
    responses: {
      200: json("Dry run: the runs that match; nothing changed.", S.BulkCancelResult, { ...RATE, ...SCOPES }),
      202: json("Accepted: applied by the worker tier.", S.BulkCancelResult, { ...RATE, ...SCOPES }),
      ...lifecycleErrors("repository"),
      400: error(
        "`malformed JSON body` (before authentication); `a bulk cancel needs a JSON body: send {} to cancel every open run, or filters to narrow it` (no body, or an empty one); `body must be a JSON object`, `unknown field: <names>`, `invalid body: <field>: <problem>; …` (`must not contain NUL characters` for a NUL in `workflow_file`, `head_ref` or `reason`), `invalid path: owner|repo: must not contain NUL characters`; `Idempotency-Key must be 1 to 255 visible ASCII characters`. Nothing is matched or queued.",
        { ...RATE, ...SCOPES },
      ),
      422: error("`Idempotency-Key already used for a different request` (the same key for another repository).", { ...RATE, ...SCOPES }),
    },
  });

  // ---- Lists (docs/api.md, "Lists") ----
  const text = (name: string, description: string, example: string) =>
    z.string().optional().openapi({ param: { name, in: "query", description, example } });
  const listQuery = z.object({
    status: S.RunStatus.optional(),
    conclusion: S.ConclusionSchema.optional(),
    branch: text("branch", "The run's head_ref: `main` and `refs/heads/main` match runs recorded either way.", "main"),
    event: text("event", "The event that started the run.", "push"),
    head_sha: text("head_sha", "The commit (hexadecimal, 4 to 64 characters; compared in lower case).", "1111111111111111111111111111111111111111"),
    actor: text("actor", "The login of the user who started the run.", "alice"),
    created: text("created", "GitHub's syntax: `2026-01-01` (that day, UTC), `>=2026-01-01`, `>2026-01-01`, `<2026-01-01`, `<=2026-01-01`, `2026-01-01..2026-02-01` (both days included; either side may be `*`); RFC 3339 times as well as dates.", ">=2026-01-01"),
    per_page: z.number().int().min(1).max(100).optional().openapi({ param: { name: "per_page", in: "query", description: "Runs per page, 1 to 100 (30 when absent).", example: 30 } }),
    cursor: text("cursor", "Where the page starts: `next_cursor` of the page before (or the `Link` header's `rel=\"next\"`), unchanged.", "MTc5NjEyNjQwMDAwMC40Mi5KbFNadzI5Sw"),
  });
  path({
    method: "get",
    path: "/api/v1/repos/{owner}/{repo}/actions/runs",
    operationId: "listRuns",
    tags: ["Read"],
    summary: "A repository's runs, newest first, a page at a time",
    description:
      "Newest first (created_at descending, then id), filtered, paged by a keyset cursor: runs created while a client pages come before its first page and never shift, repeat or hide the runs it has yet to read. Every page costs the same however many runs the repository has. Each page's `Link` header has `rel=\"first\"` and, unless it is the last, `rel=\"next\"` (RFC 8288; references relative to this service, with the same filters). A repository that does not exist and one the caller may not see get the same 404 from the same single statement.",
    security: pat("repo:read"),
    request: { params: repoParams, query: listQuery },
    responses: {
      200: json("One page of runs, without their jobs.", S.RunsPage, { ...RATE, ...SCOPES, Link: header("Link") }),
      ...userErrors("repo:read", "repository", false),
      400: error("A filter, `per_page` or `cursor` that is not valid, named first: `status: expected one of queued, running, completed; got \"done\"`, `created: the range ends before it starts`, `cursor: not a cursor this API gave out …`, `page: unknown parameter …`, `<name>: give it once, as plain text`. Nothing is read.", { ...RATE, ...SCOPES }),
      ...INTERNAL,
    },
  });

  path({
    method: "get",
    path: "/api/v1/runs/{id}/jobs",
    operationId: "listRunJobs",
    tags: ["Read"],
    summary: "A run's jobs",
    description: "Every job of the run in the workflow file's order, as `GET /runs/{id}` lists them (without steps; `GET /jobs/{id}` has a job's steps). A run has at most a few hundred jobs: one answer, no pages.",
    security: pat("repo:read"),
    request: { params: z.object({ id: RunId }) },
    responses: { 200: json("The run's jobs.", S.JobsOfRun, { ...RATE, ...SCOPES }), ...userErrors("repo:read", "run", false), ...INTERNAL },
  });

  // ---- Live event streams (api/events, docs/event-streams.md) ----
  const lastEventId = {
    query: z.object({
      last_event_id: z.string().regex(/^\d+$/).optional().openapi({ param: { name: "last_event_id", in: "query", description: "As the `Last-Event-ID` header, for clients that cannot send headers; the header wins when both are given (an EventSource reconnecting sends the header and keeps its URL).", example: "1042" } }),
    }),
    headers: [registry.registerParameter("LastEventId", z.string().regex(/^\d+$/).optional().openapi({
      param: { name: "Last-Event-ID", in: "header", description: "The `id` of the last event the client received: the stream resumes with every later event of this stream, none missed and none repeated. A non-negative decimal integer." },
    }))],
  };
  const sse = (what: string): ResponseConfig => ({
    description: `\`text/event-stream\` (with \`Cache-Control: no-store\`, \`X-Accel-Buffering: no\`), each message written as it happens: \`id: <event id>\`, \`event: workflow_job\` or \`workflow_run\`, \`data: <the webhook payload, JSON on one line>\`, a blank line. A \`: keep-alive\` comment every 15 s. ${what} A client that does not read is cut (more than 1 MiB queued for it, or its connection unwritable for 30 s), as are open streams when the API stops: reconnect with \`Last-Event-ID\`.`,
    headers: { ...ALWAYS, ...RATE, ...SCOPES },
    content: { "text/event-stream": { schema: z.string() } },
  });
  const streamErrors = (what: "run" | "repository") => ({
    ...userErrors("repo:read", what, false),
    400: error("`Last-Event-ID must be a non-negative integer (the id of the last event received)` (or `last_event_id …` for the query parameter). Nothing is read.", { ...RATE, ...SCOPES }),
    429: error("`rate limit exceeded` (as for every request), or `too many open event streams: at most 20 per user; close one first` (`Retry-After: 10`): a user's streams over all its tokens are capped per API process.", { ...RETRY, ...RATE, ...SCOPES }),
    503: error("`the API is stopping: reconnect with Last-Event-ID` (`Retry-After: 1`).", { ...RETRY, ...RATE, ...SCOPES }),
    ...INTERNAL,
  });
  path({
    method: "get",
    path: "/api/v1/runs/{id}/events",
    operationId: "streamRunEvents",
    tags: ["Read"],
    summary: "A run's events, live (Server-Sent Events)",
    description:
      "The run's `workflow_job` and `workflow_run` events in the order they were dispatched, as the repository's webhooks get them. Without `Last-Event-ID` the stream starts with the run's first event, so a client that opens it late still sees the whole run. It ends after the run's `workflow_run` `completed` event (a rerun is another run, with a stream of its own). Authorized as `GET /runs/{id}`: a run the caller may not see is a 404.",
    security: pat("repo:read"),
    request: { params: z.object({ id: RunId }), ...lastEventId },
    responses: {
      200: sse("Ends after the run's `workflow_run` `completed` event."),
      204: empty("The client already has the run's `completed` event: nothing more will come (an EventSource does not reconnect after a 204).", { ...RATE, ...SCOPES }),
      ...streamErrors("run"),
    },
  });
  path({
    method: "get",
    path: "/api/v1/repos/{owner}/{repo}/actions/events",
    operationId: "streamRepoEvents",
    tags: ["Read"],
    summary: "A repository's events, live (Server-Sent Events)",
    description:
      "Every `workflow_job` and `workflow_run` event of the repository's runs, in the order they were dispatched. Without `Last-Event-ID` the stream starts now: only events dispatched after it opened. It does not end on its own. A repository that does not exist and one the caller may not see get the same 404.",
    security: pat("repo:read"),
    request: { params: repoParams, ...lastEventId },
    responses: { 200: sse("Does not end on its own."), ...streamErrors("repository") },
  });

  // ---- Runner protocol ----
  const jsonBody = (schema: z.ZodType, required: boolean, example: object) => ({ required, content: { "application/json": { schema, example } } });
  const invalidBody = (more = "") => error(`\`malformed JSON body\`, or \`invalid body: <field>: <problem>; …\`${more}.`);
  const runnerUnauthorized = error("`unauthenticated` (no credentials), `invalid token`, or `runner revoked`.", CHALLENGE);
  const jobUnauthorized = error(
    "`unauthenticated` (no credentials), `invalid token`, `token expired` (past its expiry, or 60 s after the job ended), `token revoked` (its runner registered again), or `runner revoked`.",
    CHALLENGE,
  );
  const jobNotFound = "`job not found`: the path's job is not the token's job";

  path({
    method: "post",
    path: "/api/v1/runners/register",
    operationId: "registerRunner",
    tags: ["Runner protocol"],
    summary: "Register a runner",
    security: [{ runnerRegistrationToken: [] }],
    request: { body: jsonBody(S.RunnerRegistration, true, X.register) },
    responses: {
      201: json("Registered: the runner's token (shown once).", S.RunnerRegistered),
      400: invalidBody(),
      401: error("`unauthenticated` (no credentials), `invalid token` (unreadable Authorization header), or `invalid registration token`.", CHALLENGE),
      403: error("`runner revoked`: a runner of this name was revoked."),
      404: error("`route not found`: self-registration is disabled (no registration secret configured)."),
      409: error("`runner name taken by an operator-registered runner`: the name belongs to a runner registered with `admin runner register`; or `runner <name> is online (a heartbeat within the last 60 s): re-register with its current runner token as current_token, or stop it and retry once it has been silent for 60 s`: a live self-registered runner of that name (compared regardless of case) is not the registration secret's to end. Nothing changed."),
      ...BODY_ERRORS,
      ...INTERNAL,
    },
  });

  path({
    method: "post",
    path: "/api/v1/runners/heartbeat",
    operationId: "runnerHeartbeat",
    tags: ["Runner protocol"],
    summary: "Heartbeat, and claim a job",
    description:
      "Records the heartbeat and, in the same transaction (`FOR UPDATE SKIP LOCKED`), claims the oldest claimable job: queued, not cancel-requested, `runs_on` empty or one of the runner's labels, every `needs` job completed with success, runner neither draining nor revoked and below its capacity. The job moves to `running`, and so does its run.",
    security: [{ runnerToken: [] }],
    request: {
      query: z.object({
        wait: z.string().regex(/^\d{1,2}$/).optional().openapi({ param: { name: "wait", in: "query", description: "Long poll: with nothing to claim, hold the request up to this many seconds (0 to 60; at most half the heartbeat window) until a job this runner could take is queued or unblocked, then claim it; 204 at the end of the wait. 0 or absent: answer at once.", example: "30" } }),
      }),
      body: jsonBody(S.Heartbeat, false, X.heartbeat),
    },
    responses: {
      200: json("A job was claimed: its per-job token and what to run.", S.ClaimedJob),
      204: empty("Nothing claimable (at the end of the wait, when one was asked for)."),
      400: invalidBody(),
      422: error("`wait must be a whole number of seconds from 0 to 60`."),
      401: runnerUnauthorized,
      ...BODY_ERRORS,
      ...INTERNAL,
    },
  });

  path({
    method: "post",
    path: "/api/v1/jobs/{id}/status",
    operationId: "reportJobStatus",
    tags: ["Runner protocol"],
    summary: "Report a job's status",
    description: "Job transitions: `queued|running → running|completed|cancelled`; repeats of the same terminal state are no-ops. A runner may report `completed/success` after a cancel request if it finished first.",
    security: [{ jobToken: [] }],
    request: { params: z.object({ id: JobId }), body: jsonBody(S.StatusReport, true, X.status) },
    responses: {
      200: json("Applied (`changed`), and whether it completed the run.", S.JobReported),
      400: invalidBody(", or `completed needs a conclusion`"),
      401: jobUnauthorized,
      404: error(`${jobNotFound}.`),
      409: error("`job <why>`: the transition is not allowed (a terminal job never changes)."),
      ...BODY_ERRORS,
      ...INTERNAL,
    },
  });

  path({
    method: "post",
    path: "/api/v1/jobs/{id}/steps/{step_id}/status",
    operationId: "reportStepStatus",
    tags: ["Runner protocol"],
    summary: "Report a step's status",
    security: [{ jobToken: [] }],
    request: { params: z.object({ id: JobId, step_id: StepId }), body: jsonBody(S.StatusReport, true, X.status) },
    responses: {
      200: json("Applied, or a repeat (`changed: false`).", S.Changed),
      400: invalidBody(", or `completed needs a conclusion`"),
      401: jobUnauthorized,
      404: error(`${jobNotFound}; or \`step not found\`: no such step in this job.`),
      409: error("`step <why>`: the transition is not allowed."),
      ...BODY_ERRORS,
      ...INTERNAL,
    },
  });

  path({
    method: "post",
    path: "/api/v1/jobs/{id}/logs",
    operationId: "appendJobLog",
    tags: ["Runner protocol"],
    summary: "Append a log chunk to a step",
    description:
      "The chunk is normalised before it is stored and before a retry is compared with it: NUL and unpaired surrogates become U+FFFD. A job stores at most `LOG_MAX_BYTES_PER_JOB` UTF-8 bytes of log over all its steps (checked and counted in one statement, so concurrent appends never pass it); a retry of a stored chunk is a no-op and counts nothing.",
    security: [{ jobToken: [] }],
    request: { params: z.object({ id: JobId }), body: jsonBody(S.LogChunk, true, X.log) },
    responses: {
      200: json("Written, or a retry of a written chunk (`changed: false`).", S.Changed),
      400: invalidBody(),
      401: jobUnauthorized,
      404: error(`${jobNotFound}; or \`step not found\`: no such step in this job.`),
      409: error("`log chunk <seq> already written` with other content (compared after normalisation: a retry of the same chunk is a 200); `job has ended: …` / `step has ended: …`: a new chunk for a job or step that is over (its token still works for a minute, for retried end reports). Nothing stored."),
      ...BODY_ERRORS,
      413: error(
        "`log limit reached`: storing the chunk would take the job's log (all steps) past `LOG_MAX_BYTES_PER_JOB` UTF-8 bytes (default 16 MiB); nothing is stored. Or `request body too large` (over 256 KiB, before authentication).",
      ),
      ...INTERNAL,
    },
  });

  path({
    method: "post",
    path: "/api/v1/jobs/{id}/cancel-check",
    operationId: "cancelCheck",
    tags: ["Runner protocol"],
    summary: "Has the job been cancelled?",
    description:
      "The runner's source of truth for cancels: a cancel signal is only a hint to ask here (and this is also the polling fallback for a lost signal). `cancelled` is true once a cancel was requested or the job is no longer running on the server (cancelled, or ended by the reaper): stop it; `force` when it was force-cancelled. The body is ignored.",
    security: [{ jobToken: [] }],
    request: { params: z.object({ id: JobId }) },
    responses: {
      200: json("Whether the runner should stop the job.", S.CancelCheck),
      400: error("`malformed JSON body`."),
      401: jobUnauthorized,
      404: error(`${jobNotFound}.`),
      ...BODY_ERRORS,
      ...INTERNAL,
    },
  });

  // ---- Operations ----
  path({
    method: "get",
    path: "/healthz",
    operationId: "healthz",
    tags: ["Operations"],
    summary: "Liveness: the process answers",
    security: [],
    responses: { 200: json("Alive.", S.Liveness) },
  });
  path({
    method: "get",
    path: "/readyz",
    operationId: "readyz",
    tags: ["Operations"],
    summary: "Readiness: Postgres and Redis reachable, migrations applied",
    security: [],
    responses: { 200: json("Ready.", S.Readiness), 503: error("`not ready`, with the `reason`: the failing dependency (`postgres unreachable`, `redis unreachable`, `migration <name> not applied`), never a driver's message.") },
  });
  path({
    method: "get",
    path: "/metrics",
    operationId: "metrics",
    tags: ["Operations"],
    summary: "Prometheus metrics",
    description: "Prometheus text exposition format (`actions_…` metrics). Not authenticated: keep it on a network only the scraper reaches.",
    security: [],
    responses: {
      200: { description: "Metrics.", headers: ALWAYS, content: { "text/plain": { schema: z.string() } } },
      ...INTERNAL,
    },
  });

  // ---- This document ----
  path({
    method: "get",
    path: "/openapi.json",
    operationId: "openapi",
    tags: ["Documentation"],
    summary: "This OpenAPI 3.1 document",
    security: [],
    responses: { 200: json("The document.", S.OpenApiDocument) },
  });
  path({
    method: "get",
    path: "/docs",
    operationId: "docs",
    tags: ["Documentation"],
    summary: "The API reference (Swagger UI, served from this service; no external requests)",
    security: [],
    responses: { 200: { description: "An HTML page rendering `/openapi.json`.", headers: ALWAYS, content: { "text/html": { schema: z.string() } } } },
  });
  path({
    method: "get",
    path: "/docs/assets/{file}",
    operationId: "docsAsset",
    tags: ["Documentation"],
    summary: "Scripts, styles and icons of the reference page",
    security: [],
    request: { params: z.object({ file: z.enum(Object.keys(DOCS_ASSETS) as [string, ...string[]]) }) },
    responses: {
      200: {
        description: "The file.",
        headers: ALWAYS,
        content: {
          "text/css": { schema: z.string() },
          "text/javascript": { schema: z.string() },
          "image/png": { schema: { type: "string", contentMediaType: "image/png" } },
        },
      },
      404: error("`route not found`: not one of the page's files."),
    },
  });

  registerGitHub(registry, path, { always: ALWAYS, rate: RATE, scopes: SCOPES, challenge: CHALLENGE, retry: RETRY });
  return registry;
}

const INFO_DESCRIPTION = `PAT-authenticated cancel and rerun of workflow jobs, the read views they need, and the protocol runners use to claim and report jobs.

- All API bodies are JSON (\`application/json; charset=utf-8\`), with \`Cache-Control: no-store\`.
- Errors are \`{"error": "<short message>"}\`; more fields may be added, never fewer.
- Path ids are positive decimal integers; anything else is treated as an unknown id (404).
- Every answer carries \`X-Request-Id\` (the caller's, when well-formed, or a new one).
- JSON request bodies (any route) are parsed before routing and authentication: malformed → 400, over 256 KiB → 413. A POST, PUT, PATCH or DELETE that carries a body must send it as \`application/json\` (any other type, or none, → 415 \`Content-Type must be application/json\`, nothing applied); a POST without a body is fine.
- A string that reaches the database must not contain U+0000 (400 naming the field). Log text is normalised instead: NUL and unpaired surrogates become U+FFFD.
- A path or method not listed here → 404 \`route not found\`.`;

let cached: object | undefined;

/** The document (built once; it does not change while the process runs). */
export function openapiDocument(): object {
  cached ??= new OpenApiGeneratorV31(buildRegistry().definitions).generateDocument({
    openapi: "3.1.0",
    info: { title: "actions-lifecycle", version: "1", description: INFO_DESCRIPTION },
    tags: [
      { name: "Lifecycle", description: "Cancel and rerun (PAT, scope `repo:write`), applied by the worker tier." },
      { name: "Read", description: "Runs, jobs and logs (PAT, scope `repo:read`)." },
      { name: "Runner protocol", description: "For runners: registration, heartbeat and claim, job and step reports, logs, cancel polling." },
      { name: "Operations", description: "Health and metrics." },
      { name: "Documentation", description: "This document and its reference page." },
      { name: GITHUB_TAG, description: "GitHub's Actions REST API (2022-11-28) under `/api/v3`, for Octokit, `gh` and scripts written for GitHub: GitHub's paths, status codes, bodies and error shape (`{\"message\", \"documentation_url\", \"status\"}`), every answer with `X-GitHub-Request-Id`. Mutations are the same intents as the native routes. See docs/github-api.md." },
    ],
  });
  return cached;
}
