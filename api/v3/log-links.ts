import { createHmac, timingSafeEqual } from "node:crypto";
import { LOG_LINK_ROUTES } from "./operations.ts";

// GitHub answers a log download with a redirect to a short-lived URL that needs no
// credentials (clients drop the Authorization header on a redirect). Ours is this service's
// own URL, signed: an HMAC over what it names and when it expires, so it cannot be made up,
// widened to another job, or used after it expires (docs/github-api.md, "Logs").

export const LOG_LINK_TTL_S = 60;

export type LogSubject = { kind: "job"; id: bigint } | { kind: "run"; id: bigint };

const message = (s: LogSubject, expires: number) => `log-link:v1:${s.kind}:${s.id}:${expires}`;
const mac = (key: Buffer, text: string) => createHmac("sha256", key).update(text).digest("base64url");

/** The path and query of a signed link to `s`'s log, valid until now + ttl. */
export function signLogLink(key: Buffer, s: LogSubject, nowMs: number, ttlS = LOG_LINK_TTL_S): string {
  const expires = Math.floor(nowMs / 1000) + ttlS;
  const path = LOG_LINK_ROUTES[s.kind].replace("{id}", String(s.id));
  return `${path}?expires=${expires}&signature=${mac(key, message(s, expires))}`;
}

export type LinkVerdict = { ok: true } | { ok: false; reason: "expired" | "bad_signature" };

export function verifyLogLink(key: Buffer, s: LogSubject, expiresText: unknown, signature: unknown, nowMs: number): LinkVerdict {
  if (typeof expiresText !== "string" || !/^\d{1,12}$/.test(expiresText) || typeof signature !== "string") return { ok: false, reason: "bad_signature" };
  const expected = Buffer.from(mac(key, message(s, Number(expiresText))));
  const given = Buffer.from(signature);
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return { ok: false, reason: "bad_signature" };
  return Number(expiresText) * 1000 < nowMs ? { ok: false, reason: "expired" } : { ok: true };
}

/** The links' key, derived from the intent signing key so every API process agrees on it without another secret. */
export function logLinkKey(intentSigningKey: string): Buffer {
  return createHmac("sha256", intentSigningKey).update("log-links").digest();
}
