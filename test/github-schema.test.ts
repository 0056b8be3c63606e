import { readFileSync } from "node:fs";
import { Ajv } from "ajv";
import { describe, expect, it } from "vitest";
import { buildSubset, loadGitHubDescription, type Source, SUBSET_PATH } from "../scripts/github-openapi-subset.ts";
import { expectGitHubShape, githubErrorSchemaErrors, githubSchemaErrors } from "./setup/github-schema.ts";

// The GitHub schema oracle itself: it must pass what GitHub documents, fail what it does
// not (naming the field), and stay what the script makes from the pinned @octokit/openapi.

const RUN = "GET /repos/{owner}/{repo}/actions/runs/{run_id}";
const JOB = "GET /repos/{owner}/{repo}/actions/jobs/{job_id}";
const API = "https://forge.test/api/v3";
const WHEN = "2026-01-02T03:04:05Z";

let source: Source | undefined;
/** The 13 MB description, parsed once for the two tests that read it. */
function description(): Source {
  source ??= loadGitHubDescription();
  return source;
}

function user(): Record<string, unknown> {
  const u = `${API}/users/octo`;
  return {
    login: "octo", id: 1, node_id: "U_1", avatar_url: "https://forge.test/avatars/octo", gravatar_id: null,
    url: u, html_url: "https://forge.test/octo", followers_url: `${u}/followers`,
    following_url: `${u}/following{/other_user}`, gists_url: `${u}/gists{/gist_id}`,
    starred_url: `${u}/starred{/owner}{/repo}`, subscriptions_url: `${u}/subscriptions`,
    organizations_url: `${u}/orgs`, repos_url: `${u}/repos`, events_url: `${u}/events{/privacy}`,
    received_events_url: `${u}/received_events`, type: "User", site_admin: false,
  };
}

function repository(): Record<string, unknown> {
  const r = `${API}/repos/octo/hello`;
  const urls = Object.fromEntries(
    ["archive", "assignees", "blobs", "branches", "collaborators", "comments", "commits", "compare", "contents",
      "contributors", "deployments", "downloads", "events", "forks", "git_commits", "git_refs", "git_tags", "hooks",
      "issue_comment", "issue_events", "issues", "keys", "labels", "languages", "merges", "milestones",
      "notifications", "pulls", "releases", "stargazers", "statuses", "subscribers", "subscription", "tags",
      "teams", "trees"].map((k) => [`${k}_url`, `${r}/${k}`]),
  );
  return {
    ...urls, id: 7, node_id: "R_7", name: "hello", full_name: "octo/hello", owner: user(), private: false,
    html_url: "https://forge.test/octo/hello", description: null, fork: false, url: r,
  };
}

/** Every field workflow-run requires, and nothing more. */
function workflowRun(): Record<string, unknown> {
  const run = `${API}/repos/octo/hello/actions/runs/42`;
  return {
    id: 42, node_id: "WFR_42", head_branch: "main", run_number: 3, display_title: "Fix the thing",
    event: "push", status: "completed", conclusion: "success", head_sha: "a".repeat(40),
    path: ".github/workflows/ci.yml", workflow_id: 5, url: run, html_url: "https://forge.test/octo/hello/actions/runs/42",
    created_at: WHEN, updated_at: WHEN, head_commit: null, head_repository: repository(), repository: repository(),
    jobs_url: `${run}/jobs`, logs_url: `${run}/logs`, check_suite_url: `${API}/repos/octo/hello/check-suites/9`,
    cancel_url: `${run}/cancel`, rerun_url: `${run}/rerun`, artifacts_url: `${run}/artifacts`,
    workflow_url: `${API}/repos/octo/hello/actions/workflows/5`, pull_requests: [],
  };
}

