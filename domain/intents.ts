import type { Scope } from "./scopes.ts";

// One row per intent: the queue job's name, the lifecycle_intents kind it is recorded as,
// the route that sends it, and what the timeline and the OpenAPI document call it. The
// worker's processors, the routes, the timeline and the OpenAPI paths all read this table,
// so an intent cannot be routed under one name and recorded, listed or documented under
// another (docs/architecture.md, docs/api.md).

/** What an intent's target id names; its repository is what access is judged on. */
export type IntentTargetKind = "job" | "run" | "repo";

/** Every intent needs write access to its target's repository (authorizeWriteOn, api/submit.ts). */
export interface IntentDef {
  /** lifecycle_intents.kind (the intent_kind enum of prisma/schema.prisma). */
  kind: string;
  method: "post";
  /** OpenAPI form: `{id}`, `{owner}`; see expressPath for the router's form. */
  path: string;
  operationId: string;
  /** The OpenAPI summary. */
  summary: string;
  scope: Scope;
  target: IntentTargetKind;
  /** 201 for what creates a run, 202 for what is applied to an existing one. */
  okStatus: 201 | 202;
  /** A rerun: its result names the run it created, which the timeline lists it under too. */
  createsRun: boolean;
}

export const INTENTS = {
  "cancel-job": {
    kind: "cancel_job", method: "post", path: "/api/v1/jobs/{id}/cancel", operationId: "cancelJob", summary: "Cancel a job",
    scope: "repo:write", target: "job", okStatus: 202, createsRun: false,
  },
  "rerun-run": {
    kind: "rerun_run", method: "post", path: "/api/v1/runs/{id}/rerun", operationId: "rerunRun", summary: "Rerun a completed run",
    scope: "repo:write", target: "run", okStatus: 201, createsRun: true,
  },
  "cancel-run": {
    kind: "cancel_run", method: "post", path: "/api/v1/runs/{id}/cancel", operationId: "cancelRun", summary: "Cancel every job of a run",
    scope: "repo:write", target: "run", okStatus: 202, createsRun: false,
  },
  "force-cancel-run": {
    kind: "force_cancel_run", method: "post", path: "/api/v1/runs/{id}/force-cancel", operationId: "forceCancelRun", summary: "Force-cancel a run",
    scope: "repo:write", target: "run", okStatus: 202, createsRun: false,
  },
  "rerun-failed-jobs": {
    kind: "rerun_failed_jobs", method: "post", path: "/api/v1/runs/{id}/rerun-failed-jobs", operationId: "rerunFailedJobs",
    summary: "Rerun the failed jobs of a completed run", scope: "repo:write", target: "run", okStatus: 201, createsRun: true,
  },
  "rerun-job": {
    kind: "rerun_job", method: "post", path: "/api/v1/jobs/{id}/rerun", operationId: "rerunJob", summary: "Rerun one job of a completed run",
    scope: "repo:write", target: "job", okStatus: 201, createsRun: true,
  },
  "bulk-cancel": {
    kind: "bulk_cancel", method: "post", path: "/api/v1/repos/{owner}/{repo}/actions/runs/cancel", operationId: "bulkCancelRuns",
    summary: "Cancel the open runs of a repository that match filters", scope: "repo:write", target: "repo", okStatus: 202, createsRun: false,
  },
} as const satisfies Record<string, IntentDef>;

export type IntentName = keyof typeof INTENTS;
export type IntentRecordKind = (typeof INTENTS)[IntentName]["kind"];
/** The intents whose route names their target by `:id` (every one but bulk cancel). */
export type IdIntentName = { [N in IntentName]: (typeof INTENTS)[N]["target"] extends "repo" ? never : N }[IntentName];

export const INTENT_NAMES = Object.keys(INTENTS) as IntentName[];

/** The router's form of a table path: `{id}` becomes `:id`. */
export function expressPath(path: string): string {
  return path.replace(/\{(\w+)\}/g, ":$1");
}

/** How the timeline labels a request: `POST /api/v1/jobs/{id}/cancel`. */
export function timelineLabel(def: IntentDef): string {
  return `${def.method.toUpperCase()} ${def.path}`;
}

/** The table entry recorded under a lifecycle_intents kind, if any (always, for a kind of the table). */
export function intentOfKind(kind: IntentRecordKind): IntentDef;
export function intentOfKind(kind: string): IntentDef | undefined;
export function intentOfKind(kind: string): IntentDef | undefined {
  return Object.values(INTENTS).find((d) => d.kind === kind);
}

/** The record kinds of the intents `pred` picks (what the timeline selects on). */
export function kindsWhere(pred: (d: IntentDef) => boolean): string[] {
  return Object.values(INTENTS).filter(pred).map((d) => d.kind);
}
