import type { PrismaClient } from "../infra/db.ts";
import { checkInvariants } from "../domain/invariants.ts";
import { until } from "./infra.ts";
import type { OpResult } from "./load.ts";

// What the clients were told, held against what Postgres holds.

export interface Tally {
  intents: number;
  acknowledged: number;
  /** Intents with exactly one lifecycle_intents row (and, for a rerun, one run). */
  applied: number;
  /** Acknowledged or "queued" intents with no row. */
  lost: number;
  /** Intents with more than one row, or a rerun key with more than one run. */
  duplicated: number;
  /** Answers the database contradicts: a different result, or "nothing applied" for what was. */
  contradicted: number;
  /** 500s, unexpected statuses, network errors. */
  errors: number;
  /** Answers slower than the bounded wait. */
  hung: number;
  nonTerminal: number;
  orphans: number;
  invariants: number;
}

export const MUST_BE_ZERO = ["lost", "duplicated", "contradicted", "errors", "hung", "nonTerminal", "orphans", "invariants"] as const;

interface Row {
  uid: string;
  kind: string;
  target_id: bigint;
  idempotency_key: string | null;
  state: string;
  result: { ok: boolean; body?: Record<string, unknown> };
}

const rowsOf = (prisma: PrismaClient) =>
  prisma.$queryRaw<Row[]>`SELECT uid, kind::text AS kind, target_id, idempotency_key, state::text AS state, result FROM lifecycle_intents`;

/** An intent answered "queued" is applied later: wait until each has its row. */
export async function waitForQueued(prisma: PrismaClient, results: OpResult[], timeoutMs: number): Promise<void> {
  const want = results.filter((r) => r.final === "queued").map((r) => r.intentId!);
  if (want.length === 0) return;
  await until(`${want.length} queued intents to be applied`, async () => {
    const have = new Set((await rowsOf(prisma)).map((r) => r.uid));
    return want.every((u) => have.has(u));
  }, timeoutMs, 250).catch(() => {}); // what never arrived is counted as lost
}

function sameResult(op: OpResult, row: Row): boolean {
  const a = op.body ?? {};
  const b = row.result.body ?? {};
  const fields = op.op.kind === "cancel" ? ["job_id", "changed_jobs", "run_completed", "run_conclusion"] : ["run_id", "run_index", "parent_run_id"];
  return row.state === "applied" && fields.every((f) => a[f] === b[f]);
}

function judge(t: Tally, r: OpResult, rows: Row[]): void {
  t.intents++;
  if (r.final === "ack") t.acknowledged++;
  if (rows.length === 1) t.applied++;
  if (rows.length > 1) t.duplicated++;
  if (rows.length === 0 && (r.final === "ack" || r.final === "queued")) t.lost++;
  if (r.final === "ack" && rows.length === 1 && !sameResult(r, rows[0]!)) t.contradicted++;
  if (r.final === "refused" && rows.length > 0) t.contradicted++;
  const withId = r.final === "queued" || r.final === "uncertain";
  if (withId && r.op.key === null && rows.length > 0 && !rows.some((x) => x.uid === r.intentId)) t.contradicted++;
  const unexpected = r.answers.filter((a) => ![201, 202, 503].includes(a.status)).length;
  t.errors += unexpected > 0 || r.final === "error" ? 1 : 0;
}

export function emptyTally(): Tally {
  return { intents: 0, acknowledged: 0, applied: 0, lost: 0, duplicated: 0, contradicted: 0, errors: 0, hung: 0, nonTerminal: 0, orphans: 0, invariants: 0 };
}

export async function reconcile(prisma: PrismaClient, results: OpResult[], boundMs: number): Promise<{ tally: Tally; problems: string[]; notes: string[] }> {
  const t = emptyTally();
  const problems: string[] = [];
  const notes: string[] = [];
  const rows = await rowsOf(prisma);
  const cancels = new Map<number, Row[]>();
  const keyed = new Map<string, Row[]>();
  for (const r of rows) {
    if (r.kind === "cancel_job") cancels.set(Number(r.target_id), [...(cancels.get(Number(r.target_id)) ?? []), r]);
    if (r.idempotency_key) keyed.set(r.idempotency_key, [...(keyed.get(r.idempotency_key) ?? []), r]);
  }
  const maybe = [0, 0];
  for (const r of results) {
    const mine = r.op.kind === "cancel" ? cancels.get(r.op.target) ?? [] : keyed.get(r.op.key!) ?? [];
    judge(t, r, mine);
    t.hung += r.answers.filter((a) => a.ms > boundMs).length;
    if (r.final === "uncertain") maybe[mine.length > 0 ? 0 : 1]!++;
  }
  if (maybe[0]! + maybe[1]!) notes.push(`answered "may have been queued": ${maybe[0]} were (applied once), ${maybe[1]} were not`);
  // The database's own count of rerun runs, independent of the rows: one per applied rerun intent.
  const [runs] = await prisma.$queryRaw<{ n: bigint }[]>`SELECT count(*) AS n FROM workflow_runs WHERE trigger_event_id LIKE 'rerun:%'`;
  const appliedReruns = rows.filter((r) => r.kind === "rerun_run" && r.state === "applied").length;
  if (Number(runs!.n) !== appliedReruns) {
    t.duplicated += Math.max(0, Number(runs!.n) - appliedReruns);
    problems.push(`${runs!.n} rerun runs for ${appliedReruns} applied rerun intents`);
  }
  const violations = await checkInvariants(prisma);
  t.invariants = violations.length;
  for (const v of violations) problems.push(`invariant violated: ${v.check} (${v.ids.join(", ")})`);
  return { tally: t, problems, notes };
}

/**
 * Jobs nobody will end: cancel-requested and still open, or running although their runner
 * is gone (no heartbeat within the window) or has itself finished them (its report did not
 * land). A job running on a live runner that is still working on it is not stuck.
 */
export async function waitNonTerminal(prisma: PrismaClient, o: { timeoutMs: number; windowMs: number; finishedByRunner: () => Set<number> }): Promise<number[]> {
  const stuck = async () => {
    const rows = await prisma.$queryRaw<{ id: bigint; cancel_requested: boolean; lost: boolean }[]>`
      SELECT j.id, j.cancel_requested,
        (r.last_heartbeat_at IS NULL OR r.last_heartbeat_at < now() - make_interval(secs => ${o.windowMs / 1000})) AS lost
      FROM workflow_jobs j LEFT JOIN runners r ON r.id = j.runner_id
      WHERE j.status = 'running' OR (j.cancel_requested AND j.status = 'queued')`;
    const done = o.finishedByRunner();
    return rows.filter((r) => r.cancel_requested || r.lost || done.has(Number(r.id))).map((r) => Number(r.id));
  };
  // A timeout is a finding, not a failure: the jobs still stuck are what this returns.
  await until("every abandoned or cancel-requested job to end", async () => (await stuck()).length === 0, o.timeoutMs, 250).catch(() => {});
  return stuck();
}

export function addTally(a: Tally, b: Tally): Tally {
  const out = { ...a };
  for (const k of Object.keys(b) as (keyof Tally)[]) out[k] += b[k];
  return out;
}
