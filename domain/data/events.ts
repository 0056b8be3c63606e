import { query, type Sql } from "../../infra/sql.ts";
import { sql as q, type Fragment } from "../../infra/sqlf.ts";
import { assertNever } from "../../infra/assert.ts";

// What the live event streams (api/events) read: dispatched rows of the outbox (`events`,
// migration events_webhooks). A row is dispatched once the dispatcher gave it an `id`;
// ids are handed out in commit order, so `id > X ORDER BY id` never skips a row that is
// dispatched later. `intent` rows are the dispatcher's business only and never streamed.

export type StreamEventType = "workflow_job" | "workflow_run";

export interface StreamEvent {
  id: bigint;
  type: StreamEventType;
  action: string;
  runId: bigint | null;
  repoId: bigint;
  /** The webhook payload as JSON text on one line (jsonb's text form has no newlines). */
  payload: string;
}

/** Whose events a stream carries. */
export type EventFilter = { kind: "run"; runId: bigint } | { kind: "repo"; repoId: bigint };

interface EventRow {
  id: string;
  type: StreamEventType;
  action: string;
  run_id: string | null;
  repo_id: string;
  payload: string;
}

const eventOf = (r: EventRow): StreamEvent => ({
  id: BigInt(r.id), type: r.type, action: r.action, runId: r.run_id === null ? null : BigInt(r.run_id), repoId: BigInt(r.repo_id), payload: r.payload,
});

// ORDER BY names events.id: a bare `id` would be the output column, which is text here.
const COLUMNS = q`id::text, type::text, action, run_id::text, repo_id::text, coalesce(payload::text, 'null') AS payload`;

/** A stream's events are the filter's rows; each filter has its index (run_id, id) or (repo_id, id). */
function filterSql(f: EventFilter): Fragment {
  switch (f.kind) {
    case "run":
      return q`run_id = ${f.runId.toString()}::bigint`;
    case "repo":
      return q`repo_id = ${f.repoId.toString()}::bigint`;
    default:
      return assertNever(f, "event filter");
  }
}

export const eventsAfterSql = (after: bigint, limit: number) => q`
  SELECT ${COLUMNS} FROM events
  WHERE id > ${after.toString()}::bigint AND type <> 'intent' ORDER BY events.id LIMIT ${limit}::int`;

/** Every streamable event after `after`, oldest first, at most `limit` (the hub's one read for all clients). */
export async function readEventsAfter(sql: Sql, after: bigint, limit: number): Promise<StreamEvent[]> {
  return (await query<EventRow>(sql, eventsAfterSql(after, limit))).map(eventOf);
}

export const backlogSql = (f: EventFilter, after: bigint, upTo: bigint, limit: number) => q`
  SELECT ${COLUMNS} FROM events
  WHERE ${filterSql(f)} AND id > ${after.toString()}::bigint AND id <= ${upTo.toString()}::bigint AND type <> 'intent'
  ORDER BY events.id LIMIT ${limit}::int`;

/** One stream's events in (after, upTo], oldest first, at most `limit`: what a new client missed. */
export async function readBacklog(sql: Sql, f: EventFilter, after: bigint, upTo: bigint, limit: number): Promise<StreamEvent[]> {
  return (await query<EventRow>(sql, backlogSql(f, after, upTo, limit))).map(eventOf);
}

/** The highest id dispatched so far (0 when none): where a hub that starts now begins. */
export async function readLastEventId(sql: Sql): Promise<bigint> {
  const [r] = await query<{ id: string }>(sql, q`SELECT coalesce(max(id), 0)::text AS id FROM events`);
  return BigInt(r?.id ?? "0");
}

/**
 * The id of a run's `workflow_run` `completed` event, once dispatched: its stream's last
 * event (a rerun is another run, with a stream of its own). Null while the run is open.
 */
export async function readRunEnd(sql: Sql, runId: bigint): Promise<bigint | null> {
  const [r] = await query<{ id: string }>(sql, q`
    SELECT min(id)::text AS id FROM events
    WHERE run_id = ${runId.toString()}::bigint AND type = 'workflow_run' AND action = 'completed' AND id IS NOT NULL`);
  return r?.id == null ? null : BigInt(r.id);
}

/** Does this event end its run's stream? */
export const endsRun = (e: Pick<StreamEvent, "type" | "action">): boolean => e.type === "workflow_run" && e.action === "completed";
