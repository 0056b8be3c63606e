import type { OpenAPIRegistry, ResponseConfig, RouteConfig } from "@asteasolutions/zod-to-openapi";
import { z } from "zod";
import { GITHUB_OPERATIONS, LOG_LINK_ROUTES, type GitHubOperation } from "../v3/operations.ts";
import { GRAPHQL_PATH } from "../v3/gh.ts";

// The /api/v3 operations in the reference page, tag "GitHub-compatible REST", from the
// table the routes are built from (api/v3/operations.ts). Their bodies are GitHub's own
// schemas (api.github.com's OpenAPI description, REST API 2022-11-28): named here and
// linked, not restated; docs/github-api.md says how each field is filled.

export const GITHUB_TAG = "GitHub-compatible REST";
const REST_DOCS = "https://docs.github.com/rest/actions";

const GitHubError = z.object({
  message: z.string(),
  documentation_url: z.string(),
  status: z.string().openapi({ description: "The HTTP status, as a string (GitHub's form)." }),
}).openapi("GitHubError", { description: "GitHub's error body (`basic-error`); details such as `intent_id` may be added beside it." });

const githubBody = (component: string) =>
  z.looseObject({}).openapi({ description: `GitHub's \`${component}\` schema (${REST_DOCS}); docs/github-api.md maps each field.` });

type Headers = Record<string, { $ref: string }>;
/** The shared headers' components (document.ts): what every answer, a token's answer, a page carries. */
export interface GitHubHeaders { always: Headers; rate: Headers; scopes: Headers; challenge: Headers; retry: Headers; link?: Headers }

const err = (H: GitHubHeaders, description: string, headers: Headers = {}): ResponseConfig =>
  ({ description, headers: { ...H.always, ...headers }, content: { "application/json": { schema: GitHubError } } });

const PARAM_DOCS: Record<string, string> = {
  owner: "The repository owner's login.",
  repo: "The repository name.",
  run_id: "A GitHub run id: the id of the rerun chain's original run.",
  attempt_number: "The attempt: 1 is the original run, n the chain's n-th run.",
  job_id: "A job id (ours).",
  workflow_id: "A workflow's id (derived from its file) or its file name (`ci.yml`).",
  check_run_id: "A job id: a job is its check run here.",
};

const PARAM_EXAMPLES: Record<string, string> = { owner: "alice", repo: "demo", workflow_id: "ci.yml" };

function params(path: string) {
  const names = [...path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]!);
  return z.object(Object.fromEntries(names.map((n) => [n, z.string().openapi({ param: { name: n, in: "path", description: PARAM_DOCS[n] ?? n, example: PARAM_EXAMPLES[n] ?? "1" } })])));
}

function okResponse(op: GitHubOperation, H: GitHubHeaders): ResponseConfig {
  if (op.ok.status === 302) {
    return { description: "Found: `Location` is a signed link of this service to the log, valid for 60 s, which needs no token.", headers: { ...H.always, ...H.rate, ...H.scopes, Location: { $ref: "#/components/headers/Location" } } };
  }
  if (op.ok.schema.endsWith("[]")) {
    const item = op.ok.schema.slice(0, -2);
    return { description: `An array of GitHub's \`${item}\`.`, headers: { ...H.always, ...H.rate, ...H.scopes }, content: { "application/json": { schema: z.array(githubBody(item)) } } };
  }
  const what = op.ok.schema.endsWith(" list") ? `a page of GitHub's \`${op.ok.schema.replace(" list", "")}\` objects with \`total_count\`` : `GitHub's \`${op.ok.schema}\``;
  const paged = op.ok.schema.endsWith(" list") ? H.link ?? {} : {};
  return { description: `${what}.`, headers: { ...H.always, ...H.rate, ...H.scopes, ...paged }, content: { "application/json": { schema: githubBody(op.ok.schema) } } };
}

function errors(op: GitHubOperation, H: GitHubHeaders): Record<number, ResponseConfig> {
  const write = op.method === "post";
  const known = { ...H.rate, ...H.scopes };
  const out: Record<number, ResponseConfig> = {
    401: err(H, "No token, or a token that is malformed, unknown, revoked or expired (`token` or `Bearer` scheme).", { ...H.challenge, ...H.rate }),
    403: err(H, `\`token lacks required scope: ${op.scope}\`${write ? ", or `write permission required`" : ""}.`, known),
    404: err(H, "No such repository, run, attempt, job or workflow, or one the caller may not see: the same answer.", known),
    429: err(H, "`rate limit exceeded`: the token's hourly budget is spent.", { ...H.retry, ...H.rate }),
    500: err(H, "`internal error`: logged with the request id.", known),
  };
  if (write) {
    out[409] = err(H, "Cancelling a run that has ended (`Cannot cancel a workflow run that is completed.`), or a rerun the run does not allow.", known);
    out[422] = err(H, "A body GitHub would refuse, or an `Idempotency-Key` reused for another request.", known);
    out[503] = err(H, "The worker tier did not answer in time, or the queue is unavailable (with `Retry-After`).", { ...known, ...H.retry });
  }
  if (op.ok.schema.endsWith(" list")) out[422] = err(H, "A filter or page value GitHub would refuse.", known);
  return out;
}

