import type { ContainerExit } from "./container/driver.ts";

/**
 * The line a failed step's log ends with, as a real runner writes it ("Process completed with
 * exit code N."), so that a reader of the log sees why the step failed without the API
 * (docs/runner-protocol.md, "Reports"). Steps that succeeded, or that were stopped (a cancel,
 * the timeout), end as they did: the job's conclusion says why.
 */
export function stepEndLine(exit: Pick<ContainerExit, "code" | "signal">, ending: "success" | "failure" | "timed_out" | "cancelled"): string | null {
  if (ending !== "failure") return null;
  if (exit.code !== null) return `##[error]Process completed with exit code ${exit.code}.`;
  return `##[error]Process was killed by signal ${exit.signal ?? "unknown"}.`;
}
