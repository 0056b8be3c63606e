// Plain-data views of the lifecycle state. String unions match the Postgres enums, so
// rows read through Prisma fit them without conversion.

export type RunStatus = "queued" | "running" | "completed";
export type JobStatus = "queued" | "running" | "completed" | "cancelled" | "skipped";
export type Conclusion =
  | "success"
  | "failure"
  | "neutral"
  | "cancelled"
  | "skipped"
  | "timed_out"
  | "action_required";

export const CONCLUSIONS: readonly Conclusion[] = [
  "success",
  "failure",
  "neutral",
  "cancelled",
  "skipped",
  "timed_out",
  "action_required",
];

export interface JobView {
  jobIndex: number;
  jobKey: string;
  needs: readonly string[];
  status: JobStatus;
  conclusion: Conclusion | null;
}

export function isTerminal(status: JobStatus): boolean {
  return status === "completed" || status === "cancelled" || status === "skipped";
}

export function isOpen(status: JobStatus): boolean {
  return !isTerminal(status);
}
