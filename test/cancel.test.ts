import { describe, expect, it } from "vitest";
import { cancelChannel, cancelSignal } from "../domain/contracts.ts";
import { waitFor } from "./setup/db.ts";
import { worldSuite } from "./setup/suite.ts";
import { call, claimJob, ONE_JOB, pushAndRun, registerTestRunner, TWO_JOBS } from "./setup/world.ts";

const s = worldSuite("cancel");

const job = (id: number) => s.db.prisma.workflowJob.findUniqueOrThrow({ where: { id: BigInt(id) }, include: { steps: true } });
const run = (id: number) => s.db.prisma.workflowRun.findUniqueOrThrow({ where: { id: BigInt(id) } });

describe("cancel a queued job", () => {
  it("ends it at once, closes its steps and completes a single-job run", async () => {
    const r = await pushAndRun(s.db.prisma, "alice/demo", ONE_JOB, "a1a1a1a1");
    const jobId = r.job_ids[0]!;
    const res = await call(s.stack.url, "POST", `/api/v1/jobs/${jobId}/cancel`, { token: s.world.tokens.bob });
    expect(res.status).toBe(202);
    expect(res.body).toEqual({
      job_id: jobId, run_id: r.run_id, repo_id: s.world.repos.pub.id,
      changed_jobs: 1, run_completed: true, run_conclusion: "cancelled",
    });
    expect(res.headers.get("content-type")).toBe("application/json; charset=utf-8");
    expect(res.headers.get("cache-control")).toBe("no-store");
    const j = await job(jobId);
    expect(j).toMatchObject({ status: "cancelled", conclusion: "cancelled", cancelRequested: true });
    expect(j.completedAt).not.toBeNull();
    expect(j.cancelRequestedBy).not.toBeNull();
    expect(j.steps.every((s) => s.status === "cancelled" && s.conclusion === "cancelled")).toBe(true);
    expect(await run(r.run_id)).toMatchObject({ status: "completed", conclusion: "cancelled" });
    const intents = await s.db.prisma.lifecycleIntent.findMany({ where: { kind: "cancel_job", targetId: BigInt(jobId) } });
    expect(intents).toHaveLength(1);
    expect(intents[0]!.state).toBe("applied");
  });

  it("skips the jobs that need it and completes the run", async () => {
    const r = await pushAndRun(s.db.prisma, "alice/demo", TWO_JOBS, "a2a2a2a2");
    const res = await call(s.stack.url, "POST", `/api/v1/jobs/${r.job_ids[0]}/cancel`, { token: s.world.tokens.alice });
    expect(res.status).toBe(202);
    expect(res.body).toMatchObject({ changed_jobs: 1, run_completed: true, run_conclusion: "cancelled" });
    expect(await job(r.job_ids[1]!)).toMatchObject({ status: "skipped", conclusion: "skipped" });
  });

  it("is a safe no-op when repeated, and on a terminal job", async () => {
    const r = await pushAndRun(s.db.prisma, "alice/demo", ONE_JOB, "a3a3a3a3");
    const jobId = r.job_ids[0]!;
    await call(s.stack.url, "POST", `/api/v1/jobs/${jobId}/cancel`, { token: s.world.tokens.bob });
    const before = await job(jobId);
    const again = await call(s.stack.url, "POST", `/api/v1/jobs/${jobId}/cancel`, { token: s.world.tokens.bob });
    expect(again.status).toBe(202);
    expect(again.body).toEqual({ job_id: jobId, run_id: r.run_id, repo_id: s.world.repos.pub.id, changed_jobs: 0, run_completed: false, run_conclusion: "" });
    expect(await job(jobId)).toEqual(before);
  });
});

describe("cancel a running job", () => {
  it("flags it, signals the runner after commit, and the runner's report ends it", async () => {
    const r = await pushAndRun(s.db.prisma, "alice/demo", ONE_JOB, "b1b1b1b1");
    const jobId = r.job_ids[0]!;
    const runner = await registerTestRunner(s.db.prisma, "runner-cancel");
    const claimed = await claimJob(s.stack.url, runner.token, jobId);
    expect(await run(r.run_id)).toMatchObject({ status: "running" });

    const sub = s.stack.redis.duplicate();
    const messages: string[] = [];
    await sub.subscribe(cancelChannel(s.stack.prefix));
    sub.on("message", (_c, m) => messages.push(m));

    const res = await call(s.stack.url, "POST", `/api/v1/jobs/${jobId}/cancel`, { token: s.world.tokens.bob });
    expect(res.status).toBe(202);
    expect(res.body).toMatchObject({ changed_jobs: 1, run_completed: false, run_conclusion: "" });
    expect(await job(jobId)).toMatchObject({ status: "running", cancelRequested: true, conclusion: null });

    const msg = cancelSignal.parse(JSON.parse(await waitFor("cancel signal", async () => messages[0])));
    expect(msg).toMatchObject({ job_id: jobId, run_id: r.run_id, runner_id: runner.id });
    sub.disconnect();

    const auth = { token: claimed.token };
    const check = await call(s.stack.url, "POST", `/api/v1/jobs/${jobId}/cancel-check`, auth);
    expect(check).toMatchObject({ status: 200, body: { cancelled: true } });

    const again = await call(s.stack.url, "POST", `/api/v1/jobs/${jobId}/cancel`, { token: s.world.tokens.bob });
    expect(again.body).toMatchObject({ changed_jobs: 0 });

    const done = await call(s.stack.url, "POST", `/api/v1/jobs/${jobId}/status`, { ...auth, body: { status: "cancelled" } });
    expect(done.status).toBe(200);
    const j = await job(jobId);
    expect(j).toMatchObject({ status: "cancelled", conclusion: "cancelled" });
    expect(j.steps.every((s) => s.status === "cancelled")).toBe(true);
    expect(await run(r.run_id)).toMatchObject({ status: "completed", conclusion: "cancelled" });

    // A repeat of the same terminal report is accepted; a different one is refused.
    expect((await call(s.stack.url, "POST", `/api/v1/jobs/${jobId}/status`, { ...auth, body: { status: "cancelled" } })).status).toBe(200);
    const late = await call(s.stack.url, "POST", `/api/v1/jobs/${jobId}/status`, { ...auth, body: { status: "completed", conclusion: "success" } });
    expect(late.status).toBe(409);
    expect(await job(jobId)).toMatchObject({ status: "cancelled" });
  });

  it("lets a runner that finished first report success", async () => {
    const r = await pushAndRun(s.db.prisma, "alice/demo", ONE_JOB, "b2b2b2b2");
    const jobId = r.job_ids[0]!;
    const runner = await registerTestRunner(s.db.prisma, "runner-finish");
    const claimed = await claimJob(s.stack.url, runner.token, jobId);
    await call(s.stack.url, "POST", `/api/v1/jobs/${jobId}/cancel`, { token: s.world.tokens.bob });
    const done = await call(s.stack.url, "POST", `/api/v1/jobs/${jobId}/status`, { token: claimed.token, body: { status: "completed", conclusion: "success" } });
    expect(done.status).toBe(200);
    expect(await job(jobId)).toMatchObject({ status: "completed", conclusion: "success", cancelRequested: true });
    expect(await run(r.run_id)).toMatchObject({ status: "completed", conclusion: "success" });
  });
});
