import type { AuthedToken, TokenForTarget } from "./data/access.ts";
import { assertNever } from "../infra/assert.ts";
import { hasScope, type Scope } from "./scopes.ts";

// Who may do what, decided on plain data. The API asks before it enqueues an intent; the
// worker asks again inside the intent's transaction (docs/security.md, "Signed intents"),
// so a token revoked or a role removed in between refuses the intent with the same answer.

export type TokenVerdict = { ok: true } | { ok: false; reason: "invalid token" | "token revoked" | "token expired" | "account suspended" };

/** The checks of a token itself, in the order the API answers them (401 reasons). */
export function tokenVerdict(token: AuthedToken | null, nowMs: number): TokenVerdict {
  if (!token) return { ok: false, reason: "invalid token" };
  if (token.revokedAt !== null) return { ok: false, reason: "token revoked" };
  if (token.expiresAt !== null && token.expiresAt.getTime() <= nowMs) return { ok: false, reason: "token expired" };
  if (token.user.suspendedAt !== null) return { ok: false, reason: "account suspended" };
  return { ok: true };
}

export type IntentAuthorization =
  | { kind: "allowed" }
  | { kind: "unauthorized"; message: string }
  | { kind: "forbidden"; message: string }
  | { kind: "not_found" };

/** Every intent changes something, so each needs the scope the mutating routes require. */
export const INTENT_SCOPE: Scope = "repo:write";

/**
 * May the intent's actor, through the intent's token, still change its target? `found` is
 * the token with its access to the target's repository (null: no such token).
 */
export function authorizeIntent(found: TokenForTarget | null, actorUserId: bigint, nowMs: number): IntentAuthorization {
  // A token of another user is as good as none: the payload names both, both must agree.
  const token = found && found.token.userId === actorUserId ? found.token : null;
  const v = tokenVerdict(token, nowMs);
  if (!v.ok) return { kind: "unauthorized", message: v.reason };
  if (!hasScope(token!.scopes, INTENT_SCOPE)) return { kind: "forbidden", message: `token lacks required scope: ${INTENT_SCOPE}` };
  switch (found!.access) {
    case "none":
      return { kind: "not_found" };
    case "read":
      return { kind: "forbidden", message: "write permission required" };
    case "write":
      return { kind: "allowed" };
    default:
      return assertNever(found!.access, "access");
  }
}
