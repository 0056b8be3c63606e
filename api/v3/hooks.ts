import { Router, type Request, type RequestHandler, type Response } from "express";
import { z } from "zod";
import type { Sql } from "../../infra/sql.ts";
import { sqlText } from "../../infra/text.ts";
import { createHook, deleteHook, getDelivery, getHook, HOOK_EVENTS, listHooks, MAX_HOOKS_PER_REPO, updateHook, type Hook, type HookChanges, type HookEvent } from "../../domain/data/hooks.ts";
import { authenticate, authOf, repoParam, requireScope } from "../auth.ts";
import { notFound, unprocessable } from "../errors.ts";
import { checkedUrl, deliveryPage, events as hookEvents, redeliverOnce, repoOfAdmin, SCOPE, secret as hookSecret, type HookRouteDeps } from "../routes/hooks.ts";
import { pathId, repoContext, type RepoContext } from "./context.ts";
import { githubDeliveryItem, githubDeliveryView, githubHookView } from "./hook-views.ts";
import { GITHUB_HOOK_OPERATIONS as OPS, hookRoute } from "./operations.ts";

// GitHub's repository webhook routes (docs/github-api.md, "Webhooks"): the native hooks'
// data functions, admin check and URL check (api/routes/hooks.ts) behind GitHub's paths,
// bodies and 422s. Only what we can honour is accepted: JSON payloads, verified TLS, and
// the events this service emits.

export interface GitHubHookDeps extends Omit<HookRouteDeps, "sql"> {
  sql: Sql;
  publicUrl?: string | null;
}

const eventNames = z.array(z.enum(HOOK_EVENTS));
const config = z.object({
  url: sqlText(z.string().min(1).max(2000)),
  content_type: z.string().optional(),
  // "" is how a GitHub client clears a secret.
  secret: z.union([z.literal(""), hookSecret]).optional(),
  insecure_ssl: z.union([z.string(), z.number()]).optional(),
});
const createBody = z.strictObject({ name: z.literal("web").optional(), config, events: hookEvents.optional(), active: z.boolean().optional() });
const updateBody = z.strictObject({
  config: config.partial().optional(), events: hookEvents.optional(), add_events: eventNames.optional(), remove_events: eventNames.optional(), active: z.boolean().optional(),
});
type Config = Partial<z.infer<typeof config>>;

/** A body GitHub would refuse is its 422 (GitHub's "Validation Failed"), naming each problem. */
function parseGitHubBody<S extends z.ZodType>(schema: S, req: Request): z.infer<S> {
  const parsed = schema.safeParse(req.body ?? {});
  if (parsed.success) return parsed.data;
  throw unprocessable(`Invalid request. ${parsed.error.issues.map((i) => `${i.path.join(".") || "body"}: ${i.message}`).join("; ")}`);
}

/** What we cannot do, refused rather than silently ignored. */
function checkConfig(c: Config): void {
  if (c.content_type !== undefined && c.content_type !== "json") throw unprocessable("config.content_type: only json is supported (payloads are always JSON)");
  if (c.insecure_ssl !== undefined && String(c.insecure_ssl) !== "0") throw unprocessable('config.insecure_ssl: only "0" is supported (TLS certificates are always verified)');
}

/** The events after a PATCH: `events` replaces, then `add_events` and `remove_events` apply. */
export function patchedEvents(current: readonly HookEvent[], b: { events?: HookEvent[]; add_events?: HookEvent[]; remove_events?: HookEvent[] }): HookEvent[] {
  const out = new Set<HookEvent>([...(b.events ?? current), ...(b.add_events ?? [])]);
  for (const e of b.remove_events ?? []) out.delete(e);
  return HOOK_EVENTS.filter((e) => out.has(e));
}

/** What every hook route starts from: the guard, the admin check, the hook the path names. */
interface At {
  r: Router;
  deps: GitHubHookDeps;
  guard: RequestHandler[];
  admin: (req: Request, res: Response) => Promise<RepoContext>;
  hookOf: (ctx: RepoContext, req: Request) => Promise<Hook>;
}

