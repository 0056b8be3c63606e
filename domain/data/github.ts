import { createHash } from "node:crypto";
import { ids, query, type Sql } from "../../infra/sql.ts";
import { sql as q, type Fragment } from "../../infra/sqlf.ts";
import { RUN_COLUMNS, runRowOf, type RawRun, type RunRow } from "./reads.ts";
import { filterConditions } from "./lists.ts";
import type { RunFilters } from "./list-query.ts";

// What GitHub's REST dialect (docs/github-api.md) reads beyond the native views. A GitHub
// run is one of our rerun chains: its id is the original run's, attempt n is the chain's
// n-th run, and the run GitHub shows is the chain's latest attempt. Callers have already
// found the repository and judged the token on it (api/auth.ts), and every statement here
// is bound to that repository, so an id from another one finds nothing.

export interface Attempt extends RunRow {
  updatedAt: Date;
}

type RawAttempt = RawRun & { updated_at: Date };
const attemptOf = (r: RawAttempt): Attempt => ({ ...runRowOf(r), updatedAt: r.updated_at });
const ATTEMPT_COLUMNS = q.raw(`r.updated_at, ${RUN_COLUMNS}`);

/** A chain's attempts, first to latest; empty when `runId` is no original run of the repository. */
export async function readChain(sql: Sql, repoId: bigint, runId: bigint): Promise<Attempt[]> {
  const rows = await query<RawAttempt>(sql, q`
    SELECT ${ATTEMPT_COLUMNS} WHERE r.repo_id = ${repoId.toString()}::bigint
      AND ((r.id = ${runId.toString()}::bigint AND r.original_run_id IS NULL) OR r.original_run_id = ${runId.toString()}::bigint)
    ORDER BY r.attempt`);
  // A rerun names its original; without that original first, this is no chain.
  return rows[0]?.original_run_id === null ? rows.map(attemptOf) : [];
}

/** Filters of GitHub's list: ours, with status and conclusion judged on the latest attempt. */
export interface ChainFilters extends RunFilters {
  workflowFile?: string;
  /** A GitHub status no run of ours is ever in (`waiting`, `pending`, `requested`): nothing matches. */
  never?: boolean;
}

export interface ChainPage {
  /** Each listed chain as [its original, its latest attempt]. */
  chains: [Attempt, Attempt][];
  total: number;
}

// The latest attempt of the original `r`: the rerun with the highest attempt, or `r` itself.
const LATEST = q.raw(`COALESCE((SELECT x.id FROM workflow_runs x WHERE x.original_run_id = r.id ORDER BY x.attempt DESC LIMIT 1), r.id)`);

/**
 * The statement's FROM and WHERE: originals `r` (the partial index of
 * prisma/migrations/20261203120000_github_run_chains), and their latest attempt `l` only
 * when a filter is on it, so an unfiltered count reads that index alone.
 */
function chainsFrom(repoId: bigint, f: ChainFilters): Fragment {
  const { status, conclusion, workflowFile, never, ...onOriginal } = f;
  const c = [q`r.repo_id = ${repoId.toString()}::bigint`, q`r.original_run_id IS NULL`, ...filterConditions(onOriginal)];
  if (never) c.push(q`false`);
  if (workflowFile !== undefined) c.push(q`r.workflow_file = ${workflowFile}::text`);
  if (status !== undefined) c.push(q`l.status = ${status}::run_status`);
  if (conclusion !== undefined) c.push(q`l.conclusion = ${conclusion}::conclusion`);
  const onLatest = status !== undefined || conclusion !== undefined;
  const from = onLatest ? q`workflow_runs r JOIN workflow_runs l ON l.id = ${LATEST}` : q`workflow_runs r`;
  return q`FROM ${from} WHERE ${q.join(c, " AND ")}`;
}

/**
 * With a filter, GitHub lists at most the first 1,000 matches (its documentation says so
 * for `actor`, `branch`, `check_suite_id`, `created`, `event`, `head_sha` and `status`), and
 * so do we, for the same reason: the count then stops there instead of reading every match.
 */
export const FILTERED_RESULTS_MAX = 1000;

