import type { Request, Response } from "express";
import type { Sql } from "../../infra/sql.ts";
import { readChain, readRepoCard, type Attempt, type RepoCard } from "../../domain/data/github.ts";
import { parseId } from "../../domain/ids.ts";
import { authOf } from "../auth.ts";
import { notFound } from "../errors.ts";
import { Links } from "../../domain/github/views.ts";

// What every /api/v3 route starts from: the repository the URL names, found and judged in
// the token's statement (authenticate with repoParam), and the URLs its answers point at.

export interface RepoContext {
  repo: RepoCard;
  links: Links;
}

/**
 * The origin answers point at: PUBLIC_URL when set (docs/operations.md); else the one the
 * client reached, as Octokit's pagination follows absolute `Link`s and GitHub sends those.
 */
export function originOf(req: Request, publicUrl: string | null | undefined): string {
  return publicUrl ?? `${req.protocol}://${req.get("host") ?? "localhost"}`;
}

export async function repoContext(sql: Sql, req: Request, res: Response, publicUrl: string | null | undefined): Promise<RepoContext> {
  const known = authOf(res).target;
  if (known === undefined || known.access === "none" || known.repoId === undefined) throw notFound("repository");
  const repo = await readRepoCard(sql, known.repoId);
  if (!repo) throw notFound("repository");
  return { repo, links: new Links(originOf(req, publicUrl), { owner: repo.owner.login, name: repo.name }) };
}

/** A path id GitHub would take (a positive integer), or the 404 GitHub answers otherwise. */
export function pathId(req: Request, name: string, what: string): bigint {
  const id = parseId(req.params[name]);
  if (id === null) throw notFound(what);
  return id;
}

/** The GitHub run the URL names: its chain of attempts, first to latest; 404 when it is not one of the repository's. */
export async function chainOf(sql: Sql, ctx: RepoContext, req: Request): Promise<[Attempt, ...Attempt[]]> {
  const chain = await readChain(sql, ctx.repo.id, pathId(req, "run_id", "workflow run"));
  if (chain.length === 0) throw notFound("workflow run");
  return chain as [Attempt, ...Attempt[]];
}

/** Attempt n of the chain (`:attempt_number`), 404 when there is none. */
export function attemptOf(chain: readonly Attempt[], req: Request): Attempt {
  const n = Number(pathId(req, "attempt_number", "workflow run attempt"));
  const a = chain[n - 1];
  if (a === undefined) throw notFound("workflow run attempt");
  return a;
}
