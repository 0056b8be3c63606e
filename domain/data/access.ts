import { perVariant, query, type Sql } from "../../infra/sql.ts";
import { render, sql as q, type Fragment } from "../../infra/sqlf.ts";
import { assertNever } from "../../infra/assert.ts";

// Every API request asks these two questions first (who is this token, may it touch that
// repository), so they are one plain SQL statement each rather than ORM queries.

export interface AuthedToken {
  id: bigint;
  userId: bigint;
  scopes: string[];
  repoId: bigint | null;
  expiresAt: Date | null;
  revokedAt: Date | null;
  lastUsedAt: Date | null;
  user: { id: bigint; login: string; suspendedAt: Date | null; isSiteAdmin: boolean };
}

interface TokenRow {
  id: string;
  user_id: string;
  scopes: string[];
  repo_id: string | null;
  expires_ms: number | null;
  revoked_ms: number | null;
  last_used_ms: number | null;
  login: string;
  suspended_ms: number | null;
  is_site_admin: boolean;
}

const ms = (c: string) => q.raw(`(extract(epoch FROM ${c}) * 1000)::float8`);
const date = (v: number | null) => (v === null ? null : new Date(v));

/** A token is looked up by its hash (a request) or by its id (a worker re-checking an intent). */
type TokenBy = "hash" | "id";
const tokenWhere = (by: TokenBy, key: string) => (by === "hash" ? q`t.token_hash = ${key}::text` : q`t.id = ${key}::bigint`);

const tokenSql = (by: TokenBy, key: string) => q`
  SELECT t.id::text, t.user_id::text, t.scopes, t.repo_id::text, ${ms("t.expires_at")} AS expires_ms, ${ms("t.revoked_at")} AS revoked_ms,
    ${ms("t.last_used_at")} AS last_used_ms, u.login, ${ms("u.suspended_at")} AS suspended_ms, u.is_site_admin
  FROM personal_access_tokens t JOIN users u ON u.id = t.user_id WHERE ${tokenWhere(by, key)}`;
export const tokenByHashSql = (hash: string) => tokenSql("hash", hash);

export async function findTokenByHash(sql: Sql, hash: string): Promise<AuthedToken | null> {
  const [r] = await query<TokenRow>(sql, tokenByHashSql(hash));
  return r ? tokenOf(r) : null;
}

function tokenOf(r: TokenRow): AuthedToken {
  return {
    id: BigInt(r.id), userId: BigInt(r.user_id), scopes: r.scopes, repoId: r.repo_id === null ? null : BigInt(r.repo_id),
    expiresAt: date(r.expires_ms), revokedAt: date(r.revoked_ms), lastUsedAt: date(r.last_used_ms),
    user: { id: BigInt(r.user_id), login: r.login, suspendedAt: date(r.suspended_ms), isSiteAdmin: r.is_site_admin },
  };
}

export type Access = "none" | "read" | "write";

const WRITE_ROLES = new Set(["write", "maintain", "admin"]);

export interface RepoFacts {
  repo_id: string;
  owner_id: string;
  visibility: string;
  is_archived: boolean;
  deleted: boolean;
  /** The token user's collaborator role, if any. */
  role: string | null;
}

/**
 * What a token's user may do on a repository. "none" hides the repository entirely
 * (deleted, private without a role, or the token is bound to another repository).
 */
export function accessOf(token: AuthedToken, repo: RepoFacts | undefined): Access {
  if (!repo || repo.deleted) return "none";
  if (token.repoId !== null && token.repoId !== BigInt(repo.repo_id)) return "none";
  const role = BigInt(repo.owner_id) === token.userId ? "admin" : repo.role;
  if (role === null) return repo.visibility === "public" ? "read" : "none";
  return WRITE_ROLES.has(role) && !repo.is_archived ? "write" : "read";
}

/**
 * Where a request points: a repository (by id, or by owner login and name as the URL
 * names it), or the repository a run or job belongs to.
 */
export type Target =
  | { kind: "repo"; id: bigint }
  | { kind: "run"; id: bigint }
  | { kind: "job"; id: bigint }
  | { kind: "repoName"; owner: string; name: string };
type TargetKind = Target["kind"];

/** The statement variant and its one parameter (a name is a text[] of owner and name). */
function targetParam(t: Target): [TargetKind, string | readonly string[]] {
  switch (t.kind) {
    case "repo":
    case "run":
    case "job":
      return [t.kind, t.id.toString()];
    case "repoName":
      return [t.kind, [t.owner, t.name]];
    default:
      return assertNever(t, "target");
  }
}

export function sameTarget(a: Target, b: Target): boolean {
  const [ka, pa] = targetParam(a);
  const [kb, pb] = targetParam(b);
  return ka === kb && JSON.stringify(pa) === JSON.stringify(pb);
}

