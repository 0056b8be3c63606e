import { workflowId, type Attempt, type RepoCard } from "../data/github.ts";
import { repoView, userView, workflowView, type Links } from "../github/views.ts";

// The parts of a webhook payload GitHub's REST shapes (domain/github/views.ts) lack: the full
// repository object, the run's head commit and its workflow. Each field GitHub's webhook
// schema requires, with our value or a stand-in that says why.

export type Person = { id: bigint; login: string; siteAdmin?: boolean };

/**
 * Per repository card and origin, the objects every payload of it repeats (the repository
 * has ~80 URL fields): a dispatcher's batch builds them once, not once per event. Keyed
 * weakly by the card, so a batch's cards take their entries with them. Shared values are
 * only ever spread or serialised, never changed.
 */
const memo = new WeakMap<RepoCard, Map<string, unknown>>();
function remembered<T>(r: RepoCard, key: string, build: () => T): T {
  let m = memo.get(r);
  if (!m) memo.set(r, (m = new Map()));
  if (!m.has(key)) m.set(key, Object.freeze(build()));
  return m.get(key) as T;
}

/** GitHub's webhook `repository`: the REST minimal repository and the fields a full one adds. */
export const webhookRepository = (r: RepoCard, links: Links) => remembered(r, `full ${links.origin}`, () => fullRepository(r, links));

function fullRepository(r: RepoCard, links: Links) {
  const full = `${r.owner.login}/${r.name}`;
  const host = new URL(links.origin).host;
  return {
    ...runRepository(r, links),
    // No git hosting here: the clone URLs are where GitHub's would be, on this host; nothing
    // answers at them (like `avatar_url`, docs/github-api.md), and no git storage has a size.
    clone_url: `${links.origin}/${full}.git`, git_url: `git://${host}/${full}.git`, ssh_url: `git@${host}:${full}.git`,
    svn_url: `${links.origin}/${full}`, mirror_url: null, size: 0,
    // No default branch is kept; "main" is GitHub's default for a new repository.
    default_branch: "main",
    homepage: null, language: null, license: null, topics: [], is_template: false,
    // None of these exist here, so the counts are true zeros and the features are off.
    forks: 0, forks_count: 0, open_issues: 0, open_issues_count: 0, stargazers_count: 0, watchers: 0, watchers_count: 0,
    has_issues: false, has_projects: false, has_wiki: false, has_pages: false, has_downloads: false, has_discussions: false,
    disabled: false,
    // No push times nor repository updates are recorded (the schema allows null for both).
    created_at: r.createdAt.toISOString(), updated_at: null, pushed_at: null,
  };
}

/**
 * The run's head commit. No commits are kept (docs/github-api.md), but the webhook requires
 * one: the head sha, which is also a valid tree-ish for `tree_id` (git resolves a commit to
 * its tree); no message (none is kept); the run's creation as its time; the person who
 * started the run (else the repository's owner) as author and committer, with no email.
 */
export function headCommit(latest: Attempt, repo: RepoCard) {
  const who = latest.actor ?? repo.owner;
  const person = { name: who.login, email: null, username: who.login };
  return { id: latest.headSha, tree_id: latest.headSha, message: "", timestamp: latest.createdAt.toISOString(), author: person, committer: person };
}

/**
 * The run's workflow object. The REST /workflows read dates a workflow by its pushed files;
 * an event has only the chain, so it is dated by the chain's first run and its latest attempt.
 */
export function runWorkflow(original: Attempt, latest: Attempt, repo: RepoCard, links: Links) {
  return workflowView({
    id: workflowId(repo.id, original.workflowFile), path: original.workflowFile, name: latest.workflowName,
    createdAt: original.createdAt, updatedAt: latest.createdAt,
  }, links);
}

/**
 * A user as webhooks have it: the REST user, with `gravatar_id` "" (no gravatar), as GitHub
 * sends it; the workflow_run schema's users want a string where REST allows null.
 */
export const webhookUser = (u: Person, links: Links) => ({ ...userView(u, links.origin), gravatar_id: "" });

/** The webhook's required `sender`: who caused the event, else the repository's owner. */
export const senderView = (sender: Person | null, repo: RepoCard, links: Links) => webhookUser(sender ?? repo.owner, links);

/** A user GitHub's webhook requires present, `null` when there is none. */
export const userOrNull = (u: Person | null, links: Links) => (u === null ? null : webhookUser(u, links));

/** The run's `repository` and `head_repository`: the minimal repository, its owner a webhook user. */
export const runRepository = (r: RepoCard, links: Links) =>
  remembered(r, `run ${links.origin}`, () => ({ ...repoView(r, links), owner: webhookUser(r.owner, links) }));
