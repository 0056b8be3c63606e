import { createBullBoard } from "@bull-board/api";
import { BullMQAdapter } from "@bull-board/api/bullMQAdapter";
import { ExpressAdapter } from "@bull-board/express";
import type { Queue } from "bullmq";
import { Router, type RequestHandler } from "express";
import { hasScope } from "../core/scopes.ts";
import { resolveToken, type AuthDeps } from "./auth.ts";
import { notFound } from "./errors.ts";

export const DASHBOARD_PATH = "/admin/queues";

/**
 * Site admins with an `admin:read` token see the dashboard; for everyone else it does not
 * exist (404, not 401/403: its presence is not advertised).
 */
function siteAdminOnly(deps: Pick<AuthDeps, "sql">): RequestHandler {
  return async (req, _res, next) => {
    const token = await resolveToken(deps, req.headers.authorization).catch(() => null);
    if (!token || !token.user.isSiteAdmin || !hasScope(token.scopes, "admin:read")) throw notFound("route");
    next();
  };
}

/** Bull Board over the service's queues, behind the site-admin guard. */
export function dashboardRouter(deps: Pick<AuthDeps, "sql">, queues: Queue[]): Router {
  const adapter = new ExpressAdapter();
  adapter.setBasePath(DASHBOARD_PATH);
  createBullBoard({
    queues: queues.map((q) => new BullMQAdapter(q, { readOnlyMode: false })),
    serverAdapter: adapter,
    options: { uiConfig: { boardTitle: "actions-lifecycle" } },
  });
  const r = Router();
  r.use(DASHBOARD_PATH, siteAdminOnly(deps), adapter.getRouter() as RequestHandler);
  return r;
}
