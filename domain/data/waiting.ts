import { ids, query, ts, type Sql } from "../../infra/sql.ts";
import { sql as q } from "../../infra/sqlf.ts";

// What a queued job waits for (docs/api.md, "Reads": `waiting_for`). The same conditions the
// claim checks (domain/data/claim.ts pickJob), read back as facts, and decided in the order a
// user has to act on them: a need first (nothing else matters until it succeeded), then a
// concurrency group or the matrix's max-parallel, and last a runner with the labels.

export interface WaitFacts {
  status: string;
  /** `needs` jobs not (yet) completed with success, in job order. */
  pendingNeeds: string[];
  /** The run's group, when an older run of it in the repository is still open. */
  runGroupHeld: string | null;
  /** The job's group, when a job of it is running in the repository. */
  jobGroupBusy: string | null;
  /** The matrix's max-parallel, when that many of its jobs are running. */
  matrixFull: number | null;
  /** The job's runs-on labels. */
  labels: string[];
  /** Online runners (heartbeat within the window, not draining, not revoked) that have every label. */
  onlineRunners: number;
}

export type WaitingFor =
  | { kind: "needs"; jobs: string[] }
  | { kind: "concurrency"; group: string }
  | { kind: "max_parallel"; limit: number }
  /** online_runners 0: no runner that could take it is online — register one with these labels. */
  | { kind: "runner"; labels: string[]; online_runners: number }
  | null;

export function waitingFor(f: WaitFacts): WaitingFor {
  if (f.status !== "queued") return null;
  if (f.pendingNeeds.length > 0) return { kind: "needs", jobs: f.pendingNeeds };
  const group = f.runGroupHeld ?? f.jobGroupBusy;
  if (group !== null) return { kind: "concurrency", group };
  if (f.matrixFull !== null) return { kind: "max_parallel", limit: f.matrixFull };
  return { kind: "runner", labels: f.labels, online_runners: f.onlineRunners };
}

/** A runner is online when it heartbeated within the window and may take jobs. */
const onlineRunner = (staleBefore: Date) => q`ru.revoked_at IS NULL AND ru.draining_at IS NULL AND ru.last_heartbeat_at >= ${ts(staleBefore)}::timestamptz
  AND (j.runs_on = '' OR string_to_array(j.runs_on, ',') <@ ru.labels)`;

export const factsSql = (jobIds: readonly bigint[], staleBefore: Date) => q`
  SELECT j.id::text, j.runs_on,
    ARRAY(SELECT d.job_key FROM workflow_jobs d
          WHERE d.run_id = j.run_id AND d.job_key = ANY(j.needs)
            AND (d.status <> 'completed' OR d.conclusion IS DISTINCT FROM 'success')
          ORDER BY d.job_index) AS pending_needs,
    CASE WHEN r.concurrency_group IS NOT NULL AND EXISTS (
        SELECT 1 FROM workflow_runs o WHERE o.repo_id = r.repo_id AND o.concurrency_group = r.concurrency_group
          AND o.id < r.id AND o.status <> 'completed')
      THEN r.concurrency_group END AS run_group,
    CASE WHEN j.concurrency_group IS NOT NULL AND EXISTS (
        SELECT 1 FROM workflow_jobs oj JOIN workflow_runs orr ON orr.id = oj.run_id
        WHERE oj.status = 'running' AND oj.concurrency_group = j.concurrency_group AND orr.repo_id = r.repo_id)
      THEN j.concurrency_group END AS job_group,
    CASE WHEN j.max_parallel IS NOT NULL AND (
        SELECT count(*) FROM workflow_jobs mj WHERE mj.run_id = j.run_id AND mj.matrix_key = j.matrix_key AND mj.status = 'running'
      ) >= j.max_parallel THEN j.max_parallel END AS matrix_limit,
    (SELECT count(*)::int FROM runners ru WHERE ${onlineRunner(staleBefore)}) AS online_runners
  FROM workflow_jobs j JOIN workflow_runs r ON r.id = j.run_id
  WHERE j.id = ANY(${ids(jobIds)}::bigint[]) AND j.status = 'queued'`;

interface RawFacts {
  id: string; runs_on: string; pending_needs: string[]; run_group: string | null; job_group: string | null;
  matrix_limit: number | null; online_runners: number;
}

const labelsOf = (runsOn: string) => runsOn.split(",").filter((l) => l !== "");

/** `waiting_for` of each queued job among `jobIds` (jobs not queued are not in the map: null). */
export async function readWaiting(sql: Sql, jobIds: readonly bigint[], heartbeatWindowMs: number, now = new Date()): Promise<Map<string, WaitingFor>> {
  const out = new Map<string, WaitingFor>();
  if (jobIds.length === 0) return out;
  const staleBefore = new Date(now.getTime() - heartbeatWindowMs);
  for (const r of await query<RawFacts>(sql, factsSql(jobIds, staleBefore))) {
    out.set(r.id, waitingFor({
      status: "queued", pendingNeeds: r.pending_needs, runGroupHeld: r.run_group, jobGroupBusy: r.job_group,
      matrixFull: r.matrix_limit, labels: labelsOf(r.runs_on), onlineRunners: r.online_runners,
    }));
  }
  return out;
}

// Queued jobs (not being cancelled) that no online runner could take whatever else they
// wait for: a label nobody serves stays queued for ever with no other sign.
export const unrunnableSql = (staleBefore: Date) => q`
  SELECT count(*)::int AS n FROM workflow_jobs j
  WHERE j.status = 'queued' AND NOT j.cancel_requested
    AND NOT EXISTS (SELECT 1 FROM runners ru WHERE ${onlineRunner(staleBefore)})`;

export async function countUnrunnable(sql: Sql, heartbeatWindowMs: number, now = new Date()): Promise<number> {
  const [row] = await query<{ n: number }>(sql, unrunnableSql(new Date(now.getTime() - heartbeatWindowMs)));
  return row?.n ?? 0;
}
