import { describe, expect, it } from "vitest";
import { cancelChannel, cancelSignal } from "../domain/contracts.ts";
import { waitFor } from "./setup/db.ts";
import { fingerprint } from "./setup/fingerprint.ts";
import { worldSuite } from "./setup/suite.ts";
import { call, claimJob, pushAndRun, registerTestRunner, TWO_JOBS } from "./setup/world.ts";

const s = worldSuite("runcancel");

const THREE = "jobs:\n  a:\n    runs-on: ubuntu-latest\n    steps: [{run: sleep 600}]\n  b:\n    runs-on: ubuntu-latest\n    steps: [{run: sleep 600}]\n  c:\n    needs: a\n    runs-on: ubuntu-latest\n    steps: [{run: echo c}]\n";
const post = (path: string, token: string, o: { body?: unknown; headers?: Record<string, string> } = {}) => call(s.stack.url, "POST", path, { token, ...o });
const jobsOf = (runId: number) => s.db.prisma.workflowJob.findMany({ where: { runId: BigInt(runId) }, orderBy: { jobIndex: "asc" }, include: { steps: true } });

/** A run whose job `a` is running on a test runner and `b`, `c` are queued. */
async function partlyRunning(sha: string) {
  const r = await pushAndRun(s.db.prisma, "alice/demo", THREE, sha);
  const runner = await registerTestRunner(s.db.prisma, `rc-${sha}`, ["ubuntu-latest"], 64);
  const claimed = await claimJob(s.stack.url, runner.token, r.job_ids[0]!);
  return { ...r, runner, claimed };
}

async function listen() {
  const sub = s.stack.redis.duplicate();
  const got: ReturnType<typeof cancelSignal.parse>[] = [];
  await sub.subscribe(cancelChannel(s.stack.prefix));
  sub.on("message", (_c, m) => got.push(cancelSignal.parse(JSON.parse(m))));
  return { got, close: () => sub.disconnect() };
}

describe("POST /api/v1/runs/{id}/cancel", () => {
  it("ends queued jobs at once, flags running ones, signals their runners, and stores the reason", async () => {
    const r = await partlyRunning("c1c1c1c1");
    const sig = await listen();
    const res = await post(`/api/v1/runs/${r.run_id}/cancel`, s.world.tokens.bob, { body: { reason: "superseded by a newer push" } });
    expect(res.status).toBe(202);
    expect(res.body).toEqual({ run_id: r.run_id, repo_id: s.world.repos.pub.id, changed_jobs: 3, run_completed: false, run_conclusion: "" });
    const [a, b, c] = await jobsOf(r.run_id);
    expect(a).toMatchObject({ status: "running", cancelRequested: true, cancelReason: "superseded by a newer push" });
    expect(b).toMatchObject({ status: "cancelled", conclusion: "cancelled", cancelReason: "superseded by a newer push" });
    expect(c).toMatchObject({ status: "cancelled" });
    const bob = await s.db.prisma.user.findUniqueOrThrow({ where: { login: "bob" } });
    expect(a!.cancelRequestedBy).toBe(bob.id);
    expect(a!.cancelRequestedTokenId).not.toBeNull();
    const shown = await call(s.stack.url, "GET", `/api/v1/jobs/${r.job_ids[0]}`, { token: s.world.tokens.dave });
    expect(shown.body).toMatchObject({
      cancel_requested: true, cancel_reason: "superseded by a newer push",
      cancel_requested_by: { id: Number(bob.id), login: "bob" }, cancel_requested_token_id: Number(a!.cancelRequestedTokenId),
    });
    await waitFor("the signal", async () => sig.got.find((m) => m.job_id === r.job_ids[0]));
    expect(sig.got.map((m) => m.job_id)).toEqual([r.job_ids[0]]);
    sig.close();
    // The runner stops; the run completes cancelled.
    const done = await post(`/api/v1/jobs/${r.job_ids[0]}/status`, r.claimed.token, { body: { status: "cancelled" } });
    expect(done.body).toMatchObject({ run_completed: true });
    const again = await post(`/api/v1/runs/${r.run_id}/cancel`, s.world.tokens.bob);
    expect(again.body).toEqual({ run_id: r.run_id, repo_id: s.world.repos.pub.id, changed_jobs: 0, run_completed: false, run_conclusion: "" });
  });

  it("completes a run of queued jobs at once", async () => {
    const r = await pushAndRun(s.db.prisma, "alice/demo", TWO_JOBS, "c1c1c1c2");
    const res = await post(`/api/v1/runs/${r.run_id}/cancel`, s.world.tokens.alice);
    expect(res.body).toMatchObject({ changed_jobs: 2, run_completed: true, run_conclusion: "cancelled" });
  });

  it("follows the permission matrix and refuses bad input without changing anything", async () => {
    const r = await pushAndRun(s.db.prisma, "alice/secret", TWO_JOBS, "c1c1c1c3");
    const pub = await pushAndRun(s.db.prisma, "alice/demo", TWO_JOBS, "c1c1c1c4");
    const before = await fingerprint(s.db.pool);
    for (const path of ["cancel", "force-cancel"]) {
      expect(await post(`/api/v1/runs/${r.run_id}/${path}`, s.world.tokens.dave)).toMatchObject({ status: 404, body: { error: "run not found" } });
      expect(await post(`/api/v1/runs/999999/${path}`, s.world.tokens.alice)).toMatchObject({ status: 404, body: { error: "run not found" } });
      expect(await post(`/api/v1/runs/${pub.run_id}/${path}`, s.world.tokens.carol)).toMatchObject({ status: 403, body: { error: "write permission required" } });
      expect(await post(`/api/v1/runs/${pub.run_id}/${path}`, s.world.tokens.bobRead)).toMatchObject({ status: 403, body: { error: "token lacks required scope: repo:write" } });
      expect((await call(s.stack.url, "POST", `/api/v1/runs/${pub.run_id}/${path}`)).status).toBe(401);
      expect(await post(`/api/v1/runs/${pub.run_id}/${path}`, s.world.tokens.alice, { body: { reason: "x".repeat(501) } })).toMatchObject({ status: 400 });
      expect(await post(`/api/v1/runs/${pub.run_id}/${path}`, s.world.tokens.alice, { body: { why: "?" } })).toMatchObject({ status: 400, body: { error: "unknown field: why" } });
    }
    expect(await fingerprint(s.db.pool)).toBe(before);
  });

  it("replays the first answer for a repeated Idempotency-Key", async () => {
    const r = await pushAndRun(s.db.prisma, "alice/demo", TWO_JOBS, "c1c1c1c5");
    const h = { "Idempotency-Key": `run-cancel-${r.run_id}` };
    const first = await post(`/api/v1/runs/${r.run_id}/cancel`, s.world.tokens.bob, { headers: h });
    const second = await post(`/api/v1/runs/${r.run_id}/cancel`, s.world.tokens.bob, { headers: h });
    expect(second.body).toEqual(first.body);
    expect(first.body.changed_jobs).toBe(2);
  });
});