// A repository named in the URL is found and judged in the same statement as any other
// target: "no such repository" and "one you may not see" run the same statement and get
// the same 404, so neither answers nor timing say whether a private name exists.
function repoOf(kind: TargetKind, param: string | readonly string[]): Fragment {
  switch (kind) {
    case "repo":
      return q`${param}::bigint`;
    case "run":
      return q`(SELECT repo_id FROM workflow_runs WHERE id = ${param}::bigint)`;
    case "job":
      return q`(SELECT r.repo_id FROM workflow_jobs j JOIN workflow_runs r ON r.id = j.run_id WHERE j.id = ${param}::bigint)`;
    case "repoName":
      return q`(SELECT nr.id FROM repos nr JOIN users nu ON nu.id = nr.owner_id WHERE nu.login = (${param}::text[])[1] AND nr.name = (${param}::text[])[2])`;
    default:
      return assertNever(kind, "target kind");
  }
}

export const accessSql = (t: Target, userId: bigint) => {
  const [kind, param] = targetParam(t);
  return q`
  SELECT r.id::text AS repo_id, r.owner_id::text, r.visibility::text, r.is_archived, r.deleted_at IS NOT NULL AS deleted,
    (SELECT c.role::text FROM repo_collaborators c WHERE c.repo_id = r.id AND c.user_id = ${userId.toString()}::bigint) AS role
  FROM repos r WHERE r.id = ${repoOf(kind, param)}`;
};

/** The target's repository and what the token may do there; repoId undefined when the target does not exist. */
export async function targetAccess(sql: Sql, token: AuthedToken, target: Target): Promise<{ repoId: bigint | undefined; access: Access }> {
  const [repo] = await query<RepoFacts>(sql, accessSql(target, token.userId));
  return { repoId: repo ? BigInt(repo.repo_id) : undefined, access: accessOf(token, repo) };
}

interface TargetRow {
  target_repo_id: string | null;
  target_owner_id: string | null;
  target_visibility: string | null;
  target_is_archived: boolean | null;
  target_deleted: boolean | null;
  target_role: string | null;
}

// The token and, in the same round trip, the facts about the repository of the run or job
// the request names (what targetAccess would read next). The user is the token's own.
export const tokenTargetSql = (by: TokenBy, key: string, t: Target) => {
  const [kind, param] = targetParam(t);
  return q`
  SELECT tk.*, rf.repo_id AS target_repo_id, rf.owner_id AS target_owner_id, rf.visibility AS target_visibility,
    rf.is_archived AS target_is_archived, rf.deleted AS target_deleted, rf.role AS target_role
  FROM (${tokenSql(by, key)}) tk
  LEFT JOIN LATERAL (
    SELECT r.id::text AS repo_id, r.owner_id::text, r.visibility::text, r.is_archived, r.deleted_at IS NOT NULL AS deleted,
      (SELECT c.role::text FROM repo_collaborators c WHERE c.repo_id = r.id AND c.user_id = tk.user_id::bigint) AS role
    FROM repos r WHERE r.id = ${repoOf(kind, param)}
  ) rf ON true`;
};

/** The text a token-and-target lookup by hash runs, per kind of target (what tests compare statements with). */
export const TOKEN_TARGET_SQL = perVariant((of: TargetKind) =>
  render(tokenTargetSql("hash", "", of === "repoName" ? { kind: of, owner: "", name: "" } : { kind: of, id: 0n })).text);

/** The token, with what it may do on the target's repository; null when no token has this hash. */
export async function findTokenForTarget(sql: Sql, hash: string, target: Target): Promise<TokenForTarget | null> {
  return tokenForTarget(sql, "hash", hash, target);
}

/** The same facts for a token named by id: what a worker re-checks inside an intent's transaction. */
export async function findTokenByIdForTarget(sql: Sql, tokenId: bigint, target: Target): Promise<TokenForTarget | null> {
  return tokenForTarget(sql, "id", tokenId.toString(), target);
}

export interface TokenForTarget {
  token: AuthedToken;
  repoId: bigint | undefined;
  access: Access;
}

async function tokenForTarget(sql: Sql, by: TokenBy, key: string, target: Target): Promise<TokenForTarget | null> {
  const [r] = await query<TokenRow & TargetRow>(sql, tokenTargetSql(by, key, target));
  if (!r) return null;
  const token = tokenOf(r);
  const repo: RepoFacts | undefined = r.target_repo_id === null ? undefined : {
    repo_id: r.target_repo_id, owner_id: r.target_owner_id!, visibility: r.target_visibility!, is_archived: r.target_is_archived!,
    deleted: r.target_deleted!, role: r.target_role,
  };
  return { token, repoId: repo ? BigInt(repo.repo_id) : undefined, access: accessOf(token, repo) };
}
