import { describe, expect, it } from "vitest";
import { isAlive } from "../runner-sim/container/driver.ts";
import { connectRedis } from "../infra/redis.ts";
import { waitFor } from "./setup/db.ts";
import type { Service } from "./setup/stack.ts";
import { kitSuite } from "./setup/kit-suite.ts";
import { event, events, runEnds, runWithJobs } from "./setup/system.ts";
import { call, pushAndRun, TWO_JOBS } from "./setup/world.ts";

// The whole system as separate processes: api, worker and runner-sim fleets, started by
// the test kit (testing/README.md).

const sys = kitSuite("e2e", { RUNNERS: "2", RUNNER_CAPACITY: "2", RUNNER_NAME_PREFIX: "e2e" });

describe("end to end with api, worker and runner-sim processes", () => {
  it("runs build then test to completed/success, with logs", async () => {
    const r = await pushAndRun(sys.db.prisma, "alice/demo", TWO_JOBS, "e2e00001");
    const done = await runEnds(sys.db, r.run_id);
    expect(done.conclusion).toBe("success");
    expect(done.jobs.map((j) => [j.jobKey, j.status, j.conclusion])).toEqual([["build", "completed", "success"], ["test", "completed", "success"]]);
    expect(done.jobs[1]!.startedAt!.getTime()).toBeGreaterThanOrEqual(done.jobs[0]!.completedAt!.getTime());
    expect(done.jobs.flatMap((j) => j.steps).every((s) => s.conclusion === "success")).toBe(true);
    const logs = await call(sys.api, "GET", `/api/v1/jobs/${r.job_ids[0]}/logs`, { token: sys.world.tokens.alice });
    expect(logs.body).toContain("compiling\n");
    expect(logs.body).toContain("##[group]Compile");
  });

  it("fails the job and the run when a step exits 1, and skips the dependent job", async () => {
    const wf = "jobs:\n  build:\n    runs-on: linux\n    steps:\n      - run: echo before; exit 1\n      - run: echo never\n  test:\n    needs: build\n    runs-on: linux\n    steps: [{run: echo never}]\n";
    const r = await pushAndRun(sys.db.prisma, "alice/demo", wf, "e2e00002");
    const done = await runEnds(sys.db, r.run_id);
    expect(done.conclusion).toBe("failure");
    expect(done.jobs.map((j) => [j.status, j.conclusion])).toEqual([["completed", "failure"], ["skipped", "skipped"]]);
    expect(done.jobs[0]!.steps.map((s) => s.conclusion)).toEqual(["failure", "skipped"]);
  });

  it("cancels a running `sleep 600`: the container is gone, the job cancelled, the run completed/cancelled", async () => {
    const r = await pushAndRun(sys.db.prisma, "alice/demo", "jobs:\n  slow:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo start; sleep 600\n      - run: echo after\n", "e2e00003");
    const jobId = r.job_ids[0]!;
    const started = await event(sys.sim, "container started", jobId);
    expect(isAlive(started.pid)).toBe(true);
    const res = await call(sys.api, "POST", `/api/v1/jobs/${jobId}/cancel`, { token: sys.world.tokens.bob });
    expect(res).toMatchObject({ status: 202, body: { changed_jobs: 1, run_completed: false } });
    await waitFor("the container to be gone", async () => !isAlive(started.pid), 5000, 2);
    const done = await runEnds(sys.db, r.run_id);
    expect(done.conclusion).toBe("cancelled");
    expect(done.jobs[0]).toMatchObject({ status: "cancelled", conclusion: "cancelled" });
    expect(done.jobs[0]!.steps.map((s) => s.status)).toEqual(["cancelled", "cancelled"]);
    expect((await event(sys.sim, "cancel received", jobId)).via).toBe("signal");
  });

  it("lets one cancel be followed by its request id through api, worker and runner-sim logs", async () => {
    const r = await pushAndRun(sys.db.prisma, "alice/demo", "jobs:\n  traced:\n    runs-on: ubuntu-latest\n    steps: [{run: sleep 600}]\n", "e2e00008");
    const jobId = r.job_ids[0]!;
    await event(sys.sim, "container started", jobId);
    const rid = `trace-${jobId}-${Date.now()}`;
    const res = await call(sys.api, "POST", `/api/v1/jobs/${jobId}/cancel`, { token: sys.world.tokens.bob, headers: { "X-Request-Id": rid } });
    expect(res.headers.get("x-request-id")).toBe(rid);
    await runEnds(sys.db, r.run_id);
    await event(sys.sim, "job finished", jobId);
    const withRid = (s: Service) => events(s).filter((e) => e.request_id === rid).map((e) => e.msg ?? "");
    await waitFor("the runner's report in the api log", async () => withRid(sys.apiProc).filter((m) => m === "request").length >= 2);
    expect(withRid(sys.workerProc)).toContain("intent applied");
    expect(withRid(sys.sim)).toEqual(expect.arrayContaining(["cancel received", "job finished"]));
    const paths = events(sys.apiProc).filter((e) => e.request_id === rid).map((e) => `${e.method} ${e.path} ${e.status}`);
    expect(paths).toEqual(expect.arrayContaining([`POST /api/v1/jobs/${jobId}/cancel 202`, `POST /api/v1/jobs/${jobId}/status 200`]));
    expect((await sys.db.prisma.lifecycleIntent.findFirstOrThrow({ where: { targetId: BigInt(jobId) } })).requestId).toBe(rid);
    // The runner's terminal report was timed against the cancel request.
    const metrics = String((await call(sys.api, "GET", "/metrics")).body);
    expect(Number(/^actions_cancel_propagation_seconds_count (\d+)/m.exec(metrics)?.[1])).toBeGreaterThanOrEqual(1);
  });

  it("still stops the job when the runner-sim's signal subscription was cut", async () => {
    const r = await pushAndRun(sys.db.prisma, "alice/demo", "jobs:\n  slow:\n    runs-on: ubuntu-latest\n    steps: [{run: sleep 600}]\n", "e2e00004");
    const jobId = r.job_ids[0]!;
    const started = await event(sys.sim, "container started", jobId);
    const redis = connectRedis(sys.redisUrl, "worker", "e2e-admin");
    try {
      const killed = await redis.call("CLIENT", "KILL", "TYPE", "pubsub", "SKIPME", "yes");
      expect(Number(killed)).toBeGreaterThanOrEqual(1);
    } finally {
      redis.disconnect();
    }
    expect((await call(sys.api, "POST", `/api/v1/jobs/${jobId}/cancel`, { token: sys.world.tokens.bob })).status).toBe(202);
    await waitFor("the container to be gone", async () => !isAlive(started.pid), 10_000, 5);
    expect((await runEnds(sys.db, r.run_id)).conclusion).toBe("cancelled");
    expect(["signal", "poll", "reconnect"]).toContain((await event(sys.sim, "cancel received", jobId)).via);
  });

  it("kills a container that ignores SIGTERM after the grace period", async () => {
    const r = await pushAndRun(sys.db.prisma, "alice/demo", "jobs:\n  stubborn:\n    runs-on: ubuntu-latest\n    steps: [{run: \"trap '' TERM; echo trapped; sleep 600\"}]\n", "e2e00005");
    const jobId = r.job_ids[0]!;
    const started = await event(sys.sim, "container started", jobId);
    // The trap is set once the container has said so (its log line reached the API).
    await waitFor("the trap to be set", () => sys.db.prisma.stepLogChunk.findFirst({ where: { content: "trapped", step: { jobId: BigInt(jobId) } } }), 10_000);
    const t0 = Date.now();
    await call(sys.api, "POST", `/api/v1/jobs/${jobId}/cancel`, { token: sys.world.tokens.bob });
    await waitFor("the container to be gone", async () => !isAlive(started.pid), 10_000, 5);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(900);
    expect((await event(sys.sim, "container stopped", jobId)).signal).toBe("SIGKILL");
    expect((await runEnds(sys.db, r.run_id)).conclusion).toBe("cancelled");
  });

  it("run cancel stops every container of the run", async () => {
    const r = await pushAndRun(sys.db.prisma, "alice/demo", "jobs:\n  one:\n    runs-on: ubuntu-latest\n    steps: [{run: sleep 600}]\n  two:\n    runs-on: ubuntu-latest\n    steps: [{run: sleep 600}]\n", "e2e00009");
    const pids = await Promise.all(r.job_ids.map(async (id) => (await event(sys.sim, "container started", id)).pid as number));
    expect((await call(sys.api, "POST", `/api/v1/runs/${r.run_id}/cancel`, { token: sys.world.tokens.bob })).body).toMatchObject({ changed_jobs: 2 });
    await waitFor("every container of the run to be gone", async () => pids.every((p) => !isAlive(p)), 10_000, 5);
    const done = await runEnds(sys.db, r.run_id);
    expect(done.conclusion).toBe("cancelled");
    expect(done.jobs.map((j) => j.status)).toEqual(["cancelled", "cancelled"]);
  });

  it("force-cancel kills every container at once, even ones that ignore SIGTERM", async () => {
    const step = "{run: \"trap '' TERM; echo trapped; sleep 600\"}";
    const r = await pushAndRun(sys.db.prisma, "alice/demo", `jobs:\n  one:\n    runs-on: ubuntu-latest\n    steps: [${step}]\n  two:\n    runs-on: ubuntu-latest\n    steps: [${step}]\n`, "e2e0000a");
    const pids = await Promise.all(r.job_ids.map(async (id) => (await event(sys.sim, "container started", id)).pid as number));
    await waitFor("both traps to be set", async () => (await sys.db.prisma.stepLogChunk.count({ where: { content: "trapped", step: { job: { runId: BigInt(r.run_id) } } } })) === 2, 10_000);
    const sent = Date.now();
    const res = await call(sys.api, "POST", `/api/v1/runs/${r.run_id}/force-cancel`, { token: sys.world.tokens.bob });
    expect(res.body).toMatchObject({ changed_jobs: 2, run_completed: true, run_conclusion: "cancelled" });
    await waitFor("every container to be gone", async () => pids.every((p) => !isAlive(p)), 10_000, 5);
    // Well inside the 1 s grace a plain cancel would have to wait out.
    expect(Date.now() - sent).toBeLessThan(1000);
    for (const id of r.job_ids) expect((await event(sys.sim, "container stopped", id)).signal).toBe("SIGKILL");
    // The runner's own later report was accepted and changed nothing.
    for (const id of r.job_ids) await event(sys.sim, "job finished", id);
    expect((await runWithJobs(sys.db, r.run_id)).jobs.every((j) => j.status === "cancelled" && j.forceCancelled)).toBe(true);
  });

  it("gives jobs only to runners with matching labels, never past their capacity", async () => {
    const gpu = await sys.startFleet({ RUNNERS: "1", RUNNER_CAPACITY: "1", RUNNER_LABELS: "gpu", RUNNER_NAME_PREFIX: "e2e-gpu" });
    await gpu.waitForLine(/fleet ready/);
    const wf = "jobs:\n" + [1, 2, 3].map((i) => `  g${i}:\n    runs-on: gpu\n    steps: [{run: sleep 0.3}]\n  c${i}:\n    runs-on: linux\n    steps: [{run: sleep 0.3}]\n`).join("");
    const r = await pushAndRun(sys.db.prisma, "alice/demo", wf, "e2e00006");
    const done = await runEnds(sys.db, r.run_id);
    expect(done.conclusion).toBe("success");
    const gpuRunner = await sys.db.prisma.runner.findUniqueOrThrow({ where: { name: "e2e-gpu-1" } });
    const gpuJobs = done.jobs.filter((j) => j.runsOn === "gpu");
    expect(gpuJobs.every((j) => j.runnerId === gpuRunner.id)).toBe(true);
    expect(done.jobs.filter((j) => j.runsOn === "linux").every((j) => j.runnerId !== gpuRunner.id)).toBe(true);
    // Capacity 1: the gpu jobs ran one after another.
    const spans = gpuJobs.map((j) => [j.startedAt!.getTime(), j.completedAt!.getTime()] as const).sort((a, b) => a[0] - b[0]);
    for (let i = 1; i < spans.length; i++) expect(spans[i]![0]).toBeGreaterThanOrEqual(spans[i - 1]![1]);
    await gpu.kill("SIGTERM");
  });

  it("reruns a cancelled run on the fleet to completion", async () => {
    const wf = "jobs:\n  build:\n    runs-on: ubuntu-latest\n    steps: [{run: echo building; sleep 2}]\n  test:\n    needs: build\n    runs-on: ubuntu-latest\n    steps: [{run: echo testing}]\n";
    const r = await pushAndRun(sys.db.prisma, "alice/demo", wf, "e2e00007");
    await event(sys.sim, "container started", r.job_ids[0]!);
    await call(sys.api, "POST", `/api/v1/jobs/${r.job_ids[0]}/cancel`, { token: sys.world.tokens.bob });
    expect((await runEnds(sys.db, r.run_id)).conclusion).toBe("cancelled");
    const rerun = await call(sys.api, "POST", `/api/v1/runs/${r.run_id}/rerun`, { token: sys.world.tokens.bob });
    expect(rerun.status).toBe(201);
    const done = await runEnds(sys.db, rerun.body.run_id);
    expect(done.conclusion).toBe("success");
    expect(done.parentRunId).toBe(BigInt(r.run_id));
  });
});
