import { describe, expect, it } from "vitest";
import * as ops from "../admin/ops.ts";
import { fingerprint } from "./setup/fingerprint.ts";
import { worldSuite } from "./setup/suite.ts";
import { call, claim, pushAndRun, registerTestRunner, TWO_JOBS } from "./setup/world.ts";

const s = worldSuite("runner");

const post = (path: string, token: string, body?: unknown) => call(s.stack.url, "POST", path, { token, body });

describe("runner protocol", () => {
  it("claims jobs in dependency order, runs a workflow to success with logs", async () => {
    const r = await pushAndRun(s.db.prisma, "alice/secret", TWO_JOBS, "9a9a0001");
    const [build, test] = r.job_ids as [number, number];
    const runner = await registerTestRunner(s.db.prisma, "proto-1", ["ubuntu-latest", "linux"], 2);

    const first = await claim(s.stack.url, runner.token);
    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({
      token: expect.stringMatching(/^shithub_job_/),
      expires_at: expect.any(String),
      job: { id: build, run_id: r.run_id, runner_id: runner.id, job_key: "build", name: "Build", runs_on: "ubuntu-latest", timeout_minutes: 360 },
    });
    expect(first.body.job.steps.map((s: { index: number; name: string; run: string }) => [s.index, s.name, s.run])).toEqual([
      [0, "Compile", 'echo "compiling"'],
      [1, "Run sleep 1", "sleep 1"],
    ]);
    // `test` needs `build`, which has not succeeded yet.
    expect((await claim(s.stack.url, runner.token)).status).toBe(204);
    expect(await s.db.prisma.workflowRun.findUniqueOrThrow({ where: { id: BigInt(r.run_id) } })).toMatchObject({ status: "running" });

    const t = first.body.token as string;
    for (const step of first.body.job.steps as { id: number }[]) {
      expect((await post(`/api/v1/jobs/${build}/steps/${step.id}/status`, t, { status: "running" })).status).toBe(200);
      expect((await post(`/api/v1/jobs/${build}/logs`, t, { step_id: step.id, seq: 0, content: `line for ${step.id}` })).status).toBe(200);
      // A retried chunk is accepted once; a different chunk under the same seq is refused.
      expect((await post(`/api/v1/jobs/${build}/logs`, t, { step_id: step.id, seq: 0, content: `line for ${step.id}` })).body).toEqual({ changed: false });
      expect((await post(`/api/v1/jobs/${build}/logs`, t, { step_id: step.id, seq: 0, content: "other" })).status).toBe(409);
      expect((await post(`/api/v1/jobs/${build}/steps/${step.id}/status`, t, { status: "completed", conclusion: "success" })).status).toBe(200);
    }
    expect((await post(`/api/v1/jobs/${build}/cancel-check`, t)).body).toEqual({ cancelled: false, force: false });
    expect((await post(`/api/v1/jobs/${build}/status`, t, { status: "completed", conclusion: "success" })).body).toEqual({ changed: true, run_completed: false });

    const second = await claim(s.stack.url, runner.token);
    expect(second.body.job.id).toBe(test);
    const t2 = second.body.token as string;
    // A job token works for its own job only.
    expect((await post(`/api/v1/jobs/${build}/cancel-check`, t2)).status).toBe(404);
    expect((await post(`/api/v1/jobs/${test}/status`, t2, { status: "completed", conclusion: "success" })).body).toEqual({ changed: true, run_completed: true });
    expect(await s.db.prisma.workflowRun.findUniqueOrThrow({ where: { id: BigInt(r.run_id) } })).toMatchObject({ status: "completed", conclusion: "success" });

    const alice = await ops.createToken(s.db.prisma, { user: "alice", scopes: ["repo:read"] });
    const logs = await call(s.stack.url, "GET", `/api/v1/jobs/${build}/logs`, { token: alice.token });
    expect(logs.body).toBe(`##[group]Compile\nline for ${first.body.job.steps[0].id}\n##[endgroup]\n##[group]Run sleep 1\nline for ${first.body.job.steps[1].id}\n##[endgroup]\n`);
    expect(await s.db.prisma.jobToken.count({ where: { tokenHash: t } })).toBe(0);
  });

  it("skips dependents of a failed job and fails the run", async () => {
    const r = await pushAndRun(s.db.prisma, "alice/demo", TWO_JOBS, "9a9a0002");
    const runner = await registerTestRunner(s.db.prisma, "proto-2");
    const c = await claim(s.stack.url, runner.token);
    expect(c.body.job.id).toBe(r.job_ids[0]);
    await post(`/api/v1/jobs/${c.body.job.id}/status`, c.body.token, { status: "completed", conclusion: "failure" });
    const jobs = await s.db.prisma.workflowJob.findMany({ where: { runId: BigInt(r.run_id) }, orderBy: { jobIndex: "asc" }, include: { steps: true } });
    expect(jobs.map((j) => [j.status, j.conclusion])).toEqual([["completed", "failure"], ["skipped", "skipped"]]);
    expect(jobs[0]!.steps.every((s) => s.status === "skipped")).toBe(true);
    expect(await s.db.prisma.workflowRun.findUniqueOrThrow({ where: { id: BigInt(r.run_id) } })).toMatchObject({ status: "completed", conclusion: "failure" });
  });

  it("respects labels, capacity, draining and revocation", async () => {
    await pushAndRun(s.db.prisma, "alice/demo", "jobs:\n  a:\n    runs-on: gpu\n    steps: [{run: echo a}]\n  b:\n    runs-on: gpu\n    steps: [{run: echo b}]\n", "9a9a0003");
    const cpu = await registerTestRunner(s.db.prisma, "cpu-only", ["ubuntu-latest"], 5);
    const gpu = await registerTestRunner(s.db.prisma, "gpu-1", ["gpu"], 1);
    expect((await claim(s.stack.url, cpu.token)).status).toBe(204);
    await ops.setRunnerState(s.db.prisma, "gpu-1", "drain");
    expect((await claim(s.stack.url, gpu.token)).status).toBe(204);
    await ops.setRunnerState(s.db.prisma, "gpu-1", "undrain");
    const got = await claim(s.stack.url, gpu.token);
    expect(got.status).toBe(200);
    // Capacity 1: the second gpu job waits while the first runs.
    expect((await claim(s.stack.url, gpu.token)).status).toBe(204);
    await ops.setRunnerState(s.db.prisma, "gpu-1", "revoke");
    const denied = await claim(s.stack.url, gpu.token);
    expect(denied).toMatchObject({ status: 401, body: { error: "runner revoked" } });
    // A revoked runner's job tokens stop working too.
    expect((await post(`/api/v1/jobs/${got.body.job.id}/cancel-check`, got.body.token)).status).toBe(401);
  });

  it("refuses bad credentials and bad bodies without changing anything", async () => {
    const runner = await registerTestRunner(s.db.prisma, "proto-bad");
    const before = await fingerprint(s.db.pool);
    expect((await call(s.stack.url, "POST", "/api/v1/runners/heartbeat", {})).status).toBe(401);
    expect((await post("/api/v1/runners/heartbeat", "nope")).status).toBe(401);
    expect((await post("/api/v1/runners/heartbeat", runner.token, { capacity: "many" })).status).toBe(400);
    expect((await post("/api/v1/runners/heartbeat", runner.token, { bogus: 1 })).status).toBe(400);
    expect((await post("/api/v1/jobs/1/status", "shithub_job_nope", { status: "running" })).status).toBe(401);
    expect(await fingerprint(s.db.pool)).toBe(before);
  });

  it("refuses an expired job token", async () => {
    await pushAndRun(s.db.prisma, "alice/demo", "jobs:\n  x:\n    runs-on: ubuntu-latest\n    steps: [{run: echo x}]\n", "9a9a0004");
    const runner = await registerTestRunner(s.db.prisma, "proto-exp");
    const c = await claim(s.stack.url, runner.token);
    expect(c.status).toBe(200);
    await s.db.prisma.jobToken.updateMany({ where: { jobId: BigInt(c.body.job.id) }, data: { expiresAt: new Date(Date.now() - 1000) } });
    expect(await post(`/api/v1/jobs/${c.body.job.id}/status`, c.body.token, { status: "completed", conclusion: "success" })).toMatchObject({ status: 401, body: { error: "token expired" } });
    expect(await s.db.prisma.workflowJob.findUniqueOrThrow({ where: { id: BigInt(c.body.job.id) } })).toMatchObject({ status: "running" });
  });
});
