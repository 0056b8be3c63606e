import { Router, type Request, type Response } from "express";
import { z } from "zod";
import type { PoolSql, Sql } from "../../infra/sql.ts";
import type { Logger } from "../../infra/logger.ts";
import type { SecretBox } from "../../infra/secretbox.ts";
import { sqlText } from "../../infra/text.ts";
import { checkHookUrl } from "../../infra/webhook-http.ts";
import type { Access } from "../../domain/data/access.ts";
import { parseId } from "../../domain/ids.ts";
import {
  createHook, deleteHook, getDelivery, getHook, HOOK_EVENTS, listDeliveries, listHooks, MAX_HOOKS_PER_REPO, repoRole, updateHook, type DeliverySummary, type HookChanges,
} from "../../domain/data/hooks.ts";
import { redeliver } from "../../domain/data/deliveries.ts";
import { authenticate, authOf, repoParam, requireScope, type AuthDeps } from "../auth.ts";
import { HttpError, badRequest, conflict, notFound, unprocessable } from "../errors.ts";
import { parseBody } from "../submit.ts";
import { deliveryDetailView, deliveryView, hookView } from "./hooks-views.ts";

// A repository's webhooks (docs/events.md, "Webhooks"): repo admins, with a token that has
// admin:repo_hook. A URL is checked (scheme, length, every address it resolves to) before
// anything is stored; a secret is sealed (infra/secretbox.ts) and never shown again.

export interface HookRouteDeps extends AuthDeps {
  sql: PoolSql;
  secrets: SecretBox;
  /** Puts redeliveries in the delivery queue. */
  enqueueDeliveries: (ids: readonly bigint[]) => Promise<void>;
  allowPrivate: boolean;
}

export const SCOPE = "admin:repo_hook" as const;
export const ADMIN_NEEDED = "managing webhooks needs the admin role on the repository";

export type HookAccess = { kind: "ok" } | { kind: "hidden" } | { kind: "forbidden" };

/** 404 for a repository the caller cannot see; 403 unless they own it or hold its admin role. */
export function hookAccess(access: Access, userId: bigint, facts: { ownerId: bigint; role: string | null } | null): HookAccess {
  if (access === "none" || facts === null) return { kind: "hidden" };
  return facts.ownerId === userId || facts.role === "admin" ? { kind: "ok" } : { kind: "forbidden" };
}

export const events = z.array(z.enum(HOOK_EVENTS)).min(1).max(HOOK_EVENTS.length).refine((e) => new Set(e).size === e.length, "must not repeat an event");
export const secret = sqlText(z.string().min(1).max(256));
const createBody = z.strictObject({
  url: sqlText(z.string().min(1).max(2000)),
  secret: secret.optional(),
  events: events.optional(),
  active: z.boolean().optional(),
  content_type: z.literal("json").optional(),
});
const updateBody = z.strictObject({
  url: createBody.shape.url.optional(),
  secret: secret.nullable().optional(),
  events: events.optional(),
  active: z.boolean().optional(),
  content_type: z.literal("json").optional(),
});

/** The repository the route names, when the caller administers it; else the 404 or 403 (shared with /api/v3). */
export async function repoOfAdmin(deps: { sql: Sql }, res: Response): Promise<bigint> {
  const { token, target } = authOf(res);
  const repoId = target?.repoId;
  const facts = repoId === undefined ? null : await repoRole(deps.sql, repoId, token.userId);
  const a = hookAccess(target?.access ?? "none", token.userId, facts);
  if (a.kind === "hidden") throw notFound("repository");
  if (a.kind === "forbidden") throw new HttpError(403, ADMIN_NEEDED);
  return repoId!;
}

/** The URL as it will be stored, or the 422 naming why it may not be a hook's (shared with /api/v3). */
export async function checkedUrl(deps: Pick<HookRouteDeps, "allowPrivate">, raw: string): Promise<string> {
  const c = await checkHookUrl(raw, { allowPrivate: deps.allowPrivate });
  if (!c.ok) throw unprocessable(c.message);
  return c.url.toString();
}

const idOf = (req: Request, name: string, what: string) => {
  const v = parseId(req.params[name]);
  if (v === null) throw notFound(what);
  return v;
};

function perPageOf(req: Request): number {
  const raw = req.query.per_page;
  if (raw === undefined) return 30;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > 100) throw badRequest("per_page must be an integer from 1 to 100");
  return n;
}

/** A page of a hook's deliveries (`per_page`, `cursor`), with the Link to the next one while one may follow (shared with /api/v3). */
export async function deliveryPage(deps: { sql: Sql }, req: Request, hookId: bigint, origin: string): Promise<{ page: DeliverySummary[]; link: string | null }> {
  const perPage = perPageOf(req);
  const cursor = req.query.cursor === undefined ? null : parseId(req.query.cursor);
  if (req.query.cursor !== undefined && cursor === null) throw badRequest("cursor must be a delivery id from a Link header");
  const page = await listDeliveries(deps.sql, hookId, perPage, cursor);
  if (page.length < perPage) return { page, link: null };
  const next = new URL(req.originalUrl, origin);
  next.searchParams.set("cursor", page[page.length - 1]!.id.toString());
  next.searchParams.set("per_page", String(perPage));
  return { page, link: `<${next.toString()}>; rel="next"` };
}

