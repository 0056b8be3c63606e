import { createBullBoard } from "@bull-board/api";
import { BullMQAdapter } from "@bull-board/api/bullMQAdapter";
import { ExpressAdapter } from "@bull-board/express";
import type { Queue } from "bullmq";
import { Router, type Express, type Request, type RequestHandler, type Response } from "express";
import { resolveToken, type AuthDeps } from "./auth.ts";
import { HttpError, notFound } from "./errors.ts";
import { DASHBOARD_ROUTE_LABEL, UNMATCHED_ROUTE_LABEL } from "./metrics.ts";
import { credentialOf, decide, expectedOrigin, grantOfScopes, isSameOrigin, loginHandover, SESSION_COOKIE, type Board, type Credential, type DashboardRequest } from "./dashboard/access.ts";
import { newSecret, readSecret, SESSION_TTL_MS, type DashboardGrant } from "./dashboard/secrets.ts";
import { consumeTicket, sessionIsValid } from "./dashboard/store.ts";
import { assertNever } from "../infra/assert.ts";

export const DASHBOARD_PATH = "/admin/queues";
const LOGIN = "/login";

// Bull Board over the service's queues, for site admins only; for everyone else the path
// does not exist (404, not 401/403: its presence is not advertised).
//
// Bull Board's read-only mode is fixed per queue adapter when a board is created, so there
// are two boards over the same queues, chosen per request: read-only for admin:read (its UI
// then shows no action buttons, and its own handlers refuse writes too), writable for
// admin:write. Every non-GET/HEAD request of an admin:read caller is refused here before
// it reaches either board. In @bull-board/api 9.10.1 (dist/routes.js) every GET route
// reads (queues, job, logs, flow, metrics, workers, rate-limit, schedulers, redis stats);
// all writes are PUT, POST or PATCH.

type Dashboards = Record<Board, Express>;

function board(queues: Queue[], readOnlyMode: boolean): Express {
  const adapter = new ExpressAdapter();
  adapter.setBasePath(DASHBOARD_PATH);
  createBullBoard({
    // Queue shards share a name (domain/queue-shards.ts): the board tells them apart by their BullMQ prefix.
    queues: queues.map((q) => new BullMQAdapter(q, { readOnlyMode, prefix: queues.filter((o) => o.name === q.name).length > 1 ? `${q.opts.prefix}:` : "" })),
    serverAdapter: adapter,
    // The workers panel lists every client of the Redis server (CLIENT LIST), which the API's
    // Redis user may not do: it would show other tenants' connections (docs/security.md).
    options: { uiConfig: { boardTitle: readOnlyMode ? "actions-lifecycle (read-only)" : "actions-lifecycle", showWorkers: false } },
  });
  const app = adapter.getRouter() as Express;
  app.disable("x-powered-by");
  return app;
}

/** Runs a board (an Express app) in place, and gives the request back to our app as `app.use(subApp)` would. */
function serve(app: Express, req: Request, res: Response, next: (err?: unknown) => void): void {
  const reqProto = Object.getPrototypeOf(req) as object;
  const resProto = Object.getPrototypeOf(res) as object;
  app(req, res, (err?: unknown) => {
    Object.setPrototypeOf(req, reqProto);
    Object.setPrototypeOf(res, resProto);
    next(err);
  });
}

/** What the credential grants on the dashboard right now; null for anything short of a site admin with an admin scope. */
async function grantOf(deps: Pick<AuthDeps, "sql">, cred: Credential): Promise<DashboardGrant | null> {
  switch (cred.kind) {
    case "none":
      return null;
    case "token": {
      const token = await resolveToken(deps, cred.header).catch(() => null);
      return token && token.user.isSiteAdmin ? grantOfScopes(token.scopes) : null;
    }
    case "session": {
      const session = readSecret("session", cred.value);
      return session && (await sessionIsValid(deps.sql, session.hash)) ? session.grant : null;
    }
    default:
      return assertNever(cred, "credential");
  }
}

/** Where an `Origin` header must point (api/dashboard/access.ts expectedOrigin). */
export interface OriginPolicy {
  /** PUBLIC_URL's origin; null when unset. */
  publicOrigin: string | null;
  trustProxy: boolean;
}
type DashboardDeps = Pick<AuthDeps, "sql"> & { origin?: OriginPolicy };

async function requestFacts(deps: DashboardDeps, req: Request): Promise<DashboardRequest> {
  const policy = deps.origin ?? { publicOrigin: null, trustProxy: false };
  const self = expectedOrigin({ ...policy, protocol: req.protocol, host: req.get("host") });
  const cred = credentialOf(req.get("authorization"), req.get("cookie"));
  return {
    grant: await grantOf(deps, cred),
    via: cred.kind,
    method: req.method,
    sameOrigin: isSameOrigin({ secFetchSite: req.get("sec-fetch-site"), origin: req.get("origin"), self }),
  };
}

/**
 * `GET /admin/queues/login?ticket=…`: spends the one-use ticket, opens a session of the
 * ticket's grant and sets its cookie. An unknown, used or expired ticket is the same 404
 * as any unknown path (no oracle).
 */
async function login(deps: Pick<AuthDeps, "sql">, req: Request, res: Response): Promise<void> {
  const given = req.query.ticket;
  const ticket = req.method === "GET" && typeof given === "string" ? readSecret("ticket", given) : null;
  if (!ticket) throw notFound("route");
  const session = newSecret("session", ticket.grant);
  if (!(await consumeTicket(deps.sql, ticket.hash, session.hash))) throw notFound("route");
  res.locals.routeLabel = DASHBOARD_ROUTE_LABEL;
  res.cookie(SESSION_COOKIE, session.secret, {
    path: DASHBOARD_PATH,
    maxAge: SESSION_TTL_MS,
    httpOnly: true,
    sameSite: "strict",
    secure: req.secure,
  });
  // The ticket is spent, but its URL need not travel further.
  res.set("Referrer-Policy", "no-referrer");
  const handover = loginHandover(req.get("sec-fetch-site"));
  switch (handover) {
    case "redirect":
      return res.redirect(303, DASHBOARD_PATH);
    case "page":
      res.type("html").send(HANDOVER_PAGE);
      return;
    default:
      return assertNever(handover, "handover");
  }
}

const HANDOVER_PAGE = `<!doctype html><meta charset="utf-8"><meta http-equiv="refresh" content="0;url=${DASHBOARD_PATH}"><title>Queue dashboard</title><a href="${DASHBOARD_PATH}">Open the queue dashboard</a>`;

/** The dashboard and its login, behind the site-admin guard. */
export function dashboardRouter(deps: DashboardDeps, queues: Queue[]): Router {
  const boards: Dashboards = { "read-only": board(queues, true), writable: board(queues, false) };
  const r = Router();
  r.use(DASHBOARD_PATH, async (req, res, next) => {
    // Metrics never name a dashboard route: refused requests count as any unknown path,
    // admitted ones as one fixed label (api/metrics.ts routeLabel).
    res.locals.routeLabel = UNMATCHED_ROUTE_LABEL;
    if (req.path === LOGIN) return login(deps, req, res);
    const decision = decide(await requestFacts(deps, req));
    switch (decision.kind) {
      case "hidden":
        throw notFound("route");
      case "refused":
        res.locals.routeLabel = DASHBOARD_ROUTE_LABEL;
        throw new HttpError(403, decision.message);
      case "serve":
        res.locals.routeLabel = DASHBOARD_ROUTE_LABEL;
        return serve(boards[decision.board], req, res, next);
      default:
        return assertNever(decision, "dashboard decision");
    }
  });
  return r;
}
