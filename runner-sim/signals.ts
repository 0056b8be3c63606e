import { assertNever } from "../infra/assert.ts";
import type { CancelAnswer } from "./client.ts";

// A cancel signal comes from Redis, which more parties can write to than should stop a
// job: it is a hint to ask the API (cancel-check with the job's own token), never an order.

export type SignalDecision = { kind: "confirm" } | { kind: "ignore"; reason: "not held here" | "names another runner" };

/** Only a signal for a job this fleet holds, naming the runner that holds it, is worth a check. */
export function judgeSignal(held: { runnerId: number } | undefined, signal: { runner_id: number | null }): SignalDecision {
  if (held === undefined) return { kind: "ignore", reason: "not held here" };
  if (signal.runner_id !== held.runnerId) return { kind: "ignore", reason: "names another runner" };
  return { kind: "confirm" };
}

export type CheckAction =
  | { kind: "stop"; force: boolean }
  | { kind: "keep" }
  | { kind: "unconfirmed"; reason: "not cancelled" | "cancel-check failed" };

/**
 * What the job does with the API's answer. `force` comes from the answer only. A refused
 * token (the job ended a while ago, or the runner started a new life) means nobody will
 * take this job's reports any more: its container is stopped too. A plain stop already
 * under way is cut short only by a force.
 */
export function actOnCheck(answer: CancelAnswer, state: { stopping: boolean; forced: boolean }, fromSignal: boolean): CheckAction {
  switch (answer.kind) {
    case "answer":
      if (!answer.cancelled) return fromSignal ? { kind: "unconfirmed", reason: "not cancelled" } : { kind: "keep" };
      if (answer.force) return state.forced ? { kind: "keep" } : { kind: "stop", force: true };
      return state.stopping ? { kind: "keep" } : { kind: "stop", force: false };
    case "refused":
      return state.stopping ? { kind: "keep" } : { kind: "stop", force: false };
    case "failed":
      return fromSignal ? { kind: "unconfirmed", reason: "cancel-check failed" } : { kind: "keep" };
    default:
      return assertNever(answer, "cancel-check answer");
  }
}
