import type { IntentPayload, IntentResult } from "../../domain/contracts.ts";
import { INTENTS, INTENT_NAMES, type IntentName } from "../../domain/intents.ts";
import type { IntentKind, ProcessorDeps } from "../intent.ts";
import { cancelJob } from "./cancel-job.ts";
import { rerunRun } from "./rerun-run.ts";
import { rerunFailedJobs } from "./rerun-failed-jobs.ts";
import { rerunJob } from "./rerun-job.ts";
import { cancelRun, forceCancelRun } from "./cancel-run.ts";
import { bulkCancel } from "./bulk-cancel.ts";

export type Processor = (deps: ProcessorDeps, p: IntentPayload) => Promise<IntentResult>;
/** A processor module's function: the kind it records under comes from the INTENTS table. */
type Apply = (deps: ProcessorDeps, p: IntentPayload, kind: IntentKind) => Promise<IntentResult>;

// A full record: an intent added to the table without a processor does not compile.
const APPLY: Record<IntentName, Apply> = {
  "cancel-job": cancelJob,
  "rerun-run": rerunRun,
  "rerun-failed-jobs": rerunFailedJobs,
  "rerun-job": rerunJob,
  "cancel-run": cancelRun,
  "force-cancel-run": forceCancelRun,
  "bulk-cancel": bulkCancel,
};

const bind = (name: IntentName): Processor => {
  const kind: IntentKind = INTENTS[name].kind;
  return (deps, p) => APPLY[name](deps, p, kind);
};

/** One processor per intent, recording under the table's kind; any other name fails permanently. */
export const PROCESSORS: Partial<Record<IntentName, Processor>> = Object.fromEntries(INTENT_NAMES.map((n) => [n, bind(n)]));
