import type { Scope } from "../../domain/scopes.ts";

// The GitHub REST operations /api/v3 serves (docs/github-api.md), one row each: the routes
// (api/v3/*.ts) and the reference page (/docs, tag "GitHub-compatible REST") both read it,
// so an operation cannot be served under one path and documented under another. Paths and
// operation ids are GitHub's (REST API 2022-11-28), below /api/v3.

export interface GitHubOperation {
  method: "get" | "post" | "patch" | "delete";
  /** GitHub's path template, without the /api/v3 prefix. */
  path: string;
  /** GitHub's operation id, as its OpenAPI description and Octokit name it. */
  operationId: string;
  summary: string;
  scope: Scope;
  /** The success status and GitHub's schema component of its body: `x list` a page of them, `x[]` an array. */
  ok: { status: 200 | 201 | 202 | 204 | 302; schema: string };
}

const get = (path: string, operationId: string, summary: string, schema: string): GitHubOperation =>
  ({ method: "get", path, operationId, summary, scope: "repo:read", ok: { status: 200, schema } });
const post = (path: string, operationId: string, summary: string, status: 201 | 202): GitHubOperation =>
  ({ method: "post", path, operationId, summary, scope: "repo:write", ok: { status, schema: "empty-object" } });
const redirect = (path: string, operationId: string, summary: string): GitHubOperation =>
  ({ method: "get", path, operationId, summary, scope: "repo:read", ok: { status: 302, schema: "" } });

const R = "/repos/{owner}/{repo}/actions";

export const GITHUB_OPERATIONS = {
  listRuns: get(`${R}/runs`, "actions/list-workflow-runs-for-repo", "List a repository's workflow runs", "workflow-run list"),
  getRun: get(`${R}/runs/{run_id}`, "actions/get-workflow-run", "Get a workflow run (its latest attempt)", "workflow-run"),
  getAttempt: get(`${R}/runs/{run_id}/attempts/{attempt_number}`, "actions/get-workflow-run-attempt", "Get a workflow run attempt", "workflow-run"),
  listJobs: get(`${R}/runs/{run_id}/jobs`, "actions/list-jobs-for-workflow-run", "List the jobs of a run (`filter=latest|all`)", "job list"),
  listAttemptJobs: get(`${R}/runs/{run_id}/attempts/{attempt_number}/jobs`, "actions/list-jobs-for-workflow-run-attempt", "List the jobs of a run attempt", "job list"),
  getJob: get(`${R}/jobs/{job_id}`, "actions/get-job-for-workflow-run", "Get a job", "job"),
  cancel: post(`${R}/runs/{run_id}/cancel`, "actions/cancel-workflow-run", "Cancel a workflow run", 202),
  forceCancel: post(`${R}/runs/{run_id}/force-cancel`, "actions/force-cancel-workflow-run", "Force-cancel a workflow run", 202),
  rerun: post(`${R}/runs/{run_id}/rerun`, "actions/re-run-workflow", "Rerun a workflow run", 201),
  rerunFailed: post(`${R}/runs/{run_id}/rerun-failed-jobs`, "actions/re-run-workflow-failed-jobs", "Rerun the failed jobs of a workflow run", 201),
  rerunJob: post(`${R}/jobs/{job_id}/rerun`, "actions/re-run-job-for-workflow-run", "Rerun a job and what depends on it", 201),
  jobLogs: redirect(`${R}/jobs/{job_id}/logs`, "actions/download-job-logs-for-workflow-run", "Download a job's log (302 to a signed link)"),
  runLogs: redirect(`${R}/runs/{run_id}/logs`, "actions/download-workflow-run-logs", "Download a run's logs as a zip (302 to a signed link)"),
  attemptLogs: redirect(`${R}/runs/{run_id}/attempts/{attempt_number}/logs`, "actions/download-workflow-run-attempt-logs", "Download a run attempt's logs as a zip (302 to a signed link)"),
  listWorkflows: get(`${R}/workflows`, "actions/list-repo-workflows", "List a repository's workflows", "workflow list"),
  getWorkflow: get(`${R}/workflows/{workflow_id}`, "actions/get-workflow", "Get a workflow by id or file name", "workflow"),
  listWorkflowRuns: get(`${R}/workflows/{workflow_id}/runs`, "actions/list-workflow-runs", "List a workflow's runs", "workflow-run list"),
  listArtifacts: get(`${R}/runs/{run_id}/artifacts`, "actions/list-workflow-run-artifacts", "List a run's artifacts (none are kept here)", "artifact list"),
  listAnnotations: get("/repos/{owner}/{repo}/check-runs/{check_run_id}/annotations", "checks/list-annotations", "List a job's check-run annotations (none are kept here)", "check-annotation[]"),
} as const satisfies Record<string, GitHubOperation>;

