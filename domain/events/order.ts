import { assertNever } from "../../infra/assert.ts";

// The order events go out in (docs/events.md, "Order"). Across transactions: the order
// they were written in. Within one, by what they say, because one statement may change a
// run and several of its jobs in any order: a run is requested before its jobs queue, a
// job starts before its run does, a job fails before the jobs it skips, a run completes
// after every job.

export interface Orderable {
  seq: bigint;
  /** The writing transaction. */
  tx: bigint;
  type: "workflow_job" | "workflow_run" | "intent";
  action: string;
  /** The row's status after the change (a skipped job's is "skipped"). */
  status: string | null;
}

export function rankOf(e: Pick<Orderable, "type" | "action" | "status">): number {
  switch (e.type) {
    case "workflow_run":
      return e.action === "requested" ? 0 : e.action === "in_progress" ? 3 : 6;
    case "workflow_job":
      return e.action === "queued" ? 1 : e.action === "in_progress" ? 2 : e.status === "skipped" ? 5 : 4;
    case "intent":
      return 7;
    default:
      return assertNever(e.type, "event type");
  }
}

/** A batch of whole transactions read in write order, put in sending order. */
export function orderBatch<E extends Orderable>(events: readonly E[]): E[] {
  const groups = new Map<bigint, E[]>();
  for (const e of events) {
    const g = groups.get(e.tx);
    if (g) g.push(e);
    else groups.set(e.tx, [e]);
  }
  const ordered = [...groups.values()].sort((a, b) => cmp(a[0]!.seq, b[0]!.seq));
  return ordered.flatMap((g) => [...g].sort((a, b) => rankOf(a) - rankOf(b) || cmp(a.seq, b.seq)));
}

const cmp = (a: bigint, b: bigint) => (a < b ? -1 : a > b ? 1 : 0);