export function registerGitHub(registry: OpenAPIRegistry, path: (c: RouteConfig) => void, headers: GitHubHeaders): void {
  registry.registerComponent("headers", "Location", { description: "Where the answer is.", schema: { type: "string" } });
  registry.registerComponent("headers", "X-GitHub-Request-Id", { description: "This request's id (the same as `X-Request-Id`), as GitHub names it.", schema: { type: "string" } });
  registry.registerComponent("headers", "GitHubLink", {
    description: 'GitHub\'s page links, absolute: `rel="next"` and `rel="last"` while pages follow, `rel="first"` and `rel="prev"` after the first.',
    schema: { type: "string" },
  });
  const H: GitHubHeaders = { ...headers, always: { ...headers.always, "X-GitHub-Request-Id": { $ref: "#/components/headers/X-GitHub-Request-Id" } }, link: { Link: { $ref: "#/components/headers/GitHubLink" } } };
  const pat = (scope: string): Record<string, string[]>[] => [{ pat: [scope] }, { patBasic: [scope] }];
  for (const op of Object.values(GITHUB_OPERATIONS)) {
    path({
      method: op.method, path: `/api/v3${op.path}`, operationId: `github/${op.operationId}`, tags: [GITHUB_TAG], summary: op.summary,
      description: `GitHub's [\`${op.operationId}\`](${REST_DOCS}), on this service's data.${op.method === "post" ? " The same intent, worker, `Idempotency-Key` and permission rules as the /api/v1 route; answered with GitHub's empty body." : ""}`,
      security: pat(op.scope), request: { params: params(op.path) },
      responses: { [op.ok.status]: okResponse(op, H), ...errors(op, H) },
    });
  }
  path({
    method: "post", path: GRAPHQL_PATH, operationId: "github/graphql", tags: [GITHUB_TAG], summary: "GitHub's GraphQL endpoint, for the one query gh's run commands send",
    description: "Answers `PullRequestForRun` (which pull request a run's branch belongs to: none here, so `nodes: []`) exactly as `gh run view` sends it; any other document gets a GraphQL error (200 with `errors`), and a repository the token may not see gets GitHub's NOT_FOUND error.",
    security: pat("repo:read"),
    request: { body: { required: true, content: { "application/json": { schema: z.object({ query: z.string(), variables: z.record(z.string(), z.unknown()).optional() }), example: { query: "query PullRequestForRun(…) { … }", variables: { owner: "alice", repo: "demo", headRefName: "main" } } } } } },
    responses: {
      200: { description: "GraphQL's `{data}` or `{errors}`.", headers: { ...H.always, ...H.rate, ...H.scopes }, content: { "application/json": { schema: z.looseObject({}) } } },
      401: err(H, "No token, or a token that is not valid.", { ...H.challenge, ...H.rate }),
      403: err(H, "`token lacks required scope: repo:read`.", { ...H.rate, ...H.scopes }),
      429: err(H, "`rate limit exceeded`.", { ...H.retry, ...H.rate }),
    },
  });
  for (const [kind, p] of Object.entries(LOG_LINK_ROUTES)) {
    path({
      method: "get", path: p, operationId: `github/signed-${kind}-log`, tags: [GITHUB_TAG], security: [],
      summary: kind === "job" ? "A job's log, by signed link" : "A run attempt's logs as a zip, by signed link",
      description: "Where the log redirects point. The `signature` (an HMAC over what the link names and `expires`) is the credential: no token is needed, and a link works only for what it names, until it expires.",
      request: {
        params: z.object({ id: z.string().openapi({ param: { name: "id", in: "path", description: kind === "job" ? "The job id." : "The run attempt's id (ours).", example: "1" } }) }),
        query: z.object({
          expires: z.string().openapi({ param: { name: "expires", in: "query", description: "Unix seconds.", example: "1767225600" } }),
          signature: z.string().openapi({ param: { name: "signature", in: "query", description: "The link's HMAC.", example: "c2lnbmF0dXJl" } }),
        }),
      },
      responses: {
        200: kind === "job"
          ? { description: "The log as text, as GET /api/v1/jobs/{id}/logs serves it.", headers: H.always, content: { "text/plain": { schema: z.string() } } }
          : { description: "A zip with one file per step: `<job name>/<step number>_<step name>.txt`.", headers: H.always, content: { "application/zip": { schema: z.string().openapi({ format: "binary" }) } } },
        403: err(H, "`this log link has expired; ask for the log again`, or `not a log link this service gave out`."),
      },
    });
  }
}
