import type { Request, Response, Router } from "express";
import { z } from "zod";
import type { PrismaClient } from "../infra/db.ts";
import { sameTarget, targetAccess, type Access, type Target } from "../domain/data/access.ts";
import { assertNever } from "../infra/assert.ts";
import { sqlText } from "../infra/text.ts";
import type { IntentResult } from "../domain/contracts.ts";
import { expressPath, INTENTS, type IdIntentName, type IntentName, type IntentTargetKind } from "../domain/intents.ts";
import { authenticate, authOf, idParam, requireScope, type AuthDeps } from "./auth.ts";
import { badRequest, conflict, HttpError, invalidToken, notFound, unavailable, unprocessable } from "./errors.ts";
import { intentUid, type IntentClient, type Outcome } from "./intents.ts";

// What every mutating route shares: body and Idempotency-Key checks, the 404/403
// permission rule, enqueueing the intent, and mapping its outcome to HTTP.

export interface IntentRouteDeps extends AuthDeps {
  prisma: PrismaClient;
  intents: IntentClient;
}

export const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,255}$/;

/** No fields: unknown ones are refused so a client relying on an option we lack finds out. */
export const emptyBody = z.strictObject({});
/** Every cancel route takes an optional reason, stored on the jobs it cancels. */
export const cancelBody = z.strictObject({ reason: sqlText(z.string().max(500)).optional() });

export function parseBody<S extends z.ZodType>(schema: S, req: Request): z.infer<S> {
  const parsed = schema.safeParse(req.body ?? {});
  if (parsed.success) return parsed.data;
  const unknown = parsed.error.issues.flatMap((i) => (i.code === "unrecognized_keys" ? i.keys : []));
  if (unknown.length > 0) throw badRequest(`unknown field: ${unknown.join(", ")}`);
  if (typeof req.body !== "object" || req.body === null || Array.isArray(req.body)) throw badRequest("body must be a JSON object");
  throw badRequest(`invalid body: ${parsed.error.issues.map((i) => `${i.path.join(".") || "body"}: ${i.message}`).join("; ")}`);
}

export function idempotencyKey(req: Request): string | null {
  const k = req.get("Idempotency-Key");
  if (k === undefined) return null;
  if (!IDEMPOTENCY_KEY.test(k)) throw badRequest("Idempotency-Key must be 1 to 255 visible ASCII characters");
  return k;
}

/**
 * 404 for what the caller may not see, 403 for what it may see but not change, for a target
 * named in the URL: lookup and access in one statement (the token's, when authenticate was
 * given the target). Answers the target and its repository.
 */
export async function authorizeWriteOn<T extends Target>(
  deps: IntentRouteDeps, res: Response, target: T | null, what: string,
): Promise<{ target: T; repoId: bigint }> {
  if (target === null) throw notFound(what);
  const { token, target: known } = authOf(res);
  const found = known !== undefined && sameTarget(known.target, target) ? known : await targetAccess(deps.sql, token, target);
  check(found.access, what);
  // Any access but "none" means the repository was found; this only tells the compiler.
  if (found.repoId === undefined) throw notFound(what);
  // The intent's queue shard is its repository's (api/intents.ts): applyIntent reads it here.
  res.locals.intentRepoId = found.repoId;
  return { target, repoId: found.repoId };
}

function check(access: Access, what: string): void {
  if (access === "none") throw notFound(what);
  if (access === "read") throw new HttpError(403, "write permission required");
}

function answer(outcome: Outcome, what: string, okStatus: number): { status: number; body: unknown } {
  switch (outcome.kind) {
    case "result":
      return fromResult(outcome.result, what, okStatus);
    case "timeout":
      throw unavailable("the worker tier did not answer in time; the request is queued and will be applied", 5, { intent_id: outcome.intentUid });
    case "unavailable":
      throw unavailable("queue unavailable; nothing was applied", 2);
    case "uncertain":
      throw unavailable("queue unavailable; the request may have been queued, and if so it will be applied", 5, { intent_id: outcome.intentUid });
    case "failed":
      throw new HttpError(500, "internal error", {}, { intent_id: outcome.intentUid });
    case "idempotency_conflict":
      throw unprocessable("Idempotency-Key already used for a different request");
    default:
      return assertNever(outcome, "outcome");
  }
}

function fromResult(r: IntentResult, what: string, okStatus: number): { status: number; body: unknown } {
  if (r.ok) return { status: okStatus, body: r.body };
  switch (r.error) {
    case "not_found":
      throw notFound(what);
    case "not_rerunnable":
    case "source_unavailable":
    case "no_failed_jobs":
    case "rerun_limit":
      throw conflict(r.message);
    case "source_invalid":
      throw unprocessable("workflow source invalid", { detail: r.message });
    case "idempotency_conflict":
      throw unprocessable("Idempotency-Key already used for a different request");
    // The worker's own check found the token or the role gone since the API's check.
    case "unauthorized":
      throw invalidToken(r.message);
    case "forbidden":
      throw new HttpError(403, r.message);
    default:
      return assertNever(r.error, "intent error");
  }
}

/** Names the 404 of an intent's target. */
export const whatOf = (t: IntentTargetKind): string => (t === "repo" ? "repository" : t);

export interface Submission {
  name: IntentName;
  targetId: bigint;
  /** The request's Idempotency-Key, as idempotencyKey() validated it. */
  idempotencyKey: string | null;
  reason?: string | null;
  params?: Record<string, unknown> | null;
}

/** Enqueues the intent and answers with its outcome: the status and the 404's noun come from INTENTS. */
export async function submitIntent(deps: IntentRouteDeps, res: Response, s: Submission): Promise<void> {
  const { status, body } = await applyIntent(deps, res, s);
  res.status(status).json(body);
}

/** The same, returning the answer for a dialect that shapes its own body (api/v3). Refusals throw HttpError. */
export async function applyIntent(deps: IntentRouteDeps, res: Response, s: Submission): Promise<{ status: number; body: unknown }> {
  const { token } = authOf(res);
  const def = INTENTS[s.name];
  const key = s.idempotencyKey;
  const actor = Number(token.userId);
  const outcome = await deps.intents.submit(s.name, {
    intentUid: intentUid(s.name, actor, key),
    targetId: Number(s.targetId),
    actorUserId: actor,
    tokenId: Number(token.id),
    idempotencyKey: key,
    requestId: (res.locals.requestId as string | undefined) ?? null,
    reason: s.reason ?? null,
    params: s.params ?? null,
  }, res.locals.intentRepoId === undefined ? undefined : { repoId: res.locals.intentRepoId as bigint });
  return answer(outcome, whatOf(def.target), def.okStatus);
}

/**
 * Mounts the route of an intent that names its run or job by `:id`, as INTENTS describes it
 * (method, path, scope). Its checks, in the order every such route makes them: token and
 * scope (401/403), body (400), Idempotency-Key (400), target visible (404) and writable (403).
 */
export function intentRoute(r: Router, deps: IntentRouteDeps, name: IdIntentName, body: z.ZodType<{ reason?: string }>): void {
  const def = INTENTS[name];
  const targetOf = idParam(def.target);
  r[def.method](expressPath(def.path), authenticate(deps, targetOf), requireScope(def.scope), async (req, res) => {
    const { reason } = parseBody(body, req);
    const key = idempotencyKey(req);
    const { target } = await authorizeWriteOn(deps, res, targetOf(req), whatOf(def.target));
    await submitIntent(deps, res, { name, targetId: target.id, idempotencyKey: key, reason });
  });
}
