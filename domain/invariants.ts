import type { PrismaClient } from "../infra/db.ts";

// What must hold in the database whatever happened: crashes, races, retries. Each check
// is one query returning the offending ids; none may return a row.

export interface Violation {
  check: string;
  ids: string[];
}

const OPEN = "('queued','running')";
const TERMINAL = "('completed','cancelled','skipped')";
/** Intents that create a run whose parent is the target (rerun_job: the target job's run). */
const RERUNS = "('rerun_run','rerun_failed_jobs','rerun_job')";

export const CHECKS: Record<string, string> = {
  "a completed run has a conclusion, a completion time and no open job": `
    SELECT r.id FROM workflow_runs r WHERE r.status = 'completed' AND (r.conclusion IS NULL OR r.completed_at IS NULL
      OR EXISTS (SELECT 1 FROM workflow_jobs j WHERE j.run_id = r.id AND j.status IN ${OPEN}))`,
  "an open run has at least one open job": `
    SELECT r.id FROM workflow_runs r WHERE r.status <> 'completed'
      AND NOT EXISTS (SELECT 1 FROM workflow_jobs j WHERE j.run_id = r.id AND j.status IN ${OPEN})`,
  "a running job has a runner and a start time": `
    SELECT id FROM workflow_jobs WHERE status = 'running' AND (runner_id IS NULL OR started_at IS NULL)`,
  "a terminal job has a conclusion, a completion time and no open step": `
    SELECT j.id FROM workflow_jobs j WHERE j.status IN ${TERMINAL} AND (j.conclusion IS NULL OR j.completed_at IS NULL
      OR EXISTS (SELECT 1 FROM workflow_steps s WHERE s.job_id = j.id AND s.status IN ${OPEN}))`,
  "a terminal job never changed after it became terminal": `
    SELECT DISTINCT job_id AS id FROM job_transitions WHERE from_status IN ${TERMINAL}`,
  "every job's current state is the last one its transition log recorded": `
    SELECT j.id FROM workflow_jobs j WHERE ROW(j.status, j.conclusion) IS DISTINCT FROM (
      SELECT ROW(t.to_status, t.to_conclusion) FROM job_transitions t WHERE t.job_id = j.id ORDER BY t.id DESC LIMIT 1)`,
  "a cancel-requested job records when": `
    SELECT id FROM workflow_jobs WHERE cancel_requested AND cancel_requested_at IS NULL`,
  "run_index values are unique and gapless per repository": `
    SELECT repo_id AS id FROM workflow_runs GROUP BY repo_id
    HAVING count(*) <> max(run_index) OR min(run_index) <> 1 OR count(DISTINCT run_index) <> count(*)`,
  "a repository's next run_index follows its last run": `
    SELECT p.id FROM repos p WHERE p.next_run_index <> 1 + coalesce((SELECT max(run_index) FROM workflow_runs r WHERE r.repo_id = p.id), 0)`,
  "a repository's count of run chains is its number of original runs": `
    SELECT p.id FROM repos p WHERE p.run_chains <> (SELECT count(*) FROM workflow_runs r WHERE r.repo_id = p.id AND r.original_run_id IS NULL)`,
  "a run without jobs is completed/failure": `
    SELECT r.id FROM workflow_runs r WHERE NOT EXISTS (SELECT 1 FROM workflow_jobs j WHERE j.run_id = r.id)
      AND (r.status <> 'completed' OR r.conclusion IS DISTINCT FROM 'failure')`,
  "every applied rerun intent created exactly one run, which exists": `
    SELECT i.id FROM lifecycle_intents i WHERE i.kind IN ${RERUNS} AND i.state = 'applied'
      AND NOT EXISTS (SELECT 1 FROM workflow_runs r WHERE r.id = (i.result->'body'->>'run_id')::bigint AND r.parent_run_id =
        CASE WHEN i.kind = 'rerun_job' THEN (SELECT j.run_id FROM workflow_jobs j WHERE j.id = i.target_id) ELSE i.target_id END)
    UNION ALL
    SELECT min(i.id) FROM lifecycle_intents i WHERE i.kind IN ${RERUNS} AND i.state = 'applied'
      GROUP BY i.result->'body'->>'run_id' HAVING count(*) > 1`,
  "every rerun run was created by exactly one recorded intent": `
    SELECT r.id FROM workflow_runs r WHERE r.trigger_event_id LIKE 'rerun:%' AND NOT EXISTS (
      SELECT 1 FROM lifecycle_intents i WHERE i.kind IN ${RERUNS} AND i.state = 'applied' AND (i.result->'body'->>'run_id')::bigint = r.id)`,
  "a rerun continues its parent's chain: attempt + 1, the same original run": `
    SELECT r.id FROM workflow_runs r JOIN workflow_runs p ON p.id = r.parent_run_id
    WHERE r.original_run_id IS NOT NULL AND (r.attempt <> p.attempt + 1 OR r.original_run_id <> coalesce(p.original_run_id, p.id))`,
  "a reused job is terminal and never ran in its run": `
    SELECT id FROM workflow_jobs WHERE reused AND (status NOT IN ${TERMINAL} OR runner_id IS NOT NULL)`,
  "a cancel intent that changed its job left it cancel-requested": `
    SELECT i.id FROM lifecycle_intents i JOIN workflow_jobs j ON j.id = i.target_id
    WHERE i.kind = 'cancel_job' AND i.state = 'applied' AND (i.result->'body'->>'changed_jobs')::int = 1 AND NOT j.cancel_requested`,
  "a job was changed by at most one cancel intent": `
    SELECT i.target_id AS id FROM lifecycle_intents i WHERE i.kind = 'cancel_job' AND i.state = 'applied'
      AND (i.result->'body'->>'changed_jobs')::int = 1 GROUP BY i.target_id HAVING count(*) > 1`,
};

export async function checkInvariants(prisma: PrismaClient): Promise<Violation[]> {
  const violations: Violation[] = [];
  for (const [check, sql] of Object.entries(CHECKS)) {
    const rows = await prisma.$queryRawUnsafe<{ id: bigint | null }[]>(sql);
    const ids = rows.filter((r) => r.id !== null).map((r) => String(r.id));
    if (ids.length > 0) violations.push({ check, ids: ids.slice(0, 50) });
  }
  return violations;
}