describe("POST /api/v1/runs/{id}/force-cancel", () => {
  it("ends every open job at once, tells runners to kill without grace, and accepts their later reports as no-ops", async () => {
    const r = await partlyRunning("f1f1f1f1");
    const sig = await listen();
    const res = await post(`/api/v1/runs/${r.run_id}/force-cancel`, s.world.tokens.bob, { body: { reason: "runaway" } });
    expect(res.body).toEqual({ run_id: r.run_id, repo_id: s.world.repos.pub.id, changed_jobs: 3, run_completed: true, run_conclusion: "cancelled" });
    const jobs = await jobsOf(r.run_id);
    expect(jobs.every((j) => j.status === "cancelled" && j.forceCancelled && j.cancelReason === "runaway")).toBe(true);
    expect(jobs.flatMap((j) => j.steps).every((st) => st.status === "cancelled")).toBe(true);
    const signal = await waitFor("the force signal", async () => sig.got.find((m) => m.job_id === r.job_ids[0]));
    expect(signal.force).toBe(true);
    sig.close();
    const before = await fingerprint(s.db.pool);
    const t = r.claimed.token;
    const stepId = r.claimed.job.steps[0]!.id;
    expect(await post(`/api/v1/jobs/${r.job_ids[0]}/status`, t, { body: { status: "completed", conclusion: "success" } })).toMatchObject({ status: 200, body: { changed: false } });
    expect(await post(`/api/v1/jobs/${r.job_ids[0]}/steps/${stepId}/status`, t, { body: { status: "completed", conclusion: "failure" } })).toMatchObject({ status: 200, body: { changed: false } });
    expect(await fingerprint(s.db.pool)).toBe(before);
  });
});

describe("GET /api/v1/runs/{id}/timeline", () => {
  it("lists who did what to the run and its jobs, when, through which route", async () => {
    const r = await partlyRunning("7a7a7a7a");
    await post(`/api/v1/jobs/${r.job_ids[1]}/cancel`, s.world.tokens.alice, { body: { reason: "not needed" } });
    await post(`/api/v1/runs/${r.run_id}/cancel`, s.world.tokens.bob, { headers: { "X-Request-Id": "timeline-req-1" } });
    await post(`/api/v1/jobs/${r.job_ids[0]}/status`, r.claimed.token, { body: { status: "cancelled" } });
    const res = await call(s.stack.url, "GET", `/api/v1/runs/${r.run_id}/timeline`, { token: s.world.tokens.dave });
    expect(res.status).toBe(200);
    const requests = res.body.events.filter((e: { type: string }) => e.type === "request");
    expect(requests.map((e: any) => [e.actor.login, e.route, e.job_id, e.detail.reason ?? null])).toEqual([
      ["alice", "POST /api/v1/jobs/{id}/cancel", r.job_ids[1], "not needed"],
      ["bob", "POST /api/v1/runs/{id}/cancel", null, null],
    ]);
    expect(requests[1].detail).toMatchObject({ outcome: "applied", request_id: "timeline-req-1", changed_jobs: 2 });
    const transitions = res.body.events.filter((e: { type: string }) => e.type === "job_transition").map((e: any) => `${e.detail.job_key}:${e.detail.to}`);
    expect(transitions).toEqual(expect.arrayContaining(["a:queued", "a:running", "a:cancelled", "b:cancelled", "c:cancelled"]));
    const times = res.body.events.map((e: { at: string }) => e.at);
    expect([...times].sort()).toEqual(times);
    expect((await call(s.stack.url, "GET", `/api/v1/runs/${r.run_id}/timeline`, {})).status).toBe(401);
    const priv = await pushAndRun(s.db.prisma, "alice/secret", TWO_JOBS, "7a7a7a7b");
    expect((await call(s.stack.url, "GET", `/api/v1/runs/${priv.run_id}/timeline`, { token: s.world.tokens.dave })).status).toBe(404);
  });
});
