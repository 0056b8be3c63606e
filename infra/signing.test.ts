import { describe, expect, it } from "vitest";
import type { IntentPayload } from "../domain/contracts.ts";
import { intentPayload } from "../domain/contracts.ts";
import {
  canonicalJson, IDEMPOTENCY_WINDOW_MS, INTENT_AGE_MARGIN_MS, INTENT_CLOCK_SKEW_MS, INTENT_MAX_AGE_MS, signFailure, signIntent, signResult, verifyFailure, verifyIntent, verifyResult,
} from "./signing.ts";

const KEY = "k".repeat(32);
const OTHER = "o".repeat(32);
const NOW = Date.UTC(2026, 11, 2, 12);

const base: IntentPayload = {
  intentUid: "cancel-job-1", targetId: 10, actorUserId: 2, tokenId: 3, idempotencyKey: null, requestId: "r1",
  reason: "flaky", params: { head_ref: "main", limit: 5 }, issuedAt: NOW,
};
const signed = signIntent(KEY, "cancel-job", base);
/** What a worker sees: the payload after JSON through Redis and the zod parse. */
const received = (p: IntentPayload) => intentPayload.parse(JSON.parse(JSON.stringify(p)));

describe("signed intents", () => {
  it("verifies what the API signed, after JSON through the queue and the worker's parse", () => {
    expect(verifyIntent([KEY], "cancel-job", received(signed), NOW)).toEqual({ ok: true, keyIndex: 0 });
  });

  it("fills defaults the same way on both sides: a payload without reason or params verifies once parsed", () => {
    const { reason: _r, params: _p, ...bare } = base;
    expect(verifyIntent([KEY], "cancel-job", received(signIntent(KEY, "cancel-job", bare)), NOW)).toEqual({ ok: true, keyIndex: 0 });
    const undef = { ...bare, reason: undefined, params: undefined } as unknown as IntentPayload;
    expect(verifyIntent([KEY], "cancel-job", received(signIntent(KEY, "cancel-job", undef)), NOW)).toEqual({ ok: true, keyIndex: 0 });
  });

  it.each<[string, (p: IntentPayload) => IntentPayload, string, string]>([
    ["no signature", ({ signature: _s, ...p }) => p, "cancel-job", "unsigned"],
    ["an empty signature", (p) => ({ ...p, signature: "" }), "cancel-job", "unsigned"],
    ["a signature of another shape", (p) => ({ ...p, signature: "sha256=abc" }), "cancel-job", "bad_signature"],
    ["another target", (p) => ({ ...p, targetId: 11 }), "cancel-job", "bad_signature"],
    ["another actor", (p) => ({ ...p, actorUserId: 1 }), "cancel-job", "bad_signature"],
    ["another token", (p) => ({ ...p, tokenId: 4 }), "cancel-job", "bad_signature"],
    ["another reason", (p) => ({ ...p, reason: null }), "cancel-job", "bad_signature"],
    ["another filter", (p) => ({ ...p, params: { head_ref: "main", limit: 500 } }), "cancel-job", "bad_signature"],
    ["another uid (a replay under a fresh idempotency record)", (p) => ({ ...p, intentUid: "cancel-job-2" }), "cancel-job", "bad_signature"],
    ["a later issue time", (p) => ({ ...p, issuedAt: NOW + 1 }), "cancel-job", "bad_signature"],
    ["another intent name (cancel made force-cancel)", (p) => p, "force-cancel-run", "bad_signature"],
  ])("refuses %s", (_what, change, name, reason) => {
    expect(verifyIntent([KEY], name, received(change(signed)), NOW)).toEqual({ ok: false, reason });
  });

  it("refuses a signature made with another key, and accepts the previous key during a rotation, saying which key signed", () => {
    const old = received(signIntent(OTHER, "cancel-job", base));
    expect(verifyIntent([KEY], "cancel-job", old, NOW)).toEqual({ ok: false, reason: "bad_signature" });
    expect(verifyIntent([KEY, OTHER], "cancel-job", old, NOW)).toEqual({ ok: true, keyIndex: 1 });
  });

  const HOUR = 3600 * 1000;
  it.each([
    ["just past the age limit", NOW + INTENT_MAX_AGE_MS + 1, "expired"],
    ["exactly at the age limit", NOW + INTENT_MAX_AGE_MS, "ok"],
    ["23 hours old", NOW + 23 * HOUR, "ok"],
    // The replay of the age window's issue: a key's record released after 24 h must not meet an admissible intent.
    ["a day old, as its Idempotency-Key's window ends", NOW + IDEMPOTENCY_WINDOW_MS, "expired"],
    ["from an API clock ahead by the skew, when the key's window ends", NOW - INTENT_CLOCK_SKEW_MS + IDEMPOTENCY_WINDOW_MS, "expired"],
    // Seen by a worker whose clock is behind the recording worker's by (less than) the margin.
    ["from an API clock ahead by the skew, as the key's window ends on a clock just under a margin behind", NOW - INTENT_CLOCK_SKEW_MS + IDEMPOTENCY_WINDOW_MS - INTENT_AGE_MARGIN_MS + 1, "expired"],
    ["from an API clock far ahead", NOW - INTENT_CLOCK_SKEW_MS - 1, "expired"],
    ["from an API clock a little ahead", NOW - INTENT_CLOCK_SKEW_MS, "ok"],
  ])("judges an intent %s by its signed issue time", (_what, workerNow, want) => {
    const v = verifyIntent([KEY], "cancel-job", received(signed), workerNow);
    expect(v.ok ? "ok" : v.reason).toBe(want);
  });

  it("ends the admissible age the clock skew and a margin before the idempotency window", () => {
    expect(INTENT_MAX_AGE_MS).toBe(IDEMPOTENCY_WINDOW_MS - INTENT_CLOCK_SKEW_MS - INTENT_AGE_MARGIN_MS);
    expect(INTENT_AGE_MARGIN_MS).toBeGreaterThan(0);
  });

  it("refuses a signed intent without an issue time", () => {
    const { issuedAt: _i, ...noTime } = base;
    expect(verifyIntent([KEY], "cancel-job", received(signIntent(KEY, "cancel-job", noTime)), NOW)).toEqual({ ok: false, reason: "expired" });
  });

  it("refuses a signed intent presented as a result, and a result presented as an intent", () => {
    const asResult = { ...(signed as unknown as Record<string, unknown>) };
    expect(verifyResult([KEY], signed.intentUid, asResult)).toEqual({ ok: false, reason: "bad_signature" });
    const r = signResult(KEY, signed.intentUid, { ok: true, body: {} });
    expect(verifyIntent([KEY], "cancel-job", received({ ...base, signature: r.signature }), NOW)).toEqual({ ok: false, reason: "bad_signature" });
  });

  it("writes one canonical text for objects whose keys come in any order", () => {
    expect(canonicalJson({ b: 1, a: [{ d: null, c: "x" }] })).toBe(canonicalJson({ a: [{ c: "x", d: null }], b: 1 }));
    expect(canonicalJson({ a: undefined, b: 2 })).toBe('{"b":2}');
  });
});

