import { randomBase62, sha256 } from "../../domain/tokens.ts";

// The dashboard's two browser secrets: the one-use ticket in the link `admin dashboard-url`
// prints, and the session cookie the ticket is exchanged for. The database keeps only
// sha256 of the whole string.
//
// The grant (read-only or actions) is written into the secret itself, `dbt_r_…` or
// `dbt_w_…`, because the tables have no scope column. The letter is inside the hashed
// string, so it cannot be changed: `dbt_w_X` hashes differently from the issued `dbt_r_X`
// and finds no row. A row exists only for the exact string the CLI issued.

export const DASHBOARD_GRANTS = ["admin:read", "admin:write"] as const;
export type DashboardGrant = (typeof DASHBOARD_GRANTS)[number];

export type SecretKind = "ticket" | "session";

const PREFIX: Record<SecretKind, string> = { ticket: "dbt_", session: "dbs_" };
const LETTER: Record<DashboardGrant, string> = { "admin:read": "r", "admin:write": "w" };
const SECRET = /^(dbt|dbs)_([rw])_[0-9A-Za-z]{40}$/;

export const TICKET_TTL_MS = 10 * 60_000;
export const SESSION_TTL_MS = 60 * 60_000;

export function isDashboardGrant(s: string): s is DashboardGrant {
  return (DASHBOARD_GRANTS as readonly string[]).includes(s);
}

export function newSecret(kind: SecretKind, grant: DashboardGrant): { secret: string; hash: string } {
  const secret = `${PREFIX[kind]}${LETTER[grant]}_${randomBase62(40)}`;
  return { secret, hash: sha256(secret) };
}

/** The grant a well-formed secret of this kind claims and the hash to look it up by; else null. */
export function readSecret(kind: SecretKind, s: string | undefined): { grant: DashboardGrant; hash: string } | null {
  const m = s === undefined ? null : SECRET.exec(s);
  if (!m || `${m[1]}_` !== PREFIX[kind]) return null;
  return { grant: m[2] === "w" ? "admin:write" : "admin:read", hash: sha256(s!) };
}
