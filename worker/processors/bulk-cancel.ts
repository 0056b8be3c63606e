import type { IntentPayload, IntentResult } from "../../domain/contracts.ts";
import { INTENTS } from "../../domain/intents.ts";
import { bulkCancelTx, bulkFilters, matchedView } from "../../domain/data/bulkcancel.ts";
import { num } from "../../domain/ids.ts";
import { actorOf, applyIntent, rejected, type IntentKind, type ProcessorDeps } from "../intent.ts";
import { publishSignals } from "./signals.ts";
import { prismaSql } from "../../infra/sql.ts";

/**
 * POST /repos/{owner}/{repo}/actions/runs/cancel: matches and cancels in the intent's one
 * transaction, so the intent record and every cancel commit together (exactly once); the
 * runners of running jobs are signalled after commit. A dry run never reaches the worker.
 */
export async function bulkCancel(deps: ProcessorDeps, p: IntentPayload, kind: IntentKind = INTENTS["bulk-cancel"].kind): Promise<IntentResult> {
  return applyIntent(deps, kind, p, async (tx, now) => {
    const repoId = BigInt(p.targetId);
    const repo = await tx.repo.findUnique({ where: { id: repoId }, select: { deletedAt: true } });
    if (!repo || repo.deletedAt !== null) return rejected("not_found", "repository not found");
    // The API validated the filters; a payload that does not parse is a bug, not a request.
    const filters = bulkFilters.parse(p.params ?? {});
    const c = await bulkCancelTx(prismaSql(tx), repoId, filters, actorOf(p), now);
    return {
      result: { ok: true, body: { repo_id: num(repoId), dry_run: false, matched_runs: matchedView(c.matched), changed_jobs: c.changedJobs } },
      afterCommit: publishSignals(deps, c.signals, p.requestId),
    };
  });
}
