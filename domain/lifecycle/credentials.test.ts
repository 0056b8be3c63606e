import { describe, expect, it } from "vitest";
import { JOB_TOKEN_AFTER_END_MS, judgeJobToken, judgeRegistration, type JobTokenDecision, type JobTokenRow } from "./credentials.ts";

const NOW = 1_700_000_000_000;
const live: JobTokenRow = { expiresMs: NOW + 3_600_000, tokenRevokedMs: null, runnerRevokedMs: null, jobStatus: "running", jobCompletedMs: null };
const ok: JobTokenDecision = { kind: "ok" };
const refused = (reason: string) => ({ kind: "refused", reason });

describe("judgeJobToken", () => {
  const cases: [string, Partial<JobTokenRow>, JobTokenDecision | ReturnType<typeof refused>][] = [
    ["a running job's live token", {}, ok],
    ["a queued job (claimed, not started yet)", { jobStatus: "queued" }, ok],
    ["expired", { expiresMs: NOW }, refused("token expired")],
    ["expired a moment ago", { expiresMs: NOW - 1 }, refused("token expired")],
    ["revoked by a new registration", { tokenRevokedMs: NOW - 5 }, refused("token revoked")],
    ["its runner revoked", { runnerRevokedMs: NOW - 5 }, refused("runner revoked")],
    ["runner revoked wins over the token's own revocation", { runnerRevokedMs: NOW - 5, tokenRevokedMs: NOW - 5 }, refused("runner revoked")],
    ["token revoked wins over expiry", { tokenRevokedMs: NOW - 5, expiresMs: NOW - 1 }, refused("token revoked")],
    ["completed just now", { jobStatus: "completed", jobCompletedMs: NOW }, ok],
    ["completed 59.999 s ago", { jobStatus: "completed", jobCompletedMs: NOW - JOB_TOKEN_AFTER_END_MS + 1 }, ok],
    ["completed exactly 60 s ago", { jobStatus: "completed", jobCompletedMs: NOW - JOB_TOKEN_AFTER_END_MS }, refused("token expired")],
    ["cancelled 61 s ago", { jobStatus: "cancelled", jobCompletedMs: NOW - 61_000 }, refused("token expired")],
    ["skipped 2 minutes ago", { jobStatus: "skipped", jobCompletedMs: NOW - 120_000 }, refused("token expired")],
    ["cancelled 10 s ago", { jobStatus: "cancelled", jobCompletedMs: NOW - 10_000 }, ok],
    ["terminal without an end time (fails closed)", { jobStatus: "completed", jobCompletedMs: null }, refused("token expired")],
    ["a running job's stale completed_at is ignored", { jobStatus: "running", jobCompletedMs: NOW - 3_600_000 }, ok],
  ];
  for (const [what, row, want] of cases) {
    it(what, () => expect(judgeJobToken({ ...live, ...row }, NOW)).toEqual(want));
  }

  it("takes the window after the end as a parameter", () => {
    const ended = { ...live, jobStatus: "completed" as const, jobCompletedMs: NOW - 5_000 };
    expect(judgeJobToken(ended, NOW, 10_000)).toEqual(ok);
    expect(judgeJobToken(ended, NOW, 5_000)).toEqual(refused("token expired"));
    expect(judgeJobToken(ended, NOW, 0)).toEqual(refused("token expired"));
  });
});

describe("judgeRegistration", () => {
  it.each([
    ["no runner of that name", null, { kind: "create" }],
    ["a self-registered runner", { revoked: false, selfRegistered: true }, { kind: "rotate" }],
    ["an operator-registered runner", { revoked: false, selfRegistered: false }, { kind: "operator_owned" }],
    ["a revoked self-registered runner", { revoked: true, selfRegistered: true }, { kind: "revoked" }],
    ["a revoked operator-registered runner", { revoked: true, selfRegistered: false }, { kind: "revoked" }],
  ] as const)("%s", (_what, existing, want) => {
    expect(judgeRegistration(existing)).toEqual(want);
  });
});