/**
 * A redelivery of a finished delivery (both dialects): 404 for none, 409 for one still
 * being sent. Recorded as queued, so if the queue is away now the dispatcher's sweep sends it.
 */
export async function redeliverOnce(deps: { sql: Sql; log: Logger } & Pick<HookRouteDeps, "enqueueDeliveries">, hookId: bigint, deliveryId: bigint): Promise<bigint> {
  const created = await redeliver(deps.sql, hookId, deliveryId);
  if (created === null) {
    if (await getDelivery(deps.sql, hookId, deliveryId)) throw conflict("the delivery is still being sent: redeliver it once it is delivered or failed");
    throw notFound("delivery");
  }
  await deps.enqueueDeliveries([created]).catch((e: unknown) => deps.log.warn({ err: (e as Error).message }, "redelivery not queued yet; the sweep will"));
  return created;
}

export function hookRoutes(deps: HookRouteDeps): Router {
  const r = Router();
  const base = "/api/v1/repos/:owner/:repo/hooks";
  const guard = [authenticate(deps, repoParam), requireScope(SCOPE)];
  const origin = (req: Request) => `${req.protocol}://${req.get("host")}`;

  r.post(base, ...guard, async (req, res) => {
    const body = parseBody(createBody, req);
    const repoId = await repoOfAdmin(deps, res);
    const url = await checkedUrl(deps, body.url);
    const hookId = await createHook(deps.sql, repoId, {
      url, secretEncrypted: body.secret === undefined ? null : deps.secrets.seal(body.secret), events: body.events ?? [...HOOK_EVENTS],
      active: body.active ?? true, createdBy: authOf(res).token.userId,
    });
    if (hookId === null) throw unprocessable(`a repository has at most ${MAX_HOOKS_PER_REPO} hooks`);
    res.status(201).json(hookView((await getHook(deps.sql, repoId, hookId))!, req, origin(req)));
  });

  r.get(base, ...guard, async (req, res) => {
    const repoId = await repoOfAdmin(deps, res);
    res.json((await listHooks(deps.sql, repoId)).map((h) => hookView(h, req, origin(req))));
  });

  r.get(`${base}/:hook_id`, ...guard, async (req, res) => {
    const repoId = await repoOfAdmin(deps, res);
    const hook = await getHook(deps.sql, repoId, idOf(req, "hook_id", "hook"));
    if (!hook) throw notFound("hook");
    res.json(hookView(hook, req, origin(req)));
  });

  r.patch(`${base}/:hook_id`, ...guard, async (req, res) => {
    const body = parseBody(updateBody, req);
    const repoId = await repoOfAdmin(deps, res);
    const hookId = idOf(req, "hook_id", "hook");
    const changes: HookChanges = {
      ...(body.url === undefined ? {} : { url: await checkedUrl(deps, body.url) }),
      ...(body.secret === undefined ? {} : { secretEncrypted: body.secret === null ? null : deps.secrets.seal(body.secret) }),
      ...(body.events === undefined ? {} : { events: body.events }),
      ...(body.active === undefined ? {} : { active: body.active }),
    };
    if (!(await updateHook(deps.sql, repoId, hookId, changes))) throw notFound("hook");
    res.json(hookView((await getHook(deps.sql, repoId, hookId))!, req, origin(req)));
  });

  r.delete(`${base}/:hook_id`, ...guard, async (_req, res) => {
    const repoId = await repoOfAdmin(deps, res);
    if (!(await deleteHook(deps.sql, repoId, idOf(_req, "hook_id", "hook")))) throw notFound("hook");
    res.status(204).end();
  });

  r.get(`${base}/:hook_id/deliveries`, ...guard, async (req, res) => {
    const repoId = await repoOfAdmin(deps, res);
    const hook = await getHook(deps.sql, repoId, idOf(req, "hook_id", "hook"));
    if (!hook) throw notFound("hook");
    const { page, link } = await deliveryPage(deps, req, hook.id, origin(req));
    if (link !== null) res.set("Link", link);
    res.json(page.map(deliveryView));
  });

  r.get(`${base}/:hook_id/deliveries/:delivery_id`, ...guard, async (req, res) => {
    const repoId = await repoOfAdmin(deps, res);
    const hook = await getHook(deps.sql, repoId, idOf(req, "hook_id", "hook"));
    const d = hook ? await getDelivery(deps.sql, hook.id, idOf(req, "delivery_id", "delivery")) : null;
    if (!d) throw notFound("delivery");
    res.json(deliveryDetailView(d));
  });

  r.post(`${base}/:hook_id/deliveries/:delivery_id/attempts`, ...guard, async (req, res) => {
    const repoId = await repoOfAdmin(deps, res);
    const hook = await getHook(deps.sql, repoId, idOf(req, "hook_id", "hook"));
    if (!hook) throw notFound("delivery");
    const created = await redeliverOnce(deps, hook.id, idOf(req, "delivery_id", "delivery"));
    res.status(202).json({ id: Number(created), redelivery: true });
  });
  return r;
}