export function githubHookRoutes(deps: GitHubHookDeps): Router {
  const at: At = {
    r: Router(), deps, guard: [authenticate(deps, repoParam), requireScope(SCOPE)],
    // Judged as the native routes judge (404 hidden, 403 not admin), then the URLs' context.
    admin: async (req, res) => {
      await repoOfAdmin(deps, res);
      return repoContext(deps.sql, req, res, deps.publicUrl);
    },
    hookOf: async (ctx, req) => {
      const hook = await getHook(deps.sql, ctx.repo.id, pathId(req, "hook_id", "hook"));
      if (!hook) throw notFound("hook");
      return hook;
    },
  };
  hookWrites(at);
  hookReads(at);
  deliveryRoutes(at);
  return at.r;
}

function hookReads({ r, deps, guard, admin, hookOf }: At): void {
  r.get(hookRoute.listHooks, ...guard, async (req, res) => {
    const ctx = await admin(req, res);
    res.json((await listHooks(deps.sql, ctx.repo.id)).map((h) => githubHookView(h, ctx.links)));
  });
  r.get(hookRoute.getHook, ...guard, async (req, res) => {
    const ctx = await admin(req, res);
    res.json(githubHookView(await hookOf(ctx, req), ctx.links));
  });
}

function hookWrites({ r, deps, guard, admin, hookOf }: At): void {
  r.post(hookRoute.createHook, ...guard, async (req, res) => {
    const body = parseGitHubBody(createBody, req);
    checkConfig(body.config);
    const ctx = await admin(req, res);
    const url = await checkedUrl(deps, body.config.url);
    const s = body.config.secret;
    const hookId = await createHook(deps.sql, ctx.repo.id, {
      url, secretEncrypted: s === undefined || s === "" ? null : deps.secrets.seal(s), events: body.events ?? [...HOOK_EVENTS],
      active: body.active ?? true, createdBy: authOf(res).token.userId,
    });
    if (hookId === null) throw unprocessable(`a repository has at most ${MAX_HOOKS_PER_REPO} hooks`);
    res.status(OPS.createHook.ok.status).json(githubHookView((await getHook(deps.sql, ctx.repo.id, hookId))!, ctx.links));
  });

  r.patch(hookRoute.updateHook, ...guard, async (req, res) => {
    const body = parseGitHubBody(updateBody, req);
    const c: Config = body.config ?? {};
    checkConfig(c);
    const ctx = await admin(req, res);
    const hook = await hookOf(ctx, req);
    const events = patchedEvents(hook.events, body);
    if (events.length === 0) throw unprocessable("Invalid request. events: a hook needs at least one event");
    const changes: HookChanges = {
      ...(c.url === undefined ? {} : { url: await checkedUrl(deps, c.url) }),
      ...(c.secret === undefined ? {} : { secretEncrypted: c.secret === "" ? null : deps.secrets.seal(c.secret) }),
      events,
      ...(body.active === undefined ? {} : { active: body.active }),
    };
    if (!(await updateHook(deps.sql, ctx.repo.id, hook.id, changes))) throw notFound("hook");
    res.json(githubHookView((await getHook(deps.sql, ctx.repo.id, hook.id))!, ctx.links));
  });

  r.delete(hookRoute.deleteHook, ...guard, async (req, res) => {
    const ctx = await admin(req, res);
    if (!(await deleteHook(deps.sql, ctx.repo.id, pathId(req, "hook_id", "hook")))) throw notFound("hook");
    res.status(OPS.deleteHook.ok.status).end();
  });
}

function deliveryRoutes({ r, deps, guard, admin, hookOf }: At): void {
  r.get(hookRoute.listDeliveries, ...guard, async (req, res) => {
    const ctx = await admin(req, res);
    const hook = await hookOf(ctx, req);
    const { page, link } = await deliveryPage(deps, req, hook.id, ctx.links.origin);
    if (link !== null) res.set("Link", link);
    res.json(page.map((d) => githubDeliveryItem(d, ctx.repo.id)));
  });

  r.get(hookRoute.getDelivery, ...guard, async (req, res) => {
    const ctx = await admin(req, res);
    const hook = await hookOf(ctx, req);
    const d = await getDelivery(deps.sql, hook.id, pathId(req, "delivery_id", "delivery"));
    if (!d) throw notFound("delivery");
    res.json(githubDeliveryView(d, ctx.repo.id, ctx.links, hook.id));
  });

  r.post(hookRoute.redeliver, ...guard, async (req, res) => {
    const ctx = await admin(req, res);
    const hook = await hookOf(ctx, req);
    await redeliverOnce(deps, hook.id, pathId(req, "delivery_id", "delivery"));
    res.status(OPS.redeliver.ok.status).json({});
  });
}
