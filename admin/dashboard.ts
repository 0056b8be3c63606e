import type { PrismaClient } from "../infra/db.ts";
import { DASHBOARD_GRANTS, isDashboardGrant, newSecret, TICKET_TTL_MS } from "../api/dashboard/secrets.ts";
import { AdminError } from "./ops.ts";

// `admin dashboard-url`: a one-use link that lets a site admin's browser into the queue
// dashboard (api/dashboard.ts spends it at /admin/queues/login). Only its hash is stored.

export const DEFAULT_API_URL = "http://127.0.0.1:3000";

/** The API's base URL as given (flag, then API_URL): http(s), no credentials, query or fragment. */
export function apiBase(given: string | undefined): string {
  const raw = given ?? DEFAULT_API_URL;
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw new AdminError(`API URL must be an absolute http(s) URL, got "${raw}"`);
  }
  if ((u.protocol !== "http:" && u.protocol !== "https:") || u.search !== "" || u.hash !== "" || u.username !== "" || u.password !== "") {
    throw new AdminError(`API URL must be a plain http(s) URL without credentials, query or fragment, got "${raw}"`);
  }
  return u.href.replace(/\/+$/, "");
}

export async function dashboardUrl(prisma: PrismaClient, a: { user: string; scope?: string; apiUrl?: string }) {
  const scope = a.scope ?? "admin:read";
  if (!isDashboardGrant(scope)) throw new AdminError(`--scope must be one of ${DASHBOARD_GRANTS.join(", ")}, got "${scope}"`);
  const base = apiBase(a.apiUrl);
  const u = await prisma.user.findUnique({ where: { login: a.user }, select: { id: true, isSiteAdmin: true, suspendedAt: true } });
  if (!u) throw new AdminError(`no user ${a.user}`);
  if (!u.isSiteAdmin) throw new AdminError(`user ${a.user} is not a site admin`);
  if (u.suspendedAt !== null) throw new AdminError(`user ${a.user} is suspended`);
  const ticket = newSecret("ticket", scope);
  // The database's clock, which the login compares against, not this machine's.
  const [row] = await prisma.$queryRaw<{ expires_at: Date }[]>`
    INSERT INTO dashboard_tickets (user_id, token_hash, expires_at)
    VALUES (${u.id}, ${ticket.hash}, now() + make_interval(secs => ${TICKET_TTL_MS / 1000}::float8))
    RETURNING expires_at`;
  return { url: `${base}/admin/queues/login?ticket=${ticket.secret}`, expires_at: row!.expires_at.toISOString(), user: a.user, scope };
}
