import { num } from "../ids.ts";
import type { JobRow } from "../data/reads.ts";
import { workflowId, type Attempt, type RepoCard, type StepOf, type Workflow } from "../data/github.ts";

// Our model in GitHub's shapes (REST API 2022-11-28), as docs/github-api.md maps it: each
// field GitHub's schema requires, with our value or the stand-in that doc names.

const iso = (d: Date | null) => (d === null ? null : d.toISOString());

/** GitHub's run statuses: ours are its queued, in_progress and completed. */
export function runStatus(s: string): "queued" | "in_progress" | "completed" {
  return s === "running" ? "in_progress" : s === "completed" ? "completed" : "queued";
}

/**
 * A job or step: GitHub has no cancelled or skipped status, those are completed with that
 * conclusion (ours leaves the conclusion empty for them).
 */
export function jobState(status: string, conclusion: string | null): { status: "queued" | "in_progress" | "completed"; conclusion: string | null } {
  switch (status) {
    case "running": return { status: "in_progress", conclusion: null };
    case "queued": return { status: "queued", conclusion: null };
    case "cancelled": return { status: "completed", conclusion: conclusion ?? "cancelled" };
    case "skipped": return { status: "completed", conclusion: conclusion ?? "skipped" };
    default: return { status: "completed", conclusion };
  }
}

