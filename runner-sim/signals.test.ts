import { describe, expect, it } from "vitest";
import type { CancelAnswer } from "./client.ts";
import { actOnCheck, judgeSignal, type CheckAction } from "./signals.ts";

describe("judgeSignal", () => {
  it.each([
    ["a job held here, naming its runner", { runnerId: 7 }, 7, { kind: "confirm" }],
    ["a job held here, naming another runner", { runnerId: 7 }, 8, { kind: "ignore", reason: "names another runner" }],
    ["a job held here, naming no runner", { runnerId: 7 }, null, { kind: "ignore", reason: "names another runner" }],
    ["a job not held here", undefined, 7, { kind: "ignore", reason: "not held here" }],
  ] as const)("%s", (_what, held, runnerId, want) => {
    expect(judgeSignal(held, { runner_id: runnerId })).toEqual(want);
  });
});

describe("actOnCheck", () => {
  const plain: CancelAnswer = { kind: "answer", cancelled: true, force: false };
  const forced: CancelAnswer = { kind: "answer", cancelled: true, force: true };
  const no: CancelAnswer = { kind: "answer", cancelled: false, force: false };
  const refused: CancelAnswer = { kind: "refused", message: "401" };
  const failed: CancelAnswer = { kind: "failed", message: "ECONNREFUSED" };
  const running = { stopping: false, forced: false };
  const stopping = { stopping: true, forced: false };
  const killed = { stopping: true, forced: true };
  const cases: [string, CancelAnswer, typeof running, boolean, CheckAction][] = [
    ["a confirmed signal stops with the grace period", plain, running, true, { kind: "stop", force: false }],
    ["a confirmed force-cancel kills at once", forced, running, true, { kind: "stop", force: true }],
    ["a force after a plain stop cuts the grace short", forced, stopping, false, { kind: "stop", force: true }],
    ["a plain answer during a stop changes nothing", plain, stopping, true, { kind: "keep" }],
    ["a force answer after a kill changes nothing", forced, killed, false, { kind: "keep" }],
    ["an unconfirmed signal is logged and ignored", no, running, true, { kind: "unconfirmed", reason: "not cancelled" }],
    ["a poll that finds nothing keeps running", no, running, false, { kind: "keep" }],
    ["a failed check on a signal is unconfirmed", failed, running, true, { kind: "unconfirmed", reason: "cancel-check failed" }],
    ["a failed poll keeps running (the next poll asks again)", failed, running, false, { kind: "keep" }],
    ["a refused token stops the job", refused, running, false, { kind: "stop", force: false }],
    ["a refused token during a stop changes nothing", refused, stopping, true, { kind: "keep" }],
  ];
  for (const [what, answer, state, fromSignal, want] of cases) {
    it(what, () => expect(actOnCheck(answer, state, fromSignal)).toEqual(want));
  }
});
