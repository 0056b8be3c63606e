import { describe, expect, it } from "vitest";
import { logLinkKey, signLogLink, verifyLogLink, type LogSubject } from "./log-links.ts";

const key = logLinkKey("a-signing-key-of-at-least-32-characters!!");
const now = Date.UTC(2026, 11, 3, 12, 0, 0);
const job: LogSubject = { kind: "job", id: 42n };
const parts = (link: string) => {
  const u = new URL(link, "http://x");
  return { path: u.pathname, expires: u.searchParams.get("expires"), signature: u.searchParams.get("signature") };
};

describe("signed log links", () => {
  it("name their subject and verify until they expire", () => {
    const l = parts(signLogLink(key, job, now));
    expect(l.path).toBe("/api/v3/_logs/jobs/42");
    expect(parts(signLogLink(key, { kind: "run", id: 7n }, now)).path).toBe("/api/v3/_logs/runs/7.zip");
    expect(verifyLogLink(key, job, l.expires, l.signature, now)).toEqual({ ok: true });
    expect(verifyLogLink(key, job, l.expires, l.signature, now + 60_000)).toEqual({ ok: true });
    expect(verifyLogLink(key, job, l.expires, l.signature, now + 61_000)).toEqual({ ok: false, reason: "expired" });
  });

  it.each<[string, (l: ReturnType<typeof parts>) => [LogSubject, unknown, unknown, Buffer?]]>([
    ["another job", (l) => [{ kind: "job", id: 43n }, l.expires, l.signature]],
    ["the same id as a run", (l) => [{ kind: "run", id: 42n }, l.expires, l.signature]],
    ["a later expiry", (l) => [job, String(Number(l.expires) + 3600), l.signature]],
    ["a changed signature", (l) => [job, l.expires, `${l.signature!.slice(0, -1)}${l.signature!.endsWith("A") ? "B" : "A"}`]],
    ["a shorter signature", (l) => [job, l.expires, l.signature!.slice(0, 10)]],
    ["no signature", (l) => [job, l.expires, undefined]],
    ["a repeated parameter", (l) => [job, [l.expires, l.expires], l.signature]],
    ["an expiry that is no number", (l) => [job, "soon", l.signature]],
    ["another process's key", (l) => [job, l.expires, l.signature, logLinkKey("another-signing-key-of-32-characters!!!")]],
  ])("refuse %s", (_name, tamper) => {
    const [subject, expires, signature, k] = tamper(parts(signLogLink(key, job, now)));
    expect(verifyLogLink(k ?? key, subject, expires, signature, now)).toEqual({ ok: false, reason: "bad_signature" });
  });

  it("derive one key from one signing key, so every API process accepts every other's links", () => {
    expect(logLinkKey("a-signing-key-of-at-least-32-characters!!").equals(key)).toBe(true);
  });
});
