import { describe, expect, it } from "vitest";
import { render, sql, type Fragment } from "../../infra/sqlf.ts";
import { planCancel, type CancelIntent } from "../lifecycle/cancel.ts";
import { cancelCtes, writeOfPlan, type CancelWrite } from "./cancel.ts";
import { settlePlan, type Locked, type LockedJob } from "./settlement.ts";

const numbered = (r: { text: string; values: unknown[] }) => [...r.text.matchAll(/\$(\d+)/g)].map((m) => Number(m[1]));
const oneToN = (n: number) => Array.from({ length: n }, (_, i) => i + 1);

describe("a cancel's writes render", () => {
  const at = new Date("2026-01-02T03:04:05.000Z");
  const t = at.toISOString();
  const w = (over: Partial<CancelWrite>): CancelWrite => ({
    endNow: [1], flag: [2], force: false, actor: { userId: 7n, tokenId: 8n, reason: "why" }, at,
    settlement: { skip: [3], runId: 9, run: { status: "completed", conclusion: "cancelled" } }, ...over,
  });
  // ended (now ×2, force, requested ×6), flagged (requested ×6, ids), ended_steps (now), then the settlement (15).
  const requested = (by: string | null, token: string | null, reason: string | null) => [t, by, token, reason, t];
  const settlement = (skip: string[], run: string, status: string | null, conclusion: string | null) =>
    [t, t, skip, t, status, conclusion, t, status, t, status, t, run, status, status];
  const cases: [string, CancelWrite, unknown[]][] = [
    ["a user's cancel: one ended, one flagged, the run completes", w({}),
      [t, false, ...requested("7", "8", "why"), ["1"], ...requested("7", "8", "why"), ["2"], t, ...settlement(["3"], "9", "completed", "cancelled")]],
    ["the service's force cancel, the run stays", w({ force: true, flag: [], actor: { userId: null, tokenId: null, reason: null }, settlement: { skip: [], runId: 9n, run: null } }),
      [t, true, ...requested(null, null, null), ["1"], ...requested(null, null, null), [], t, ...settlement([], "9", null, null)]],
  ];
  it.each(cases)("%s: values in placeholder order", (_, write, values) => {
    const r = render(sql`WITH ${cancelCtes(write)} SELECT 1`);
    expect(r.values).toEqual(values);
    expect(numbered(r)).toEqual(oneToN(values.length));
  });

  it("one text for every cancel", () => {
    const text = (f: Fragment) => render(f).text;
    expect(text(cancelCtes(cases[1]![1]))).toBe(text(cancelCtes(cases[0]![1])));
    expect(text(cancelCtes(cases[0]![1]))).toMatchInlineSnapshot(`
      "ended AS (
          UPDATE workflow_jobs SET status = 'cancelled', conclusion = 'cancelled', completed_at = $1::timestamptz, force_cancelled = $2::boolean,
            cancel_requested = true, cancel_requested_at = $3::timestamptz, cancel_requested_by = $4::bigint,
            cancel_requested_token_id = $5::bigint, cancel_reason = $6::text, updated_at = $7::timestamptz
          WHERE id = ANY($8::bigint[]) AND status IN ('queued', 'running') RETURNING id
        ), flagged AS (
          UPDATE workflow_jobs SET cancel_requested = true, cancel_requested_at = $9::timestamptz, cancel_requested_by = $10::bigint,
            cancel_requested_token_id = $11::bigint, cancel_reason = $12::text, updated_at = $13::timestamptz
          WHERE id = ANY($14::bigint[]) AND NOT cancel_requested RETURNING id
        ), ended_steps AS (
          UPDATE workflow_steps SET status = 'cancelled', conclusion = 'cancelled', completed_at = $15::timestamptz
          WHERE job_id IN (SELECT id FROM ended) AND status IN ('queued', 'running') RETURNING 1
        ), skipped AS (
          UPDATE workflow_jobs SET status = 'skipped', conclusion = 'skipped', completed_at = $16::timestamptz, updated_at = $17::timestamptz
          WHERE id = ANY($18::bigint[]) AND status = 'queued' RETURNING id
        ), skipped_steps AS (
          UPDATE workflow_steps SET status = 'skipped', conclusion = 'skipped', completed_at = $19::timestamptz
          WHERE job_id IN (SELECT id FROM skipped) AND status IN ('queued', 'running') RETURNING 1
        ), run AS (
          UPDATE workflow_runs SET status = $20::text::run_status, conclusion = $21::text::conclusion, updated_at = $22::timestamptz,
            started_at = CASE WHEN $23::text = 'running' THEN $24::timestamptz ELSE started_at END,
            completed_at = CASE WHEN $25::text = 'completed' THEN $26::timestamptz ELSE completed_at END
          WHERE id = $27::bigint AND (($28::text = 'running' AND status = 'queued') OR ($29::text = 'completed' AND status <> 'completed'))
          RETURNING status::text AS status
        )"
    `);
  });
});