describe("the GitHub schema oracle", () => {
  it("passes a workflow run with just the required fields", () => {
    expect(githubSchemaErrors(RUN, 200, workflowRun())).toEqual([]);
    expectGitHubShape(RUN, 200, workflowRun());
    expectGitHubShape("GET /repos/{owner}/{repo}/actions/runs", 200, { total_count: 1, workflow_runs: [workflowRun()] });
  });

  it("fails a run missing a required field, naming it", () => {
    const { display_title: _, ...run } = workflowRun();
    expect(githubSchemaErrors(RUN, 200, run)).toEqual(["(body) must have required property 'display_title'"]);
    expect(() => expectGitHubShape(RUN, 200, run)).toThrow(/display_title/);
  });

  it("fails a wrong type and a bad format deep in the body, with its path", () => {
    const run = workflowRun();
    (run.repository as Record<string, unknown>).owner = { ...user(), id: "1" };
    run.created_at = "yesterday";
    expect(githubSchemaErrors(RUN, 200, run)).toEqual([
      '/created_at must match format "date-time" (got "yesterday")',
      '/repository/owner/id must be integer (got "1")',
    ]);
  });

  it("fails a job status outside GitHub's enum, listing the allowed values", () => {
    const errors = githubSchemaErrors(JOB, 200, { ...job(), status: "running" });
    expect(errors).toEqual([
      '/status must be equal to one of the allowed values ["queued","in_progress","completed","waiting","requested","pending"] (got "running")',
    ]);
  });

  it("passes conclusion null where GitHub's nullable enum omits null (the nullable-enum patch)", () => {
    expect(githubSchemaErrors(JOB, 200, { ...job(), conclusion: null })).toEqual([]);
    expect(githubSchemaErrors(RUN, 200, { ...workflowRun(), status: "queued", conclusion: null })).toEqual([]);
    expect(githubSchemaErrors(JOB, 200, { ...job(), conclusion: "ok" })).toHaveLength(1);
  });

  it("checks bodyless and error responses", () => {
    const LOGS = "GET /repos/{owner}/{repo}/actions/runs/{run_id}/logs";
    expect(githubSchemaErrors(LOGS, 302, {})).toEqual([]);
    expect(githubSchemaErrors(LOGS, 302, { url: "x" })).toHaveLength(1);
    const CANCEL = "POST /repos/{owner}/{repo}/actions/runs/{run_id}/cancel";
    expect(githubSchemaErrors(CANCEL, 202, {})).toEqual([]);
    expect(githubSchemaErrors(CANCEL, 202, { ok: true })).toEqual(["(body) must NOT have additional properties (got {\"ok\":true})"]);
    expect(githubSchemaErrors(CANCEL, 409, { message: "Cannot cancel a workflow run that is completed.", documentation_url: "https://docs.github.com/rest" })).toEqual([]);
    expect(githubErrorSchemaErrors({ message: 404 })).toEqual(['/message must be string (got 404)']);
  });

  it("throws on an operation or status the subset does not have", () => {
    expect(() => githubSchemaErrors("GET /repos/{owner}/{repo}/actions/run", 200, {})).toThrow(/unknown GitHub operation/);
    expect(() => githubSchemaErrors("GET /repos/:owner/:repo/actions/runs", 200, {})).toThrow(/unknown GitHub operation/);
    expect(() => githubSchemaErrors(RUN, 404, {})).toThrow(/documents no 404 response \(only 200\)/);
  });

  it("compiles every documented response of the subset under strict ajv", () => {
    const subset = JSON.parse(readFileSync(SUBSET_PATH, "utf8")) as { operations: Record<string, { responses: object }> };
    const pairs = Object.entries(subset.operations).flatMap(([op, o]) => Object.keys(o.responses).map((st) => [op, Number(st)] as const));
    expect(pairs.length).toBeGreaterThanOrEqual(18);
    // Validators compile on first use: asking about each pair compiles every schema, and strict
    // mode throws on any keyword, format or type the patches left unconverted.
    for (const [op, st] of pairs) expect(() => githubSchemaErrors(op, st, undefined), `${op} ${st}`).not.toThrow();
  });

  it("needs the nullable-enum patch: GitHub's own job.conclusion refuses null", () => {
    const raw = description().doc as { components: { schemas: Record<string, { properties: Record<string, unknown> }> } };
    const conclusion = raw.components.schemas.job!.properties.conclusion as { nullable?: boolean; enum?: unknown[] };
    expect(conclusion.nullable).toBe(true);
    expect(conclusion.enum).not.toContain(null);
    // strict: false only here, for the raw OpenAPI 3.0 schema (its `example` is no JSON Schema keyword).
    const ajv = new Ajv({ strict: false });
    expect(ajv.validate(conclusion, null)).toBe(false);
  });

  it("is loaded from the subset the script makes from the installed @octokit/openapi", () => {
    const committed = JSON.parse(readFileSync(SUBSET_PATH, "utf8")) as unknown;
    const fresh = buildSubset(description());
    expect(committed, "test/fixtures/github-openapi-subset.json is stale: run npx tsx scripts/github-openapi-subset.ts").toEqual(fresh);
  });
});

function job(): Record<string, unknown> {
  const j = `${API}/repos/octo/hello/actions/jobs/77`;
  return {
    id: 77, run_id: 42, run_url: `${API}/repos/octo/hello/actions/runs/42`, node_id: "CR_77", head_sha: "a".repeat(40),
    url: j, html_url: null, status: "completed", conclusion: "success", created_at: WHEN, started_at: WHEN,
    completed_at: WHEN, name: "build", check_run_url: `${API}/repos/octo/hello/check-runs/77`, labels: ["ubuntu-latest"],
    runner_id: null, runner_name: null, runner_group_id: null, runner_group_name: null, workflow_name: "ci", head_branch: "main",
  };
}
