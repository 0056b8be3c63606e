import { Router, type Request, type Response } from "express";
import { z } from "zod";
import type { PrismaClient } from "../../core/db.ts";
import { repoAccess } from "../../core/data/access.ts";
import { parseId } from "../../core/ids.ts";
import { assertNever } from "../../core/assert.ts";
import type { IntentName, IntentResult } from "../../core/contracts.ts";
import { authenticate, requireScope, tokenOf, type AuthDeps } from "../auth.ts";
import { badRequest, conflict, HttpError, notFound, unavailable, unprocessable } from "../errors.ts";
import { intentUid, type IntentClient, type Outcome } from "../intents.ts";

export interface LifecycleDeps extends AuthDeps {
  prisma: PrismaClient;
  intents: IntentClient;
}

// Both operations take no body today; unknown fields are refused rather than ignored so a
// client relying on an option we do not have finds out.
export const emptyBody = z.strictObject({});
export const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,255}$/;

function checkBody(req: Request): void {
  if (req.body === undefined) return;
  const parsed = emptyBody.safeParse(req.body);
  if (!parsed.success) {
    const unknown = parsed.error.issues.flatMap((i) => (i.code === "unrecognized_keys" ? i.keys : []));
    throw badRequest(unknown.length > 0 ? `unknown field: ${unknown.join(", ")}` : "body must be a JSON object");
  }
}

function idempotencyKey(req: Request): string | null {
  const k = req.get("Idempotency-Key");
  if (k === undefined) return null;
  if (!IDEMPOTENCY_KEY.test(k)) throw badRequest("Idempotency-Key must be 1 to 255 visible ASCII characters");
  return k;
}

/** 404 for what the caller may not see, 403 for what it may see but not change. */
async function authorizeWrite(deps: LifecycleDeps, res: Response, repoId: bigint | undefined, what: string) {
  if (repoId === undefined) throw notFound(what);
  const access = await repoAccess(deps.prisma, tokenOf(res), repoId);
  if (access === "none") throw notFound(what);
  if (access === "read") throw new HttpError(403, "write permission required");
}

function answer(outcome: Outcome, what: string): { status: number; body: unknown } {
  switch (outcome.kind) {
    case "result":
      return fromResult(outcome.result, what);
    case "timeout":
      throw unavailable("the worker tier did not answer in time; the request is queued and will be applied", 5, { intent_id: outcome.intentUid });
    case "unavailable":
      throw unavailable("queue unavailable; nothing was applied", 2);
    case "failed":
      throw new HttpError(500, "internal error", {}, { intent_id: outcome.intentUid });
    case "idempotency_conflict":
      throw unprocessable("Idempotency-Key already used for a different request");
    default:
      return assertNever(outcome, "outcome");
  }
}

function fromResult(r: IntentResult, what: string): { status: number; body: unknown } {
  if (r.ok) return { status: what === "job" ? 202 : 201, body: r.body };
  switch (r.error) {
    case "not_found":
      throw notFound(what);
    case "not_rerunnable":
    case "source_unavailable":
      throw conflict(r.message);
    case "source_invalid":
      throw unprocessable("workflow source invalid", { detail: r.message });
    case "idempotency_conflict":
      throw unprocessable("Idempotency-Key already used for a different request");
    default:
      return assertNever(r.error, "intent error");
  }
}

async function submit(deps: LifecycleDeps, req: Request, res: Response, name: IntentName, targetId: bigint, what: string) {
  const token = tokenOf(res);
  const key = idempotencyKey(req);
  const actor = Number(token.userId);
  const outcome = await deps.intents.submit(name, {
    intentUid: intentUid(name, actor, key),
    targetId: Number(targetId),
    actorUserId: actor,
    tokenId: Number(token.id),
    idempotencyKey: key,
    requestId: (res.locals.requestId as string | undefined) ?? null,
  });
  const { status, body } = answer(outcome, what);
  res.status(status).json(body);
}

export function lifecycleRoutes(deps: LifecycleDeps): Router {
  const r = Router();
  const auth = authenticate(deps);
  r.post("/api/v1/jobs/:id/cancel", auth, requireScope("repo:write"), async (req, res) => {
    const id = parseId(req.params.id);
    checkBody(req);
    const job = id === null ? null : (await deps.prisma.workflowJob.findUnique({ where: { id }, select: { run: { select: { repoId: true } } } }));
    await authorizeWrite(deps, res, job ? job.run.repoId : undefined, "job");
    await submit(deps, req, res, "cancel-job", id!, "job");
  });
  r.post("/api/v1/runs/:id/rerun", auth, requireScope("repo:write"), async (req, res) => {
    const id = parseId(req.params.id);
    checkBody(req);
    const run = id === null ? null : (await deps.prisma.workflowRun.findUnique({ where: { id }, select: { repoId: true } }));
    await authorizeWrite(deps, res, run ? run.repoId : undefined, "run");
    await submit(deps, req, res, "rerun-run", id!, "run");
  });
  return r;
}
