import { query, type Sql } from "../../infra/sql.ts";
import { sql as q, type Fragment } from "../../infra/sqlf.ts";
import { RUN_COLUMNS, runRowOf, type RawRun, type RunRow } from "./reads.ts";
import { encodeCursor, type ListQuery, type RunFilters } from "./list-query.ts";

// One page of a repository's runs, newest first (docs/api.md, "Lists"). The caller has
// already decided the token may see the repository (api/auth.ts: token and access in one
// statement), so this runs only for a repository the caller can see.
//
// Keyset pagination on (created_at, id): a page is "the next n runs after this one in the
// order", never "skip k", so runs added while a client pages (newer, so before its first
// page) neither shift nor repeat what it has yet to read, and a page far down the list
// costs what the first does. Each filter is one equality the indexes of
// prisma/migrations/20261202150000_run_lists start with, or a condition checked on the
// rows an index range yields in order; nothing sorts all of a repository's runs.

/** Each filter as a condition on the runs aliased `r`. */
export const filterConditions = (f: RunFilters): Fragment[] => {
  const c: Fragment[] = [];
  if (f.status !== undefined) c.push(q`r.status = ${f.status}::run_status`);
  if (f.conclusion !== undefined) c.push(q`r.conclusion = ${f.conclusion}::conclusion`);
  // head_ref is stored as the push named it: `main` or `refs/heads/main`.
  if (f.branch !== undefined) c.push(q`r.head_ref = ANY(${[f.branch, `refs/heads/${f.branch}`]}::text[])`);
  if (f.event !== undefined) c.push(q`r.event = ${f.event}::text`);
  if (f.headSha !== undefined) c.push(q`r.head_sha = ${f.headSha}::text`);
  // An unknown login is no user: the subquery is NULL and no run matches.
  if (f.actor !== undefined) c.push(q`r.actor_user_id = (SELECT u.id FROM users u WHERE u.login = ${f.actor}::text)`);
  if (f.created?.from) c.push(q`r.created_at >= ${f.created.from.toISOString()}::timestamptz`);
  if (f.created?.to) c.push(q`r.created_at < ${f.created.to.toISOString()}::timestamptz`);
  return c;
};

/** The page statement: one more row than asked, to know whether a next page exists. */
export function runsPageSql(repoId: bigint, lq: ListQuery): Fragment {
  const conds = [q`r.repo_id = ${repoId.toString()}::bigint`, ...filterConditions(lq.filters)];
  // A row comparison on the index's trailing columns: the index range starts right there.
  if (lq.after) conds.push(q`(r.created_at, r.id) < (${lq.after.createdAt.toISOString()}::timestamptz, ${lq.after.id.toString()}::bigint)`);
  return q`SELECT ${q.raw(RUN_COLUMNS)} WHERE ${q.join(conds, " AND ")} ORDER BY r.created_at DESC, r.id DESC LIMIT ${lq.perPage + 1}::int`;
}

export interface RunsPage {
  runs: RunRow[];
  /** Where the next page starts, or null on the last page. */
  next: string | null;
}

export async function readRunsPage(sql: Sql, repoId: bigint, lq: ListQuery): Promise<RunsPage> {
  const rows = (await query<RawRun>(sql, runsPageSql(repoId, lq))).map(runRowOf);
  const runs = rows.slice(0, lq.perPage);
  const last = runs[runs.length - 1];
  return { runs, next: rows.length > lq.perPage && last ? encodeCursor({ createdAt: last.createdAt, id: last.id }) : null };
}