/**
 * One page by number, as GitHub pages (`page`, `per_page`), newest original first, with
 * the total GitHub's body carries. Unfiltered, the total is the count the repository keeps
 * (repos.run_chains, maintained by triggers, read with the repository's card); page n reads n pages of the index, so
 * unlike the native list's keyset cursor (domain/data/lists.ts) a deep page costs more as
 * the repository grows (docs/github-api.md, "Lists").
 */
export async function readChainPage(sql: Sql, repo: Pick<RepoCard, "id" | "runChains">, f: ChainFilters, page: number, perPage: number): Promise<ChainPage> {
  const repoId = repo.id;
  const from = chainsFrom(repoId, f);
  const capped = Object.values(f).some((v) => v !== undefined);
  const offset = (page - 1) * perPage;
  const limit = capped ? Math.max(0, Math.min(perPage, FILTERED_RESULTS_MAX - offset)) : perPage;
  const picked = limit === 0 ? [] : await query<{ o: string; l: string }>(sql, q`
    SELECT r.id::text AS o, ${LATEST}::text AS l ${from}
    ORDER BY r.created_at DESC, r.id DESC LIMIT ${limit}::int OFFSET ${offset}::int`);
  const total = page === 1 && picked.length < perPage
    ? picked.length // a first page that is not full holds every match
    : capped
      ? (await query<{ n: number }>(sql, q`SELECT count(*)::int AS n FROM (SELECT 1 ${from} ORDER BY r.created_at DESC, r.id DESC LIMIT ${FILTERED_RESULTS_MAX}::int) m`))[0]?.n ?? 0
      : repo.runChains;
  const rows = picked.length === 0 ? [] : await readAttempts(sql, picked.flatMap((p) => [BigInt(p.o), BigInt(p.l)]));
  const byId = new Map(rows.map((r) => [r.id.toString(), r]));
  return { chains: picked.map((p) => [byId.get(p.o)!, byId.get(p.l)!]), total };
}

async function readAttempts(sql: Sql, runIds: bigint[]): Promise<Attempt[]> {
  return (await query<RawAttempt>(sql, q`SELECT ${ATTEMPT_COLUMNS} WHERE r.id = ANY(${ids(runIds)}::bigint[])`)).map(attemptOf);
}

/**
 * The target an earlier request of this user with this Idempotency-Key named, if any. A
 * GitHub write names the chain, not an attempt, and its latest attempt moves on once a
 * rerun lands: a repeat must name what the first request named, or it would be refused as
 * a different request instead of replayed.
 */
export async function priorTarget(sql: Sql, actorUserId: bigint, kind: string, key: string): Promise<bigint | null> {
  const [r] = await query<{ target_id: string }>(sql, q`
    SELECT target_id::text FROM lifecycle_intents
    WHERE actor_user_id = ${actorUserId.toString()}::bigint AND kind = ${kind}::intent_kind AND idempotency_key = ${key}::text`);
  return r ? BigInt(r.target_id) : null;
}

/** Where a job is: its run's chain (original id, attempt), if the job is in the repository. */
export async function locateJob(sql: Sql, repoId: bigint, jobId: bigint): Promise<{ runId: bigint; originalId: bigint } | null> {
  const [r] = await query<{ run_id: string; original_id: string }>(sql, q`
    SELECT j.run_id::text, COALESCE(r.original_run_id, r.id)::text AS original_id
    FROM workflow_jobs j JOIN workflow_runs r ON r.id = j.run_id
    WHERE j.id = ${jobId.toString()}::bigint AND r.repo_id = ${repoId.toString()}::bigint`);
  return r ? { runId: BigInt(r.run_id), originalId: BigInt(r.original_id) } : null;
}

export interface RepoCard {
  id: bigint; name: string; private: boolean; archived: boolean; createdAt: Date;
  /** Its original runs, GitHub's runs (repos.run_chains). */
  runChains: number;
  owner: { id: bigint; login: string; siteAdmin: boolean };
}

