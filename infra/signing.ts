import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import type { IntentName, IntentPayload } from "../domain/contracts.ts";

// Intents are signed by the API and verified by workers (docs/security.md, "Signed
// intents"): a party that can write to Redis can add a queue job, but cannot make one a
// worker applies. The HMAC covers the intent's name (cancel vs force-cancel) and every
// field of its payload, in a canonical order, so a signature cannot be moved to another
// target, kind or actor.

const VERSION = "v1";

/**
 * How long a keyed intent's record answers a repeat of its Idempotency-Key (worker/intent.ts);
 * after it the key is free and its record no longer recognises a replay.
 */
export const IDEMPOTENCY_WINDOW_MS = 24 * 3600 * 1000;
/** How far ahead of the worker's clock an API's clock may be. */
export const INTENT_CLOCK_SKEW_MS = 5 * 60 * 1000;
/** Between the worker that recorded a key and the one that sees a replay: their clocks, and the boundaries. */
export const INTENT_AGE_MARGIN_MS = 5 * 60 * 1000;
/**
 * How long a signed intent may wait to be applied; older ones are refused as replays. It
 * ends before the idempotency window can (docs/security.md, "Signed intents"): the record
 * of the first application is written no earlier than the issue time less the API's skew,
 * so an intent admitted at its last moment still finds that record.
 */
export const INTENT_MAX_AGE_MS = IDEMPOTENCY_WINDOW_MS - INTENT_CLOCK_SKEW_MS - INTENT_AGE_MARGIN_MS;

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
  /** `keyIndex`: which of the keys signed it (the worker signs the result with the same one). */
  | { ok: true; keyIndex: number }
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
  const keyIndex = matchingKey(keys, Buffer.from(m[1]!, "hex"), signedText(name, p));
  if (keyIndex < 0) return { ok: false, reason: "bad_signature" };
  const issued = p.issuedAt;
  if (issued === undefined || nowMs - issued > INTENT_MAX_AGE_MS || issued - nowMs > INTENT_CLOCK_SKEW_MS) return { ok: false, reason: "expired" };
  return { ok: true, keyIndex };
}

function matchingKey(keys: readonly string[], given: Buffer, text: string): number {
  return keys.findIndex((k) => timingSafeEqual(given, mac(k, text)));
}

// Results travel back the same way (BullMQ's completed event and the job's returnvalue), where
// anyone who can write to Redis could put a false "applied" for a pending intent. The worker
// signs each result with the key that signed its intent, bound to the queue job id (the
// intent's uid); the API believes only a result that verifies.

/** The text a result's signature covers; the "result" line keeps it apart from any intent's text. */
export function resultText(jobId: string, result: unknown): string {
  return `${VERSION}\nresult\n${jobId}\n${canonicalJson(result)}`;
}

export type Signed<R> = R & { signature: string };

export function signResult<R extends object>(key: string, jobId: string, result: R): Signed<R> {
  const { signature: _omit, ...fields } = result as R & { signature?: unknown };
  return { ...result, signature: `${VERSION}=${mac(key, resultText(jobId, fields)).toString("hex")}` };
}

export type ResultVerdict =
  /** `value`: the result without its signature, still to be parsed. */
  | { ok: true; value: Record<string, unknown> }
  | { ok: false; reason: "unsigned" | "bad_signature" };

/** Checks a returnvalue read from Redis for queue job `jobId` against the API's keys. */
export function verifyResult(keys: readonly string[], jobId: string, raw: unknown): ResultVerdict {
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) return { ok: false, reason: "unsigned" };
  const { signature: sig, ...value } = raw as Record<string, unknown>;
  if (typeof sig !== "string" || sig === "") return { ok: false, reason: "unsigned" };
  const m = /^v1=([0-9a-f]{64})$/.exec(sig);
  if (!m) return { ok: false, reason: "bad_signature" };
  if (matchingKey(keys, Buffer.from(m[1]!, "hex"), resultText(jobId, value)) < 0) return { ok: false, reason: "bad_signature" };
  return { ok: true, value };
}

// A failure travels as BullMQ's failedReason (the thrown error's message), which anyone who
// can write to Redis can also forge: a false "failed" would make the API answer 500 for an
// intent a worker goes on to apply. The worker appends a signature over the job id and the
// message; the API believes only a failure that verifies.

const FAILURE_SIG = / \[v1=([0-9a-f]{64})\]$/;

function failureText(jobId: string, message: string): string {
  return `${VERSION}\nfailed\n${jobId}\n${message}`;
}

/** `message` with its signature appended, as the worker throws it. */
export function signFailure(key: string, jobId: string, message: string): string {
  return `${message} [${VERSION}=${mac(key, failureText(jobId, message)).toString("hex")}]`;
}

export type FailureVerdict = { ok: true; message: string } | { ok: false; reason: "unsigned" | "bad_signature" };

/** Checks a failedReason read from Redis for queue job `jobId`. */
export function verifyFailure(keys: readonly string[], jobId: string, failedReason: unknown): FailureVerdict {
  if (typeof failedReason !== "string") return { ok: false, reason: "unsigned" };
  const m = FAILURE_SIG.exec(failedReason);
  if (!m) return { ok: false, reason: "unsigned" };
  const message = failedReason.slice(0, m.index);
  if (matchingKey(keys, Buffer.from(m[1]!, "hex"), failureText(jobId, message)) < 0) return { ok: false, reason: "bad_signature" };
  return { ok: true, message };
}

/** For commands that start api and worker together (npm start, bench, chaos): one key for the run. */
export function ensureSigningKey(env: NodeJS.ProcessEnv = process.env): string {
  env.INTENT_SIGNING_KEY ??= randomBytes(32).toString("hex");
  return env.INTENT_SIGNING_KEY;
}
