import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as ops from "../admin/ops.ts";
import { reap } from "../domain/data/reaper.ts";
import type { ReapPolicy } from "../domain/lifecycle/reap.ts";
import { checkInvariants } from "../domain/invariants.ts";
import { createTestDb, type TestDb } from "./setup/db.ts";
import { expectInvariants } from "./setup/invariants.ts";
import { startStack, type Stack } from "./setup/stack.ts";
import { buildWorld, call, claimJob, ONE_JOB, pushAndRun, registerTestRunner } from "./setup/world.ts";

let db: TestDb;
let stack: Stack;
let world: Awaited<ReturnType<typeof buildWorld>>;

beforeAll(async () => {
  db = await createTestDb("reaper");
  stack = await startStack(db);
  world = await buildWorld(db.prisma);
});
afterAll(async () => {
  await stack?.stop();
  await db?.drop();
});

const policy: ReapPolicy = { heartbeatWindowMs: 60_000, timeoutSlackMs: 60_000, cancelDeadlineMs: 300_000 };
const job = (id: number) => db.prisma.workflowJob.findUniqueOrThrow({ where: { id: BigInt(id) }, include: { steps: true } });

async function runningJob(sha: string, runner: string) {
  const r = await pushAndRun(db.prisma, "alice/demo", ONE_JOB, sha);
  const reg = await registerTestRunner(db.prisma, runner);
  const claimed = await claimJob(stack.url, reg.token, r.job_ids[0]!);
  return { runId: r.run_id, jobId: r.job_ids[0]!, token: claimed.token, runnerId: reg.id };
}

describe("the reaper", () => {
  it("leaves a job alone while its runner heartbeats and it is within its timeout", async () => {
    const j = await runningJob("ea000001", "reap-alive");
    expect(await reap(db.prisma, policy)).toEqual([]);
    expect(await job(j.jobId)).toMatchObject({ status: "running" });
  });

  it("fails a job whose runner stopped heartbeating, and rolls its run up", async () => {
    const j = await runningJob("ea000002", "reap-lost");
    const later = new Date(Date.now() + 61_000);
    const ended = await reap(db.prisma, policy, later);
    expect(ended?.map((e) => [Number(e.jobId), e.reason])).toContainEqual([j.jobId, "runner_lost"]);
    const after = await job(j.jobId);
    expect(after).toMatchObject({ status: "completed", conclusion: "failure" });
    expect(after.steps.every((s) => s.status !== "queued" && s.status !== "running")).toBe(true);
    expect(await db.prisma.workflowRun.findUniqueOrThrow({ where: { id: BigInt(j.runId) } })).toMatchObject({ status: "completed", conclusion: "failure" });
    // The runner's late report cannot change the ended job.
    const late = await call(stack.url, "POST", `/api/v1/jobs/${j.jobId}/status`, { token: j.token, body: { status: "completed", conclusion: "success" } });
    expect(late.status).toBe(409);
  });

  it("ends a lost job as cancelled when a cancel had been requested", async () => {
    const j = await runningJob("ea000003", "reap-cancelled");
    await call(stack.url, "POST", `/api/v1/jobs/${j.jobId}/cancel`, { token: world.tokens.bob });
    await reap(db.prisma, policy, new Date(Date.now() + 61_000));
    expect(await job(j.jobId)).toMatchObject({ status: "cancelled", conclusion: "cancelled" });
  });

  it("times out a job past timeout-minutes even while its runner heartbeats", async () => {
    const j = await runningJob("ea000004", "reap-timeout");
    const longAfter = new Date(Date.now() + 360 * 60_000 + 61_000);
    await db.prisma.runner.update({ where: { id: BigInt(j.runnerId) }, data: { lastHeartbeatAt: longAfter } });
    const ended = await reap(db.prisma, policy, longAfter);
    expect(ended?.find((e) => Number(e.jobId) === j.jobId)?.reason).toBe("timed_out");
    expect(await job(j.jobId)).toMatchObject({ status: "completed", conclusion: "timed_out" });
  });

  it("ends a cancel nobody answered after the cancel deadline", async () => {
    const j = await runningJob("ea000005", "reap-deaf");
    await call(stack.url, "POST", `/api/v1/jobs/${j.jobId}/cancel`, { token: world.tokens.bob });
    const later = new Date(Date.now() + 301_000);
    await db.prisma.runner.update({ where: { id: BigInt(j.runnerId) }, data: { lastHeartbeatAt: later } });
    const ended = await reap(db.prisma, policy, later);
    expect(ended?.find((e) => Number(e.jobId) === j.jobId)?.reason).toBe("cancel_unanswered");
    expect(await job(j.jobId)).toMatchObject({ status: "cancelled" });
  });

  it("runs one pass at a time: concurrent passes never end a job twice", async () => {
    // One after another: claimed concurrently, the first runner can take all three jobs
    // (capacity 4) and the others find nothing to claim.
    const jobs = [];
    for (const [i, sha] of ["ea000006", "ea000007", "ea000008"].entries()) jobs.push(await runningJob(sha, `reap-par-${i}`));
    const later = new Date(Date.now() + 61_000);
    const passes = await Promise.all([reap(db.prisma, policy, later), reap(db.prisma, policy, later), reap(db.prisma, policy, later)]);
    const ended = passes.flatMap((p) => p ?? []).map((e) => Number(e.jobId));
    expect(new Set(ended).size).toBe(ended.length);
    for (const j of jobs) expect(ended).toContain(j.jobId);
    expect((await db.prisma.jobTransition.findMany({ where: { jobId: { in: jobs.map((j) => BigInt(j.jobId)) }, toStatus: "completed" } })).length).toBe(3);
  });

  it("leaves every invariant holding", () => expectInvariants(db));
});