export async function readRepoCard(sql: Sql, repoId: bigint): Promise<RepoCard | null> {
  const [r] = await query<{ id: string; name: string; visibility: string; is_archived: boolean; created_at: Date; run_chains: string; owner_id: string; login: string; is_site_admin: boolean }>(sql, q`
    SELECT r.id::text, r.name, r.visibility::text, r.is_archived, r.created_at, r.run_chains::text, u.id::text AS owner_id, u.login, u.is_site_admin
    FROM repos r JOIN users u ON u.id = r.owner_id WHERE r.id = ${repoId.toString()}::bigint`);
  return r ? {
    id: BigInt(r.id), name: r.name, private: r.visibility === "private", archived: r.is_archived, createdAt: r.created_at, runChains: Number(r.run_chains),
    owner: { id: BigInt(r.owner_id), login: r.login, siteAdmin: r.is_site_admin },
  } : null;
}

export interface StepOf {
  id: bigint; jobId: bigint; number: number; name: string; status: string; conclusion: string | null; startedAt: Date | null; completedAt: Date | null;
}

/** The steps of several jobs; GitHub numbers them from 1. */
export async function readStepsOf(sql: Sql, jobIds: readonly bigint[]): Promise<StepOf[]> {
  if (jobIds.length === 0) return [];
  const rows = await query<{ id: string; job_id: string; step_index: number; name: string; status: string; conclusion: string | null; started_at: Date | null; completed_at: Date | null }>(sql, q`
    SELECT id::text, job_id::text, step_index, name, status::text, conclusion::text, started_at, completed_at
    FROM workflow_steps WHERE job_id = ANY(${ids(jobIds)}::bigint[]) ORDER BY job_id, step_index`);
  return rows.map((s) => ({
    id: BigInt(s.id), jobId: BigInt(s.job_id), number: s.step_index + 1, name: s.name, status: s.status, conclusion: s.conclusion, startedAt: s.started_at, completedAt: s.completed_at,
  }));
}

/** Steps by their job, each job's in order. */
export function stepsByJob(steps: readonly StepOf[]): Map<bigint, StepOf[]> {
  const by = new Map<bigint, StepOf[]>();
  for (const s of steps) {
    const list = by.get(s.jobId);
    if (list) list.push(s);
    else by.set(s.jobId, [s]);
  }
  return by;
}

export async function readRunnerNames(sql: Sql, runnerIds: readonly bigint[]): Promise<Map<string, string>> {
  if (runnerIds.length === 0) return new Map();
  const rows = await query<{ id: string; name: string }>(sql, q`SELECT id::text, name FROM runners WHERE id = ANY(${ids(runnerIds)}::bigint[])`);
  return new Map(rows.map((r) => [r.id, r.name]));
}

export interface Workflow {
  id: number; path: string; name: string; createdAt: Date; updatedAt: Date;
}

/**
 * GitHub numbers workflows; we know a workflow only as its file in a repository. Its id is
 * derived from the two (a digest cut to 48 bits, a safe JSON integer), so it is stable,
 * the same in every process, and needs no table; docs/github-api.md says so.
 */
export function workflowId(repoId: bigint, path: string): number {
  return Number.parseInt(createHash("sha256").update(`${repoId}\0${path}`).digest("hex").slice(0, 12), 16);
}

/** The repository's workflows: every file it has run or pushed, named as its latest run names it. */
export async function readWorkflows(sql: Sql, repoId: bigint): Promise<Workflow[]> {
  const rows = await query<{ path: string; name: string | null; created_at: Date; updated_at: Date }>(sql, q`
    WITH files AS (
      SELECT path, min(created_at) AS created_at, max(created_at) AS updated_at FROM workflow_sources
      WHERE repo_id = ${repoId.toString()}::bigint GROUP BY path)
    SELECT f.path, f.created_at, f.updated_at,
      (SELECT w.workflow_name FROM workflow_runs w WHERE w.repo_id = ${repoId.toString()}::bigint AND w.workflow_file = f.path
        ORDER BY w.created_at DESC LIMIT 1) AS name
    FROM files f ORDER BY f.path`);
  return rows.map((r) => ({ id: workflowId(repoId, r.path), path: r.path, name: r.name ?? r.path, createdAt: r.created_at, updatedAt: r.updated_at }));
}
