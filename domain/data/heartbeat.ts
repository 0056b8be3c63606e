import { id, query, ts, type Sql } from "../../infra/sql.ts";
import { sql } from "../../infra/sqlf.ts";
import { sha256 } from "../tokens.ts";
import { pickJobSql, type HeartbeatInfo } from "./claim.ts";

// The idle heartbeat (docs/scaling.md, "Runner long-polling"): one read for the token, the
// runner and its running jobs, one lock-free probe for a job its labels can take, and a
// write to Postgres only when something changed or RUNNER_SEEN_WRITE_MS has passed since
// the last one (the last-seen time lives in Redis in between). The claim itself, when the
// probe finds a job, is heartbeatAndClaim's transaction as before.

export interface RunnerFacts {
  runnerId: bigint;
  tokenRevoked: boolean;
  runnerRevoked: boolean;
  draining: boolean;
  labels: string[];
  capacity: number;
  status: string;
  hostName: string | null;
  version: string | null;
  /** last_heartbeat_at, ms since the epoch. */
  seenMs: number | null;
  busy: number;
}

interface FactsRow {
  runner_id: string; token_revoked: boolean; runner_revoked: boolean; draining: boolean; labels: string[]; capacity: number;
  status: string; host_name: string | null; version: string | null; seen_ms: number | null; busy: number;
}

export const runnerFactsSql = (tokenHash: string) => sql`
  SELECT r.id::text AS runner_id, t.revoked_at IS NOT NULL AS token_revoked, r.revoked_at IS NOT NULL AS runner_revoked,
    r.draining_at IS NOT NULL AS draining, r.labels, r.capacity, r.status::text AS status, r.host_name, r.version,
    (extract(epoch FROM r.last_heartbeat_at) * 1000)::float8 AS seen_ms,
    (SELECT count(*) FROM workflow_jobs b WHERE b.runner_id = r.id AND b.status = 'running')::int AS busy
  FROM runner_tokens t JOIN runners r ON r.id = t.runner_id WHERE t.token_hash = ${tokenHash}::text`;

/** The runner a runner token names, as a heartbeat needs it; null for an unknown token. */
export async function readRunnerFacts(db: Sql, token: string): Promise<RunnerFacts | null> {
  const [r] = await query<FactsRow>(db, runnerFactsSql(sha256(token)));
  if (!r) return null;
  return {
    runnerId: BigInt(r.runner_id), tokenRevoked: r.token_revoked, runnerRevoked: r.runner_revoked, draining: r.draining,
    labels: r.labels, capacity: r.capacity, status: r.status, hostName: r.host_name, version: r.version, seenMs: r.seen_ms, busy: r.busy,
  };
}

const sameList = (a: readonly string[], b: readonly string[]) => a.length === b.length && a.every((x, i) => x === b[i]);

/** What the runner row should say after this heartbeat (status from its running jobs). */
export function beatOutcome(f: RunnerFacts, info: HeartbeatInfo): { labels: string[]; capacity: number; status: "idle" | "active" } {
  return { labels: info.labels ?? f.labels, capacity: info.capacity ?? f.capacity, status: f.busy > 0 ? "active" : "idle" };
}

/**
 * Whether this heartbeat must write the runner row: something it reports differs from the
 * row, or the row's last-seen is RUNNER_SEEN_WRITE_MS old (0: every heartbeat writes).
 */
export function needsRowWrite(f: RunnerFacts, info: HeartbeatInfo, nowMs: number, seenWriteMs: number): boolean {
  const o = beatOutcome(f, info);
  if (!sameList(o.labels, f.labels) || o.capacity !== f.capacity || o.status !== f.status) return true;
  if ((info.hostName && info.hostName !== f.hostName) || (info.version && info.version !== f.version)) return true;
  return f.seenMs === null || nowMs - f.seenMs >= seenWriteMs;
}

/** The heartbeat's write, one statement in autocommit (no lock held past it). */
export async function recordHeartbeat(db: Sql, f: RunnerFacts, info: HeartbeatInfo, now: Date): Promise<void> {
  const o = beatOutcome(f, info);
  await query(db, sql`
    UPDATE runners SET last_heartbeat_at = ${ts(now)}::timestamptz, labels = ${o.labels}::text[], capacity = ${o.capacity}::int,
      status = ${o.status}::runner_status, host_name = coalesce(${info.hostName ?? null}::text, host_name), version = coalesce(${info.version ?? null}::text, version)
    WHERE id = ${id(f.runnerId)}::bigint`);
}

/** Is there a job these labels could claim now? A read that locks and writes nothing. */
export async function probeClaimable(db: Sql, labels: readonly string[]): Promise<boolean> {
  return (await query<{ id: unknown }>(db, pickJobSql(labels, false))).length > 0;
}

/** Room for one more job, for a runner that may take work at all. */
export const mayClaim = (f: RunnerFacts, info: HeartbeatInfo): boolean => !f.draining && f.busy < beatOutcome(f, info).capacity;

