import { describe, expect, it } from "vitest";
import * as ops from "../admin/ops.ts";
import { worldSuite } from "./setup/suite.ts";
import { call, ONE_JOB, pushAndRun, TWO_JOBS } from "./setup/world.ts";

const s = worldSuite("rerun");

/** A completed run: its only job cancelled while queued. */
async function completedRun(source = ONE_JOB, sha = "c0ffee01") {
  const r = await pushAndRun(s.db.prisma, "alice/demo", source, sha);
  for (const id of r.job_ids) await call(s.stack.url, "POST", `/api/v1/jobs/${id}/cancel`, { token: s.world.tokens.alice });
  return r;
}

const rerun = (id: number, token = s.world.tokens.bob, headers: Record<string, string> = {}) =>
  call(s.stack.url, "POST", `/api/v1/runs/${id}/rerun`, { token, headers });

describe("rerun", () => {
  it("creates a new run from the source at the original sha, never a later version", async () => {
    const src = await completedRun(TWO_JOBS, "d00d0001");
    // A newer version of the same file at another sha must not be used.
    await ops.pushWorkflow(s.db.prisma, { repo: "alice/demo", file: ".shithub/workflows/ci.yml", sha: "d00d0002", content: ONE_JOB });
    const source = await s.db.prisma.workflowRun.findUniqueOrThrow({ where: { id: BigInt(src.run_id) } });
    const res = await rerun(src.run_id);
    expect(res.status).toBe(201);
    expect(res.body).toEqual({
      run_id: expect.any(Number), run_index: source.runIndex + 1, parent_run_id: src.run_id,
      repo_id: s.world.repos.pub.id, workflow_file: ".shithub/workflows/ci.yml", head_sha: "d00d0001",
    });
    const created = await s.db.prisma.workflowRun.findUniqueOrThrow({
      where: { id: BigInt(res.body.run_id) },
      include: { jobs: { include: { steps: true }, orderBy: { jobIndex: "asc" } } },
    });
    expect(created).toMatchObject({ status: "queued", conclusion: null, headRef: source.headRef, event: source.event, parentRunId: source.id });
    expect(created.triggerEventId).toMatch(new RegExp(`^rerun:${src.run_id}:[0-9a-f]{16}$`));
    expect(created.actorUserId).toBe((await s.db.prisma.user.findUniqueOrThrow({ where: { login: "bob" } })).id);
    expect(created.jobs.map((j) => [j.jobKey, j.status, j.needs, j.steps.length])).toEqual([
      ["build", "queued", [], 2],
      ["test", "queued", ["build"], 1],
    ]);
  });

  it("refuses a run that is not terminal with 409", async () => {
    const r = await pushAndRun(s.db.prisma, "alice/demo", ONE_JOB, "e0e0e0e1");
    const res = await rerun(r.run_id);
    expect(res).toMatchObject({ status: 409, body: { error: "run is not rerunnable" } });
    expect(await s.db.prisma.workflowRun.count({ where: { parentRunId: BigInt(r.run_id) } })).toBe(0);
  });

  it("answers 409 when the source is missing and 422 when it is invalid", async () => {
    const src = await completedRun(ONE_JOB, "e0e0e0e2");
    await s.db.prisma.workflowSource.deleteMany({ where: { headSha: "e0e0e0e2" } });
    expect(await rerun(src.run_id)).toMatchObject({ status: 409, body: { error: "workflow source unavailable" } });
    await s.db.prisma.workflowSource.create({
      data: { repoId: BigInt(s.world.repos.pub.id), path: ".shithub/workflows/ci.yml", headSha: "e0e0e0e2", content: "jobs: {}\n" },
    });
    expect(await rerun(src.run_id)).toMatchObject({ status: 422, body: { error: "workflow source invalid" } });
    expect(await s.db.prisma.workflowRun.count({ where: { parentRunId: BigInt(src.run_id) } })).toBe(0);
  });

  it("gives twenty concurrent reruns distinct, gapless run indexes", async () => {
    const src = await completedRun(ONE_JOB, "f0f0f0f1");
    const before = (await s.db.prisma.repo.findUniqueOrThrow({ where: { id: BigInt(s.world.repos.pub.id) } })).nextRunIndex;
    const results = await Promise.all(Array.from({ length: 20 }, () => rerun(src.run_id)));
    expect(results.map((r) => r.status)).toEqual(Array(20).fill(201));
    const indexes = results.map((r) => r.body.run_index as number).sort((a, b) => a - b);
    expect(indexes).toEqual(Array.from({ length: 20 }, (_, i) => before + i));
  });

  it("replays the original response for the same Idempotency-Key and creates one run", async () => {
    const src = await completedRun(ONE_JOB, "f0f0f0f2");
    const key = { "Idempotency-Key": `key-${src.run_id}` };
    const [a, b] = await Promise.all([rerun(src.run_id, s.world.tokens.bob, key), rerun(src.run_id, s.world.tokens.bob, key)]);
    const c = await rerun(src.run_id, s.world.tokens.bob, key);
    expect([a.status, b.status, c.status]).toEqual([201, 201, 201]);
    expect(b.body).toEqual(a.body);
    expect(c.body).toEqual(a.body);
    expect(await s.db.prisma.workflowRun.count({ where: { parentRunId: BigInt(src.run_id) } })).toBe(1);
    // Another user's identical key is a different request.
    const other = await rerun(src.run_id, s.world.tokens.alice, key);
    expect(other.status).toBe(201);
    expect(other.body.run_id).not.toBe(a.body.run_id);
  });

  it("refuses the same Idempotency-Key on a different run with 422", async () => {
    const one = await completedRun(ONE_JOB, "f0f0f0f3");
    const two = await completedRun(ONE_JOB, "f0f0f0f4");
    const key = { "Idempotency-Key": "shared-key-1" };
    expect((await rerun(one.run_id, s.world.tokens.bob, key)).status).toBe(201);
    const res = await rerun(two.run_id, s.world.tokens.bob, key);
    expect(res.status).toBe(422);
    expect(await s.db.prisma.workflowRun.count({ where: { parentRunId: BigInt(two.run_id) } })).toBe(0);
  });

  it("rejects a malformed Idempotency-Key", async () => {
    const src = await completedRun(ONE_JOB, "f0f0f0f5");
    const res = await rerun(src.run_id, s.world.tokens.bob, { "Idempotency-Key": "x".repeat(256) });
    expect(res).toMatchObject({ status: 400 });
  });
});