describe("the database itself", () => {
  it("refuses to change a terminal job, whatever code path tries", async () => {
    const r = await pushAndRun(db.prisma, "alice/demo", ONE_JOB, "ea000009");
    await call(stack.url, "POST", `/api/v1/jobs/${r.job_ids[0]}/cancel`, { token: world.tokens.bob });
    await expect(db.pool.query("UPDATE workflow_jobs SET status = 'completed', conclusion = 'success' WHERE id = $1", [r.job_ids[0]])).rejects.toThrow(/cannot change/);
    const log = await db.prisma.jobTransition.findMany({ where: { jobId: BigInt(r.job_ids[0]!) }, orderBy: { id: "asc" } });
    expect(log.map((t) => [t.fromStatus, t.toStatus])).toEqual([[null, "queued"], ["queued", "cancelled"]]);
  });

  it("lets the invariant checker find what no constraint prevents", async () => {
    const other = await ops.createRepo(db.prisma, { owner: "alice", name: "broken" });
    const a = await pushAndRun(db.prisma, "alice/broken", ONE_JOB, "ea00000a");
    await db.pool.query("UPDATE workflow_runs SET run_index = 7 WHERE id = $1", [a.run_id]);
    await db.pool.query(
      `INSERT INTO workflow_runs (repo_id, run_index, workflow_file, workflow_name, head_sha, head_ref, event, trigger_event_id, status, updated_at)
       VALUES ($1, 8, 'x.yml', 'x', 'ea00000b', 'refs/heads/main', 'push', 'rerun:1:0000000000000000', 'queued', now())`, [other.id]);
    const found = (await checkInvariants(db.prisma)).map((v) => v.check);
    expect(found).toEqual(expect.arrayContaining([
      "run_index values are unique and gapless per repository",
      "every rerun run was created by exactly one recorded intent",
      "a run without jobs is completed/failure",
      "an open run has at least one open job",
    ]));
    await db.pool.query("DELETE FROM workflow_runs WHERE repo_id = $1", [other.id]);
    await db.pool.query("DELETE FROM repos WHERE id = $1", [other.id]);
  });
});
