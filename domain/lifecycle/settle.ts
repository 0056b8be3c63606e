import type { Conclusion, JobStatus, JobView, RunStatus } from "./types.ts";
import { isOpen, isTerminal } from "./types.ts";

export type RollUp =
  | { status: "queued" }
  | { status: "running" }
  | { status: "completed"; conclusion: Conclusion };

const DECISIVE: ReadonlySet<Conclusion> = new Set(["failure", "timed_out", "action_required"]);

/**
 * Jobs that can never run because something they need (directly or transitively)
 * ended without success. Only queued jobs are skipped; running ones finish on their own.
 */
export function jobsToSkip(jobs: readonly JobView[]): string[] {
  const dead = new Set(
    jobs.filter((j) => isTerminal(j.status) && j.conclusion !== "success").map((j) => j.jobKey),
  );
  const skipped: string[] = [];
  let changed = true;
  while (changed) {
    changed = false;
    for (const j of jobs) {
      if (j.status !== "queued" || dead.has(j.jobKey)) continue;
      if (j.needs.some((n) => dead.has(n))) {
        dead.add(j.jobKey);
        skipped.push(j.jobKey);
        changed = true;
      }
    }
  }
  return skipped;
}

/** Run roll-up of docs/lifecycle.md, "Settling a run". */
export function rollUp(current: RunStatus, jobs: readonly JobView[]): RollUp {
  if (jobs.some((j) => isOpen(j.status))) {
    // A run leaves `queued` only when one of its jobs actually starts.
    const started = current !== "queued" || jobs.some((j) => j.status === "running");
    return started ? { status: "running" } : { status: "queued" };
  }
  if (jobs.length === 0) return { status: "completed", conclusion: "failure" };
  const ordered = [...jobs].sort((a, b) => a.jobIndex - b.jobIndex);
  const decisive = ordered.find((j) => j.conclusion !== null && DECISIVE.has(j.conclusion));
  if (decisive?.conclusion) return { status: "completed", conclusion: decisive.conclusion };
  if (ordered.some((j) => j.conclusion === "cancelled")) return { status: "completed", conclusion: "cancelled" };
  return { status: "completed", conclusion: "success" };
}

export interface Settlement {
  skip: string[];
  /** The run's new state; null when the run is already completed (it never reopens). */
  run: RollUp | null;
  /** The run becomes completed by this settlement. */
  completes: boolean;
}

/** Skips what can no longer run, then rolls the run up over the result. */
export function settle(current: RunStatus, jobs: readonly JobView[]): Settlement {
  const skip = jobsToSkip(jobs);
  const skipSet = new Set(skip);
  const after = jobs.map((j) =>
    skipSet.has(j.jobKey) ? { ...j, status: "skipped" as const, conclusion: "skipped" as const } : j,
  );
  const run = current === "completed" ? null : rollUp(current, after);
  return { skip, run, completes: run?.status === "completed" };
}

/** A job as fail-fast sees it: which matrix it belongs to (null outside one). */
export interface MatrixMember {
  id: number;
  jobKey: string;
  matrixKey: string | null;
  failFast: boolean;
  status: JobStatus;
}

export type FailFast = { cancel: false } | { cancel: true; jobIds: number[]; reason: string };

/** The conclusions that count as the matrix job failing (a cancelled one does not). */
const FAILS: ReadonlySet<Conclusion> = new Set(["failure", "timed_out"]);

/** The job is an expansion of a fail-fast matrix, and ending with `conclusion` fails it. */
export function failsItsMatrix(job: Pick<MatrixMember, "matrixKey" | "failFast">, conclusion: Conclusion): boolean {
  return job.matrixKey !== null && job.failFast && FAILS.has(conclusion);
}

/**
 * fail-fast (docs/workflows.md): when an expansion of a matrix with fail-fast fails, the
 * rest of that matrix still queued or running is cancelled, with a reason naming it.
 */
export function failFast(jobs: readonly MatrixMember[], finished: { id: number; conclusion: Conclusion }): FailFast {
  const job = jobs.find((j) => j.id === finished.id);
  if (!job || !failsItsMatrix(job, finished.conclusion)) return { cancel: false };
  const jobIds = jobs.filter((j) => j.id !== job.id && j.matrixKey === job.matrixKey && isOpen(j.status)).map((j) => j.id);
  if (jobIds.length === 0) return { cancel: false };
  return { cancel: true, jobIds, reason: `fail-fast: ${job.jobKey} ${finished.conclusion === "timed_out" ? "timed out" : "failed"}` };
}

/** The rest of a run beside one job: what the roll-up needs of the jobs it does not change. */
export interface RestOfRun {
  /** Jobs of the run other than the one, queued or running. */
  open: number;
  running: number;
  /** The first of them by job index with a decisive conclusion (failure, timed_out, action_required). */
  firstDecisive: { jobIndex: number; conclusion: Conclusion } | null;
  /** Any of them concluded cancelled. */
  cancelled: boolean;
}

/** One job changed, seen with bounded data: the job after the change, the rest summarised. */
export interface Around {
  job: JobView;
  rest: RestOfRun;
  /**
   * The queued jobs that need the job, directly or through one another. A queued job that
   * needs a job which had already ended without success was skipped when that job ended, so
   * these are the only jobs this change can skip.
   */
  dependents: readonly JobView[];
}

/**
 * `settle` for a change of one job, on bounded data (a run's width costs a count, not a read
 * of every job): the same skips and the same roll-up as `settle` over the whole run.
 */
export function settleAround(current: RunStatus, a: Around): Settlement {
  const skip = jobsToSkip([a.job, ...a.dependents]);
  if (current === "completed") return { skip, run: null, completes: false };
  const run = rollUpAround(current, a, skip.length);
  return { skip, run, completes: run.status === "completed" };
}

function rollUpAround(current: RunStatus, { job, rest }: Around, skipped: number): RollUp {
  // Skipped dependents were queued, so counted open in `rest`; they end now.
  const open = rest.open - skipped + (isOpen(job.status) ? 1 : 0);
  if (open > 0) {
    const started = current !== "queued" || rest.running > 0 || job.status === "running";
    return started ? { status: "running" } : { status: "queued" };
  }
  const mine = job.conclusion !== null && DECISIVE.has(job.conclusion) ? { jobIndex: job.jobIndex, conclusion: job.conclusion } : null;
  const theirs = rest.firstDecisive;
  const decisive = mine && (!theirs || mine.jobIndex < theirs.jobIndex) ? mine : theirs;
  if (decisive) return { status: "completed", conclusion: decisive.conclusion };
  if (rest.cancelled || job.conclusion === "cancelled") return { status: "completed", conclusion: "cancelled" };
  return { status: "completed", conclusion: "success" };
}

/** The conclusions that decide a completed run's conclusion by the first job that has one. */
export const DECISIVE_CONCLUSIONS: readonly Conclusion[] = [...DECISIVE];
