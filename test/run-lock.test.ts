import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { inTx } from "../infra/db.ts";
import { sqlTx } from "../infra/sql.ts";
import { sha256 } from "../domain/tokens.ts";
import { heartbeatAndClaim } from "../domain/data/claim.ts";
import { cancelJobTx, cancelRunTx } from "../domain/data/cancel.ts";
import { reportJobTx } from "../domain/data/jobs.ts";
import { createTestDb, waitFor, type TestDb } from "./setup/db.ts";
import { expectInvariants } from "./setup/invariants.ts";
import { buildWorld, pushAndRun, registerTestRunner } from "./setup/world.ts";

// The locking rule of domain/data/settlement.ts (docs/architecture.md, "Locking"): a writer
// of a run holds the run's row lock and locks only the job rows it writes, and it still
// decides on the jobs as they are once that lock is its own.

const WIDE = `name: Wide
on: push
jobs:
  a:
    runs-on: ubuntu-latest
    steps:
      - run: echo a
  b:
    runs-on: ubuntu-latest
    steps:
      - run: echo b
  c:
    runs-on: ubuntu-latest
    steps:
      - run: echo c
`;

const actor = { userId: null, tokenId: null, reason: "run-lock test" };
const newToken = () => {
  const token = `shithub_job_${randomUUID()}`;
  return { token, hash: sha256(token) };
};

let db: TestDb;
let sha = 0;
beforeAll(async () => {
  db = await createTestDb("runlock");
  await buildWorld(db.prisma);
});
afterAll(async () => {
  if (db) await expectInvariants(db);
  await db?.drop();
});

const newRun = async () => pushAndRun(db.prisma, "alice/demo", WIDE, (++sha).toString(16).padStart(40, "0"));

/** Can another transaction take this row's lock right now? */
async function lockable(table: "workflow_jobs" | "workflow_runs", rowId: number): Promise<boolean> {
  try {
    await sqlTx(db.pool, (sql) => sql.rows(`SELECT id FROM ${table} WHERE id = $1::bigint FOR UPDATE NOWAIT`, [String(rowId)]));
    return true;
  } catch (e) {
    if ((e as { code?: string }).code === "55P03") return false;
    throw e;
  }
}

/** Claims the next queued job (the database's only queued ones are the test's). */
async function claimNext(runnerId: bigint) {
  const claimed = await inTx(db.prisma, (tx) => heartbeatAndClaim(tx, runnerId, {}, new Date(), newToken));
  if (!claimed) throw new Error("nothing claimed");
  return claimed;
}

describe("a writer locks the run and only the jobs it writes", () => {
  it("a cancel of one job leaves its siblings unlocked until it commits", async () => {
    const r = await newRun();
    const [a, b, c] = r.job_ids as [number, number, number];
    const seen = await sqlTx(db.pool, async (sql) => {
      const done = await cancelJobTx(sql, BigInt(a), actor, new Date());
      return { done, run: await lockable("workflow_runs", r.run_id), a: await lockable("workflow_jobs", a), b: await lockable("workflow_jobs", b), c: await lockable("workflow_jobs", c) };
    });
    expect(seen).toMatchObject({ done: { changedJobs: 1 }, run: false, a: false, b: true, c: true });
    await sqlTx(db.pool, (sql) => cancelRunTx(sql, BigInt(r.run_id), actor, new Date(), false));
  });

  it("a runner's report of one job leaves its siblings unlocked until it commits", async () => {
    const runner = await registerTestRunner(db.prisma, "reporter", ["ubuntu-latest"], 8);
    const r = await newRun();
    const claimed = await claimNext(BigInt(runner.id));
    const [first, ...rest] = r.job_ids as number[];
    expect(Number(claimed.id)).toBe(first);
    const seen = await sqlTx(db.pool, async (sql) => {
      const done = await reportJobTx(sql, claimed.id, { status: "completed", conclusion: "success" }, new Date());
      return { done, run: await lockable("workflow_runs", r.run_id), job: await lockable("workflow_jobs", first!), rest: await Promise.all(rest.map((j) => lockable("workflow_jobs", j))) };
    });
    expect(seen).toEqual({ done: { kind: "ok", changed: true, runCompleted: false, cancelRequestedAt: null }, run: false, job: false, rest: [true, true] });
    await sqlTx(db.pool, (sql) => cancelRunTx(sql, BigInt(r.run_id), actor, new Date(), false));
  });
});

describe("a writer that waited for the run's lock decides on what the holder committed", () => {
  it("a run cancel queued behind a claim sees the claimed job running (flags it, does not end it)", async () => {
    const runner = await registerTestRunner(db.prisma, "claimer", ["ubuntu-latest"], 8);
    const r = await newRun();
    const [a] = r.job_ids as [number];
    let release!: () => void;
    const held = new Promise<void>((resolve) => { release = resolve; });
    let claimedId: bigint | null = null;
    // The claim holds the run's lock (its pick takes it) until released.
    const claim = inTx(db.prisma, async (tx) => {
      claimedId = (await heartbeatAndClaim(tx, BigInt(runner.id), {}, new Date(), newToken))?.id ?? null;
      await held;
    });
    await waitFor("the claim to hold the job", async () => claimedId !== null);
    const cancel = sqlTx(db.pool, (sql) => cancelRunTx(sql, BigInt(r.run_id), actor, new Date(), false));
    await waitFor("the cancel to wait for the run's lock", async () => {
      const { rows } = await db.pool.query(`SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE '%FROM workflow_runs%'`);
      return rows.length > 0;
    });
    release();
    await claim;
    const cancelled = await cancel;
    expect(claimedId).toBe(BigInt(a));
    expect(cancelled).toMatchObject({ changedJobs: 3, runCompleted: false });
    const job = await db.prisma.workflowJob.findUniqueOrThrow({ where: { id: BigInt(a) } });
    expect(job).toMatchObject({ status: "running", cancelRequested: true, runnerId: BigInt(runner.id) });
    expect(cancelled!.signals.map((s) => s.jobId)).toEqual([BigInt(a)]);
    await sqlTx(db.pool, (sql) => reportJobTx(sql, BigInt(a), { status: "cancelled" }, new Date()));
  });
});
