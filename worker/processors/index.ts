import type { IntentName, IntentPayload, IntentResult } from "../../domain/contracts.ts";
import type { ProcessorDeps } from "../intent.ts";
import { cancelJob } from "./cancel-job.ts";
import { rerunRun } from "./rerun-run.ts";
import { rerunFailedJobs } from "./rerun-failed-jobs.ts";
import { rerunJob } from "./rerun-job.ts";
import { cancelRun, forceCancelRun } from "./cancel-run.ts";
import { bulkCancel } from "./bulk-cancel.ts";

export type Processor = (deps: ProcessorDeps, p: IntentPayload) => Promise<IntentResult>;

/** One processor module per intent; an intent without one fails permanently. */
export const PROCESSORS: Partial<Record<IntentName, Processor>> = {
  "cancel-job": cancelJob,
  "rerun-run": rerunRun,
  "rerun-failed-jobs": rerunFailedJobs,
  "rerun-job": rerunJob,
  "cancel-run": cancelRun,
  "force-cancel-run": forceCancelRun,
  "bulk-cancel": bulkCancel,
};
