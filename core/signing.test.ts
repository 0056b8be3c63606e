import { describe, expect, it } from "vitest";
import type { IntentPayload } from "./contracts.ts";
import { intentPayload } from "./contracts.ts";
import { canonicalJson, INTENT_CLOCK_SKEW_MS, INTENT_MAX_AGE_MS, signIntent, verifyIntent } from "./signing.ts";

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
    expect(verifyIntent([KEY], "cancel-job", received(signed), NOW)).toEqual({ ok: true });
  });

  it("fills defaults the same way on both sides: a payload without reason or params verifies once parsed", () => {
    const { reason: _r, params: _p, ...bare } = base;
    expect(verifyIntent([KEY], "cancel-job", received(signIntent(KEY, "cancel-job", bare)), NOW)).toEqual({ ok: true });
    const undef = { ...bare, reason: undefined, params: undefined } as unknown as IntentPayload;
    expect(verifyIntent([KEY], "cancel-job", received(signIntent(KEY, "cancel-job", undef)), NOW)).toEqual({ ok: true });
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

  it("refuses a signature made with another key, and accepts the previous key during a rotation", () => {
    const old = received(signIntent(OTHER, "cancel-job", base));
    expect(verifyIntent([KEY], "cancel-job", old, NOW)).toEqual({ ok: false, reason: "bad_signature" });
    expect(verifyIntent([KEY, OTHER], "cancel-job", old, NOW)).toEqual({ ok: true });
  });

  it.each([
    ["a day and a millisecond old", NOW + INTENT_MAX_AGE_MS + 1, "expired"],
    ["exactly a day old", NOW + INTENT_MAX_AGE_MS, "ok"],
    ["from an API clock far ahead", NOW - INTENT_CLOCK_SKEW_MS - 1, "expired"],
    ["from an API clock a little ahead", NOW - INTENT_CLOCK_SKEW_MS, "ok"],
  ])("judges an intent %s by its signed issue time", (_what, workerNow, want) => {
    const v = verifyIntent([KEY], "cancel-job", received(signed), workerNow);
    expect(v.ok ? "ok" : v.reason).toBe(want);
  });

  it("refuses a signed intent without an issue time", () => {
    const { issuedAt: _i, ...noTime } = base;
    expect(verifyIntent([KEY], "cancel-job", received(signIntent(KEY, "cancel-job", noTime)), NOW)).toEqual({ ok: false, reason: "expired" });
  });

  it("writes one canonical text for objects whose keys come in any order", () => {
    expect(canonicalJson({ b: 1, a: [{ d: null, c: "x" }] })).toBe(canonicalJson({ a: [{ c: "x", d: null }], b: 1 }));
    expect(canonicalJson({ a: undefined, b: 2 })).toBe('{"b":2}');
  });
});
