import { randomBytes } from "node:crypto";
import type { IntentPayload } from "../../domain/contracts.ts";
import { lockRerunSource, type RerunTarget } from "../../domain/data/rerun.ts";
import { insertRun, pendingRun } from "../../domain/data/runs.ts";
import { num } from "../../domain/ids.ts";
import { assertNever } from "../../infra/assert.ts";
import { buildRerun, type RerunRefusal } from "../../domain/lifecycle/rerun.ts";
import type { Sql } from "../../infra/sql.ts";
import { DEFAULT_RERUN_LIMIT, rejected, type Applied, type ProcessorDeps } from "../intent.ts";
import { publishSignals } from "./signals.ts";

// The three reruns' shell: lock and read (domain/data/rerun.ts), decide and build every
// row of the new run (buildRerun, domain/lifecycle/rerun.ts), write it (domain/data/runs.ts).

function refused(r: RerunRefusal): Applied {
  switch (r.reason) {
    case "not_rerunnable":
      return rejected("not_rerunnable", "run is not rerunnable");
    case "rerun_limit":
      return rejected("rerun_limit", "rerun limit reached");
    case "source_unavailable":
      return rejected("source_unavailable", "workflow source unavailable");
    case "source_invalid":
      return rejected("source_invalid", `workflow source invalid: ${r.errors.join("; ")}`);
    case "job_not_in_workflow":
      return rejected("source_invalid", `workflow source invalid: job ${r.jobKey} is not in the workflow`);
    case "nothing_to_rerun":
      return rejected("no_failed_jobs", "run has no failed jobs");
    default:
      return assertNever(r, "rerun refusal");
  }
}

/**
 * A new run from the target's run. Refusals: the source does not exist (404), then
 * buildRerun's, in its order.
 */
export async function rerunFrom(sql: Sql, deps: ProcessorDeps, p: IntentPayload, target: RerunTarget, now: Date): Promise<Applied> {
  const facts = await lockRerunSource(sql, target);
  if (!facts) return rejected("not_found", target.kind === "job" ? "job not found" : "run not found");
  const built = buildRerun({
    ...facts, limit: deps.rerunLimit ?? DEFAULT_RERUN_LIMIT, actorUserId: BigInt(p.actorUserId), now, nonce: randomBytes(8).toString("hex"),
  });
  if (built.kind === "refused") return refused(built);
  const r = built.run;
  const body = { run_id: 0, run_index: 0, parent_run_id: num(facts.source.id), repo_id: num(r.repo_id), workflow_file: r.workflow_file, head_sha: r.head_sha };
  // The usual case: the run's creation goes out with the intent's record, which fills in
  // the new run's id and index (see pendingRun).
  const pending = pendingRun(built);
  if (pending) return { result: { ok: true, body }, write: pending };
  const run = await insertRun(sql, built);
  return {
    // `concurrency: cancel-in-progress` may have cancelled older runs: tell their runners.
    afterCommit: publishSignals(deps, run.signals, p.requestId),
    result: { ok: true, body: { ...body, run_id: num(run.id), run_index: run.runIndex } },
  };
}
