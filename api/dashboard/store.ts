import type { Sql } from "../../infra/sql.ts";
import { SESSION_TTL_MS } from "./secrets.ts";

// The dashboard's two statements, by hash only. Both check that the user is still a site
// admin and not suspended: a demotion or a suspension ends the browser's access at its
// next request, without anyone revoking sessions.

// One statement: the ticket is spent (used_at IS NULL and unexpired, under its row lock,
// so of two racing uses exactly one finds it) and the session is created from it. A ticket
// whose user lost the right is left unspent and opens nothing.
const CONSUME_TICKET_SQL = `
  WITH ticket AS (
    UPDATE dashboard_tickets t SET used_at = now()
    FROM users u
    WHERE t.token_hash = $1::text AND t.used_at IS NULL AND t.expires_at > now()
      AND u.id = t.user_id AND u.is_site_admin AND u.suspended_at IS NULL
    RETURNING t.user_id
  )
  INSERT INTO dashboard_sessions (user_id, token_hash, expires_at)
  SELECT user_id, $2::text, now() + make_interval(secs => $3::float8) FROM ticket
  RETURNING user_id::text`;

const SESSION_SQL = `
  SELECT s.user_id::text FROM dashboard_sessions s JOIN users u ON u.id = s.user_id
  WHERE s.token_hash = $1::text AND s.revoked_at IS NULL AND s.expires_at > now()
    AND u.is_site_admin AND u.suspended_at IS NULL`;

/** Spends the ticket and opens a session; false when the ticket is unknown, used, expired or its user may not enter. */
export async function consumeTicket(sql: Sql, ticketHash: string, sessionHash: string): Promise<boolean> {
  const rows = await sql.rows<{ user_id: string }>(CONSUME_TICKET_SQL, [ticketHash, sessionHash, SESSION_TTL_MS / 1000]);
  return rows.length === 1;
}

/** Whether the session is open and its user still a site admin in good standing. */
export async function sessionIsValid(sql: Sql, sessionHash: string): Promise<boolean> {
  return (await sql.rows<{ user_id: string }>(SESSION_SQL, [sessionHash])).length === 1;
}