export type GitHubOperationName = keyof typeof GITHUB_OPERATIONS;

const H = "/repos/{owner}/{repo}/hooks";
const hook = (method: GitHubOperation["method"], path: string, operationId: string, summary: string, status: 200 | 201 | 202 | 204, schema: string): GitHubOperation =>
  ({ method, path, operationId, summary, scope: "admin:repo_hook", ok: { status, schema } });

/**
 * GitHub's repository webhooks (api/v3/hooks.ts): the native hooks' data and checks, with
 * admin:repo_hook and the repository's admin role. A table of their own because the
 * Actions table's consumers assume repo:read/repo:write (the permission matrix of
 * test/github-octokit.test.ts, the reference page's error texts); not on the reference
 * page yet, as the native hook routes are not either.
 */
export const GITHUB_HOOK_OPERATIONS = {
  listHooks: hook("get", H, "repos/list-webhooks", "List a repository's webhooks", 200, "hook[]"),
  createHook: hook("post", H, "repos/create-webhook", "Create a repository webhook", 201, "hook"),
  getHook: hook("get", `${H}/{hook_id}`, "repos/get-webhook", "Get a repository webhook", 200, "hook"),
  updateHook: hook("patch", `${H}/{hook_id}`, "repos/update-webhook", "Update a repository webhook", 200, "hook"),
  deleteHook: hook("delete", `${H}/{hook_id}`, "repos/delete-webhook", "Delete a repository webhook", 204, ""),
  listDeliveries: hook("get", `${H}/{hook_id}/deliveries`, "repos/list-webhook-deliveries", "List a webhook's deliveries, newest first", 200, "hook-delivery-item[]"),
  getDelivery: hook("get", `${H}/{hook_id}/deliveries/{delivery_id}`, "repos/get-webhook-delivery", "Get a delivery", 200, "hook-delivery"),
  redeliver: hook("post", `${H}/{hook_id}/deliveries/{delivery_id}/attempts`, "repos/redeliver-webhook-delivery", "Redeliver a delivery", 202, "empty-object"),
} as const satisfies Record<string, GitHubOperation>;

export const hookRoute = Object.fromEntries(
  Object.entries(GITHUB_HOOK_OPERATIONS).map(([k, op]) => [k, routeOf(op)]),
) as Record<keyof typeof GITHUB_HOOK_OPERATIONS, string>;

/** The router's form of an operation's path: `/api/v3` + GitHub's path with `{x}` as `:x`. */
export function routeOf(op: GitHubOperation): string {
  return `/api/v3${op.path.replace(/\{(\w+)\}/g, ":$1")}`;
}

/** Each operation's router path, from the one table of them. */
export const route = Object.fromEntries(
  Object.entries(GITHUB_OPERATIONS).map(([k, op]) => [k, routeOf(op)]),
) as Record<GitHubOperationName, string>;

/** The signed log links the redirects point at (api/v3/log-links.ts): served without a token, documented as such. */
export const LOG_LINK_ROUTES = {
  job: "/api/v3/_logs/jobs/{id}",
  run: "/api/v3/_logs/runs/{id}.zip",
} as const;
