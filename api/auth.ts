import type { NextFunction, Request, RequestHandler, Response } from "express";
import type { PrismaClient } from "../infra/db.ts";
import type { Sql } from "../infra/sql.ts";
import { findTokenByHash, findTokenForTarget, type Access, type AuthedToken, type Target } from "../domain/data/access.ts";
import { hasScope, type Scope } from "../domain/scopes.ts";
import { tokenVerdict } from "../domain/authorize.ts";
import { credentialsFrom, isWellFormedPat, sha256 } from "../domain/tokens.ts";
import { HttpError, invalidToken, unauthenticated } from "./errors.ts";
import { parseId } from "../domain/ids.ts";
import { hasNoNul } from "../infra/text.ts";
import type { Limiter } from "./ratelimit.ts";
import type { Logger } from "../infra/logger.ts";

export interface AuthDeps {
  prisma: PrismaClient;
  /** Plain SQL for what every request asks (token, access). */
  sql: Sql;
  tokenLimiter: Limiter;
  /** Budget for requests without valid credentials, per client IP (slows brute force). */
  ipLimiter: Limiter;
  log: Logger;
}

const LAST_USED_RESOLUTION_MS = 60_000;

/** Where a route points, known from the request alone (its id parameter), or null. */
export type TargetOf = (req: Request) => Target | null;

/** The run or job named by the route's `:id`. */
export function idParam(kind: "run" | "job"): (req: Request) => (Target & { kind: "run" | "job" }) | null {
  return (req) => {
    const id = parseId(req.params.id);
    return id === null ? null : { kind, id };
  };
}

/**
 * The repository as the URL names it (`:owner/:repo`), for the token statement to find and
 * judge at once. A NUL in a segment is no name: nothing is looked up.
 */
export function repoParam(req: Request): (Target & { kind: "repoName" }) | null {
  const [owner, repo] = [String(req.params.owner ?? ""), String(req.params.repo ?? "")];
  return hasNoNul(owner) && hasNoNul(repo) ? { kind: "repoName", owner, name: repo } : null;
}

/** What the token lookup also found out about the request's target (see TargetOf). */
export interface TargetAccess {
  target: Target;
  repoId: bigint | undefined;
  access: Access;
}

export async function resolveToken(deps: Pick<AuthDeps, "sql">, header: string | undefined, target?: Target | null, res?: Response): Promise<AuthedToken> {
  const cred = credentialsFrom(header);
  if (cred.kind === "none") throw unauthenticated();
  if (cred.kind === "malformed" || !isWellFormedPat(cred.token)) throw invalidToken("invalid token");
  let token: AuthedToken | null;
  if (target && res) {
    // One round trip for both questions the route will ask; the checks stay in their order.
    const found = await findTokenForTarget(deps.sql, sha256(cred.token), target);
    token = found?.token ?? null;
    if (found) res.locals.targetAccess = { target, repoId: found.repoId, access: found.access } satisfies TargetAccess;
  } else {
    token = await findTokenByHash(deps.sql, sha256(cred.token));
  }
  const v = tokenVerdict(token, Date.now());
  if (!v.ok) throw invalidToken(v.reason);
  return token!;
}

/** PAT authentication: sets res.locals.token, or answers 401/429. */
export function authenticate(deps: AuthDeps, targetOf?: TargetOf): RequestHandler {
  return async (req: Request, res: Response, next: NextFunction) => {
    let token: AuthedToken;
    try {
      token = await resolveToken(deps, req.headers.authorization, targetOf?.(req), res);
    } catch (e) {
      // Only refused credentials spend the address's budget: a guesser behind a NAT or a
      // proxy is slowed down (429 once it is spent) without locking out valid tokens.
      if (e instanceof HttpError) await deps.ipLimiter.consume(req.ip ?? "unknown", res);
      throw e;
    }
    await deps.tokenLimiter.consume(`t${token.id}`, res);
    res.locals.token = token satisfies AuthedToken;
    touchLastUsed(deps, token);
    next();
  };
}

/** Decided from the token alone, before anything is looked up. */
export function requireScope(scope: Scope): RequestHandler {
  return (_req, res, next) => {
    const { token } = authOf(res);
    res.set("X-OAuth-Scopes", token.scopes.join(", "));
    res.set("X-Accepted-OAuth-Scopes", scope);
    if (!hasScope(token.scopes, scope)) throw new HttpError(403, `token lacks required scope: ${scope}`);
    next();
  };
}

// Recorded at most once a minute per token: a write per request would put the user API
// on the database's write path for nothing. Not awaited: the request was authenticated
// already, and a missed stamp only leaves last_used_at a minute older; it is logged.
function touchLastUsed(deps: Pick<AuthDeps, "prisma" | "log">, token: AuthedToken): void {
  const now = Date.now();
  if (token.lastUsedAt && now - token.lastUsedAt.getTime() < LAST_USED_RESOLUTION_MS) return;
  void deps.prisma.personalAccessToken
    .updateMany({ where: { id: token.id }, data: { lastUsedAt: new Date(now) } })
    .catch((e: unknown) => deps.log.warn({ err: (e as Error).message?.split("\n").pop(), token_id: String(token.id) }, "token last_used_at not recorded"));
}

/**
 * What authenticate established for this request: the token, and when the route names its
 * target (TargetOf), what the same lookup found about it. The one typed reader of what
 * authenticate and resolveToken put in res.locals (Express types res.locals as any).
 */
export interface AuthContext {
  token: AuthedToken;
  /** Undefined when the route names no target, or the token did not resolve. */
  target: TargetAccess | undefined;
}

export function authOf(res: Response): AuthContext {
  const token = res.locals.token as AuthedToken | undefined;
  // A route that reads the token is mounted behind authenticate: without it, a bug.
  if (token === undefined) throw new Error("authOf: no authenticated token on this request");
  return { token, target: res.locals.targetAccess as TargetAccess | undefined };
}