/** GitHub's refs are branch names in `head_branch`. */
export const branchOf = (ref: string) => ref.replace(/^refs\/heads\//, "");

const nodeId = (kind: string, id: bigint | number) => Buffer.from(`${kind}:${id}`).toString("base64url");

/** Where the views point: this service's own URLs (`api` is the /api/v3 base). */
export class Links {
  readonly api: string;
  constructor(readonly origin: string, readonly repo: { owner: string; name: string }) {
    this.api = `${origin}/api/v3`;
  }
  get repoApi() { return `${this.api}/repos/${this.repo.owner}/${this.repo.name}`; }
  run(id: bigint) { return `${this.repoApi}/actions/runs/${id}`; }
  job(id: bigint) { return `${this.repoApi}/actions/jobs/${id}`; }
  workflow(id: number) { return `${this.repoApi}/actions/workflows/${id}`; }
  // No web pages of our own: `html_url`s point at the native API's views of the same thing.
  runPage(id: bigint) { return `${this.origin}/api/v1/runs/${id}`; }
  jobPage(id: bigint) { return `${this.origin}/api/v1/jobs/${id}`; }
  repoPage() { return `${this.origin}/api/v1/repos/${this.repo.owner}/${this.repo.name}/actions/runs`; }
}

export function userView(u: { id: bigint; login: string; siteAdmin?: boolean }, origin: string) {
  const url = `${origin}/api/v3/users/${u.login}`;
  return {
    // No avatars here: the URL GitHub requires names one this service would serve, and it answers 404.
    login: u.login, id: num(u.id), node_id: nodeId("U", u.id), avatar_url: `${url}/avatar`, gravatar_id: null, url, html_url: url,
    followers_url: `${url}/followers`, following_url: `${url}/following{/other_user}`, gists_url: `${url}/gists{/gist_id}`,
    starred_url: `${url}/starred{/owner}{/repo}`, subscriptions_url: `${url}/subscriptions`, organizations_url: `${url}/orgs`,
    repos_url: `${url}/repos`, events_url: `${url}/events{/privacy}`, received_events_url: `${url}/received_events`,
    type: "User", site_admin: u.siteAdmin ?? false,
  };
}

// GitHub's minimal-repository requires ~40 URL templates; each points under the repository's
// API URL as GitHub's do, though only the Actions routes answer here.
const REPO_URLS = [
  "archive_url:/{archive_format}{/ref}", "assignees_url:/assignees{/user}", "blobs_url:/git/blobs{/sha}", "branches_url:/branches{/branch}",
  "collaborators_url:/collaborators{/collaborator}", "comments_url:/comments{/number}", "commits_url:/commits{/sha}",
  "compare_url:/compare/{base}...{head}", "contents_url:/contents/{+path}", "contributors_url:/contributors", "deployments_url:/deployments",
  "downloads_url:/downloads", "events_url:/events", "forks_url:/forks", "git_commits_url:/git/commits{/sha}", "git_refs_url:/git/refs{/sha}",
  "git_tags_url:/git/tags{/sha}", "hooks_url:/hooks", "issue_comment_url:/issues/comments{/number}", "issue_events_url:/issues/events{/number}",
  "issues_url:/issues{/number}", "keys_url:/keys{/key_id}", "labels_url:/labels{/name}", "languages_url:/languages", "merges_url:/merges",
  "milestones_url:/milestones{/number}", "notifications_url:/notifications{?since,all,participating}", "pulls_url:/pulls{/number}",
  "releases_url:/releases{/id}", "stargazers_url:/stargazers", "statuses_url:/statuses/{sha}", "subscribers_url:/subscribers",
  "subscription_url:/subscription", "tags_url:/tags", "teams_url:/teams", "trees_url:/git/trees{/sha}",
].map((e) => e.split(":") as [string, string]);

export function repoView(r: RepoCard, links: Links) {
  const url = links.repoApi;
  return {
    id: num(r.id), node_id: nodeId("R", r.id), name: r.name, full_name: `${r.owner.login}/${r.name}`,
    owner: userView(r.owner, links.origin), private: r.private, html_url: links.repoPage(), description: null, fork: false, url,
    ...Object.fromEntries(REPO_URLS.map(([k, suffix]) => [k, `${url}${suffix}`])),
    archived: r.archived, visibility: r.private ? "private" : "public",
  };
}

/** A GitHub run: the chain's original gives its id, number and creation; its latest attempt the rest. */
export function runView(original: Attempt, latest: Attempt, repo: RepoCard, links: Links) {
  const id = original.id;
  const url = links.run(id);
  const wid = workflowId(repo.id, original.workflowFile);
  const repository = repoView(repo, links);
  return {
    id: num(id), name: latest.workflowName, node_id: nodeId("WFR", id), check_suite_id: num(latest.id),
    check_suite_node_id: nodeId("CS", latest.id), head_branch: branchOf(latest.headRef), head_sha: latest.headSha,
    path: original.workflowFile, display_title: latest.workflowName, run_number: original.runIndex, event: latest.event,
    status: runStatus(latest.status), conclusion: latest.status === "completed" ? latest.conclusion : null,
    workflow_id: wid, url, html_url: links.runPage(latest.id), pull_requests: [],
    created_at: original.createdAt.toISOString(), updated_at: latest.updatedAt.toISOString(),
    actor: original.actor ? userView(original.actor, links.origin) : undefined,
    triggering_actor: latest.actor ? userView(latest.actor, links.origin) : undefined,
    run_attempt: latest.attempt, referenced_workflows: [],
    run_started_at: (latest.startedAt ?? latest.createdAt).toISOString(),
    jobs_url: `${url}/jobs`, logs_url: `${url}/logs`, check_suite_url: `${links.repoApi}/check-suites/${latest.id}`,
    artifacts_url: `${url}/artifacts`, cancel_url: `${url}/cancel`, rerun_url: `${url}/rerun`,
    previous_attempt_url: latest.attempt > 1 ? `${url}/attempts/${latest.attempt - 1}` : null,
    workflow_url: links.workflow(wid), head_commit: null, repository, head_repository: repository,
  };
}

export interface JobContext {
  /** The attempt the job belongs to, and the chain's original (GitHub's run id). */
  attempt: Attempt;
  originalId: bigint;
  steps: readonly StepOf[];
  runnerName: string | null;
}

export function jobView(j: JobRow, c: JobContext, links: Links) {
  const state = jobState(j.status, j.conclusion);
  return {
    id: num(j.id), run_id: num(c.originalId), run_url: links.run(c.originalId), run_attempt: c.attempt.attempt,
    node_id: nodeId("J", j.id), head_sha: c.attempt.headSha, url: links.job(j.id), html_url: links.jobPage(j.id),
    ...state, created_at: j.createdAt.toISOString(),
    // GitHub's schema requires a start: a job not yet started shows when it was queued.
    started_at: (j.startedAt ?? j.createdAt).toISOString(), completed_at: iso(j.completedAt),
    name: j.name, steps: c.steps.map((s) => ({ name: s.name, ...jobState(s.status, s.conclusion), number: s.number, started_at: iso(s.startedAt), completed_at: iso(s.completedAt) })),
    check_run_url: `${links.repoApi}/check-runs/${j.id}`, labels: j.runsOn === "" ? [] : [j.runsOn],
    runner_id: num(j.runnerId), runner_name: c.runnerName, runner_group_id: null, runner_group_name: null,
    workflow_name: c.attempt.workflowName, head_branch: branchOf(c.attempt.headRef),
  };
}

export function workflowView(w: Workflow, links: Links) {
  const url = links.workflow(w.id);
  return {
    id: w.id, node_id: nodeId("W", w.id), name: w.name, path: w.path, state: "active",
    created_at: w.createdAt.toISOString(), updated_at: w.updatedAt.toISOString(),
    url, html_url: links.repoPage(), badge_url: `${url}/badge.svg`,
  };
}