// The shell only maps the plan of domain/lifecycle/cancel.ts onto the locked rows' settlement and the SQL.
describe("a cancel plan's write", () => {
  const at = new Date("2026-01-02T03:04:05.000Z");
  const actor = { userId: 7n, tokenId: 8n, reason: "why" };
  const job = (id: number, key: string, status: LockedJob["status"], needs: string[] = []): LockedJob => ({
    id, job_index: id, job_key: key, needs, status, conclusion: status === "completed" ? "success" : null, cancel_requested: false,
    cancel_requested_at: null, force_cancelled: false, runner_id: status === "running" ? 50 + id : null, matrix_key: null, fail_fast: false,
  });
  const locked: Locked = { run: { id: 9, repo_id: 4, status: "running" }, jobs: [job(1, "build", "running"), job(2, "test", "queued", ["build"]), job(3, "lint", "completed")] };
  const of = (i: Omit<CancelIntent, "actor" | "now">) => {
    const p = planCancel(locked.run, locked.jobs, { ...i, actor, now: at });
    return writeOfPlan(locked.run, p, p.kind === "cancel" && p.settle !== null ? settlePlan(locked, p.settle) : { skip: [], run: null });
  };
  const base = { runId: 9n, repoId: 4n };
  const signal = (force: boolean) => ({ jobId: 1n, runId: 9n, runnerId: 51n, requestedAt: at, force });

  it("a no-op writes nothing", () => {
    expect(of({ target: { kind: "job", jobId: 3 }, force: false })).toEqual({
      cancelled: { ...base, changedJobs: 0, runCompleted: false, runConclusion: null, signals: [] }, write: null,
    });
  });

  it.each<[string, Omit<CancelIntent, "actor" | "now">, CancelWrite, boolean]>([
    ["a flag alone leaves the run as it is", { target: { kind: "job", jobId: 1 }, force: false },
      { endNow: [], flag: [1], force: false, actor, at, settlement: { skip: [], runId: 9, run: null } }, false],
    ["a run cancel ends the queued job, flags the running one", { target: { kind: "run" }, force: false },
      // The roll-up says "running" for a running run; the run's update then matches nothing.
      { endNow: [2], flag: [1], force: false, actor, at, settlement: { skip: [], runId: 9, run: { status: "running", conclusion: null } } }, false],
    ["a forced run cancel ends both and completes the run", { target: { kind: "run" }, force: true },
      { endNow: [1, 2], flag: [], force: true, actor, at, settlement: { skip: [], runId: 9, run: { status: "completed", conclusion: "cancelled" } } }, true],
  ])("%s", (_, intent, expected, completes) => {
    const d = of(intent);
    expect(render(d.write!.ctes)).toEqual(render(cancelCtes(expected)));
    expect(d.cancelled).toEqual({
      ...base, changedJobs: expected.endNow.length + expected.flag.length, runCompleted: completes,
      runConclusion: completes ? "cancelled" : null, signals: [signal(intent.force)],
    });
  });
});
