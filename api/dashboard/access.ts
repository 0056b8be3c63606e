import { assertNever } from "../../infra/assert.ts";
import { hasScope } from "../../domain/scopes.ts";
import type { DashboardGrant } from "./secrets.ts";

// Who gets which dashboard, decided from plain facts about the request (api/dashboard.ts
// gathers them). Pure, so the whole table is tested in access.test.ts.

export const SESSION_COOKIE = "actions_dashboard";

/** How the request says who it is. A PAT header wins over the cookie: it is what scripts send. */
export type Credential = { kind: "none" } | { kind: "token"; header: string } | { kind: "session"; value: string };

export function credentialOf(authorization: string | undefined, cookieHeader: string | undefined): Credential {
  if (authorization !== undefined && authorization.trim() !== "") return { kind: "token", header: authorization };
  const value = cookieValue(cookieHeader, SESSION_COOKIE);
  return value === undefined ? { kind: "none" } : { kind: "session", value };
}

/** The first cookie of that name in a Cookie header (RFC 6265 §5.4 order), undecoded. */
export function cookieValue(header: string | undefined, name: string): string | undefined {
  for (const pair of (header ?? "").split(";")) {
    const eq = pair.indexOf("=");
    if (eq < 0) continue;
    if (pair.slice(0, eq).trim() === name) return pair.slice(eq + 1).trim();
  }
  return undefined;
}

/** The dashboard grant a PAT's scopes carry: admin:write implies admin:read. */
export function grantOfScopes(scopes: readonly string[]): DashboardGrant | null {
  if (hasScope(scopes, "admin:write")) return "admin:write";
  if (hasScope(scopes, "admin:read")) return "admin:read";
  return null;
}

/** GET and HEAD only read (every Bull Board GET route is a read; see the router's notes). */
export const isReadMethod = (method: string) => method === "GET" || method === "HEAD";

/**
 * Defence in depth beside SameSite=Strict, for cookie-authenticated writes: the browser's
 * `Sec-Fetch-Site` must say same-origin; a browser too old to send it must send an
 * `Origin` equal to ours (`self`, see expectedOrigin; null: none we can vouch for, so only
 * Sec-Fetch-Site can pass). Neither header → refused (browsers send Origin on every
 * non-GET fetch, and Bull Board's UI writes with PUT/POST/PATCH).
 */
export function isSameOrigin(h: { secFetchSite: string | undefined; origin: string | undefined; self: string | null }): boolean {
  if (h.secFetchSite !== undefined) return h.secFetchSite === "same-origin";
  return h.self !== null && h.origin !== undefined && h.origin === h.self;
}

export interface OriginFacts {
  /** PUBLIC_URL's origin, when the operator configured one. */
  publicOrigin: string | null;
  trustProxy: boolean;
  /** What Express makes of the request (the socket's scheme without a trusted proxy). */
  protocol: string;
  host: string | undefined;
}

/**
 * The origin an `Origin` header is compared with (docs/security.md, "Dashboard"). The
 * configured public URL when there is one: the Host header is the client's to choose (a
 * rebound DNS name brings its own). Without one, the Host header only when no proxy is
 * trusted: behind a proxy, Host and scheme are what the proxy passed on, not what the
 * browser's page was served from, so nothing is compared and only Sec-Fetch-Site passes.
 */
export function expectedOrigin(f: OriginFacts): string | null {
  if (f.publicOrigin !== null) return f.publicOrigin;
  if (f.trustProxy || f.host === undefined || f.host === "") return null;
  return `${f.protocol}://${f.host}`;
}

/**
 * How the login hands the browser over to the dashboard. A navigation that came from
 * another site (a link clicked in a web mail or chat) is cross-site, and so is a redirect
 * it follows: the new SameSite=Strict cookie would not go with it and the dashboard would
 * answer 404. A page of ours that navigates on is a same-site navigation, so those get it.
 */
export function loginHandover(secFetchSite: string | undefined): "redirect" | "page" {
  return secFetchSite === undefined || secFetchSite === "none" || secFetchSite === "same-origin" ? "redirect" : "page";
}

export interface DashboardRequest {
  /** What the (checked) credential grants; null: not a site admin with an admin scope, or no valid credential. */
  grant: DashboardGrant | null;
  via: Credential["kind"];
  method: string;
  sameOrigin: boolean;
}

export type Board = "read-only" | "writable";

export type DashboardDecision =
  | { kind: "hidden" }
  | { kind: "refused"; message: string }
  | { kind: "serve"; board: Board };

export const NEEDS_WRITE = "dashboard actions need admin:write";
export const CROSS_SITE = "cross-site dashboard request refused";

export function decide(r: DashboardRequest): DashboardDecision {
  if (r.grant === null || r.via === "none") return { kind: "hidden" };
  const board: Board = r.grant === "admin:write" ? "writable" : "read-only";
  if (isReadMethod(r.method)) return { kind: "serve", board };
  if (board === "read-only") return { kind: "refused", message: NEEDS_WRITE };
  switch (r.via) {
    case "token":
      // A header a page cannot make a browser send: no CSRF to defend against.
      return { kind: "serve", board };
    case "session":
      return r.sameOrigin ? { kind: "serve", board } : { kind: "refused", message: CROSS_SITE };
    default:
      return assertNever(r.via, "credential kind");
  }
}
