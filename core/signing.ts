import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import type { IntentName, IntentPayload } from "./contracts.ts";

// Intents are signed by the API and verified by workers (docs/security.md, "Signed
// intents"): a party that can write to Redis can add a queue job, but cannot make one a
// worker applies. The HMAC covers the intent's name (cancel vs force-cancel) and every
// field of its payload, in a canonical order, so a signature cannot be moved to another
// target, kind or actor.

const VERSION = "v1";

/** How long a signed intent may wait to be applied; older ones are refused as replays. */
export const INTENT_MAX_AGE_MS = 24 * 3600 * 1000;
/** How far ahead of the worker's clock an API's clock may be. */
export const INTENT_CLOCK_SKEW_MS = 5 * 60 * 1000;

/** JSON with object keys sorted at every level: one text for one value. */
export function canonicalJson(v: unknown): string {
  if (v === null || typeof v !== "object") return JSON.stringify(v) ?? "null";
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(",")}]`;
  const entries = Object.entries(v as Record<string, unknown>)
    .filter(([, x]) => x !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, x]) => `${JSON.stringify(k)}:${canonicalJson(x)}`).join(",")}}`;
}

/** The text the signature covers: the name and every payload field but the signature. */
export function signedText(name: string, p: IntentPayload): string {
  const { signature: _omit, ...fields } = p;
  // The worker's parse fills absent optional fields with null: sign them the same way.
  return `${VERSION}\n${name}\n${canonicalJson({ ...fields, reason: fields.reason ?? null, params: fields.params ?? null })}`;
}

function mac(key: string, text: string): Buffer {
  return createHmac("sha256", key).update(text).digest();
}

export function signIntent(key: string, name: IntentName, p: IntentPayload): IntentPayload {
  const unsigned: IntentPayload = { ...p, signature: undefined };
  return { ...p, signature: `${VERSION}=${mac(key, signedText(name, unsigned)).toString("hex")}` };
}

export type Verdict =
  | { ok: true }
  | { ok: false; reason: "unsigned" | "bad_signature" | "expired" };

/**
 * Checks a payload read from the queue against the current key and, during a rotation,
 * the previous one; then its age, so a signed intent cannot be replayed after the
 * idempotency records that make a replay harmless have expired.
 */
export function verifyIntent(keys: readonly string[], name: string, p: IntentPayload, nowMs: number): Verdict {
  const sig = p.signature;
  if (typeof sig !== "string" || sig === "") return { ok: false, reason: "unsigned" };
  const m = /^v1=([0-9a-f]{64})$/.exec(sig);
  if (!m) return { ok: false, reason: "bad_signature" };
  const given = Buffer.from(m[1]!, "hex");
  const text = signedText(name, p);
  if (!keys.some((k) => timingSafeEqual(given, mac(k, text)))) return { ok: false, reason: "bad_signature" };
  const issued = p.issuedAt;
  if (issued === undefined || nowMs - issued > INTENT_MAX_AGE_MS || issued - nowMs > INTENT_CLOCK_SKEW_MS) return { ok: false, reason: "expired" };
  return { ok: true };
}

/** For commands that start api and worker together (npm start, bench, chaos): one key for the run. */
export function ensureSigningKey(env: NodeJS.ProcessEnv = process.env): string {
  env.INTENT_SIGNING_KEY ??= randomBytes(32).toString("hex");
  return env.INTENT_SIGNING_KEY;
}