describe("signed results", () => {
  const UID = "cancel-job-1";
  const result = { ok: true, body: { job_id: 7, run_id: 3, repo_id: 1, changed_jobs: 1, run_completed: false, run_conclusion: "" } };
  const signedResult = signResult(KEY, UID, result);
  /** What the API reads: the returnvalue after JSON through Redis. */
  const read = (v: unknown) => JSON.parse(JSON.stringify(v)) as unknown;

  it("verifies what the worker signed, after JSON through Redis, and hands back the result without its signature", () => {
    expect(signedResult.signature).toMatch(/^v1=[0-9a-f]{64}$/);
    expect(verifyResult([KEY], UID, read(signedResult))).toEqual({ ok: true, value: result });
    const reordered = { signature: signedResult.signature, body: { ...result.body }, ok: true };
    expect(verifyResult([KEY], UID, read(reordered))).toEqual({ ok: true, value: result });
  });

  it.each<[string, unknown, string, string]>([
    ["no signature (an old worker, or a forgery)", result, UID, "unsigned"],
    ["an empty signature", { ...result, signature: "" }, UID, "unsigned"],
    ["a value that is no object", "applied", UID, "unsigned"],
    ["null", null, UID, "unsigned"],
    ["an array", [signedResult], UID, "unsigned"],
    ["a signature of another shape", { ...result, signature: "sha256=abc" }, UID, "bad_signature"],
    ["another job's signed result (moved to this job id)", signedResult, "cancel-job-2", "bad_signature"],
    ["a changed body", { ...signedResult, body: { ...result.body, changed_jobs: 9 } }, UID, "bad_signature"],
    ["a refusal made a success", { ...signResult(KEY, UID, { ok: false, error: "not_found", message: "job not found" }), ok: true }, UID, "bad_signature"],
    ["a field added", { ...signedResult, extra: 1 }, UID, "bad_signature"],
    ["a signature made with another key", signResult(OTHER, UID, result), UID, "bad_signature"],
  ])("refuses %s", (_what, raw, jobId, reason) => {
    expect(verifyResult([KEY], jobId, read(raw))).toEqual({ ok: false, reason });
  });

  it("accepts the previous key during a rotation", () => {
    expect(verifyResult([KEY, OTHER], UID, read(signResult(OTHER, UID, result)))).toEqual({ ok: true, value: result });
  });

  it("signs over the result, not over a signature it already carries", () => {
    expect(signResult(KEY, UID, { ...result, signature: "v1=stale" }).signature).toBe(signedResult.signature);
  });
});

describe("signed failures", () => {
  const UID = "cancel-job-u2-kabc";
  const signed = signFailure(KEY, UID, "db down [retry]");

  it("verifies a worker's failure, during a rotation too, and gives back its message", () => {
    expect(verifyFailure([KEY], UID, signed)).toEqual({ ok: true, message: "db down [retry]" });
    expect(verifyFailure([OTHER, KEY], UID, signed)).toEqual({ ok: true, message: "db down [retry]" });
  });

  it.each<[string, string, unknown, "unsigned" | "bad_signature"]>([
    ["a plain failedReason (forged, or BullMQ's own stalled failure)", UID, "job stalled more than allowable limit", "unsigned"],
    ["no failedReason", UID, undefined, "unsigned"],
    ["another job's signed failure", "cancel-job-other", signed, "bad_signature"],
    ["an altered message", UID, signed.replace("db down", "db up"), "bad_signature"],
    ["a guessed key", UID, signFailure(OTHER, UID, "x"), "bad_signature"],
  ])("refuses %s", (_what, jobId, reason, want) => {
    expect(verifyFailure([KEY], jobId, reason)).toEqual({ ok: false, reason: want });
  });
});
