// Integration: `strategy.matrix` from run creation to the end of the run, against real
// Postgres and Redis, the test acting as the runners (docs/workflows.md). Each test's jobs
// run on a label of their own, so no other test's jobs are claimed.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { cancelChannel, type CancelSignal } from "../domain/contracts.ts";
import { connectRedis } from "../infra/redis.ts";
import { parseWorkflow } from "../domain/workflow/parse.ts";
import { publishSignalsJob } from "../worker/maintenance.ts";
import { waitFor } from "./setup/db.ts";
import { worldSuite } from "./setup/suite.ts";
import { call, claim, pushAndRun, registerTestRunner } from "./setup/world.ts";

/** The cancel signals the API handed over for a worker to publish (fail-fast's). */
const announced: CancelSignal[] = [];
const s = worldSuite("matrix", { announceCancels: async (signals) => void announced.push(...signals) });
let shas = 0;
const nextSha = () => `ab${String(++shas).padStart(38, "0")}`;

const example = (name: string) => readFileSync(new URL(`../examples/${name}`, import.meta.url), "utf8");
const jobsOf = (runId: number) =>
  s.db.prisma.workflowJob.findMany({ where: { runId: BigInt(runId) }, orderBy: { jobIndex: "asc" }, include: { steps: { orderBy: { stepIndex: "asc" } } } });
const runOf = (runId: number) => s.db.prisma.workflowRun.findUniqueOrThrow({ where: { id: BigInt(runId) } });

/** A matrix job `build` on `label`, with `strategy` lines, and optionally a job needing it. */
function matrixSource(label: string, strategy: string, needer = false): string {
  const base = `name: M\non: push\njobs:\n  build:\n    runs-on: ${label}\n    strategy:\n${strategy.replace(/^/gm, "      ")}\n` +
    "    steps:\n      - run: echo ${{ matrix.n }}\n";
  return needer ? `${base}  after:\n    needs: build\n    runs-on: ${label}\n    steps:\n      - run: echo after\n` : base;
}

interface Held { jobId: number; token: string; name: string }

/** `n` runners on `label`, each taking up to `capacity` jobs. */
async function runners(label: string, n: number, capacity = 4) {
  return Promise.all([...Array(n).keys()].map((i) => registerTestRunner(s.db.prisma, `${label}-${i}`, [label], capacity)));
}

/** One heartbeat from each runner at the same time; the jobs they were given. */
async function claimRound(tokens: string[]): Promise<Held[]> {
  const rs = await Promise.all(tokens.map((t) => claim(s.stack.url, t)));
  return rs.filter((r) => r.status === 200).map((r) => ({ jobId: r.body.job.id, token: r.body.token, name: r.body.job.name }));
}

const report = (h: Held, body: object) => call(s.stack.url, "POST", `/api/v1/jobs/${h.jobId}/status`, { token: h.token, body });
const finish = (h: Held, conclusion: "success" | "failure") => report(h, { status: "completed", conclusion });

/** The worker's side of the hand-over: the signals reach the cancel channel on the real Redis. */
async function publishedOnRedis(signals: CancelSignal[]) {
  const sub = connectRedis(s.stack.redisUrl, "subscriber");
  const pub = connectRedis(s.stack.redisUrl, "publisher");
  try {
    const got: CancelSignal[] = [];
    sub.on("message", (_c: string, m: string) => got.push(JSON.parse(m) as CancelSignal));
    await sub.subscribe(cancelChannel(s.stack.prefix));
    expect(await publishSignalsJob({ publish: (c, m) => pub.publish(c, m), queuePrefix: s.stack.prefix }, { signals })).toEqual({ published: signals.length });
    await waitFor("the signals on the cancel channel", async () => (got.length === signals.length ? got : null), 5_000);
    expect(got).toEqual(signals);
    expect(await publishSignalsJob({ publish: (c, m) => pub.publish(c, m), queuePrefix: s.stack.prefix }, { signals: [{ job_id: "x" }] })).toEqual({ published: 0 });
  } finally {
    sub.disconnect();
    pub.disconnect();
  }
}

describe("examples/", () => {
  it("each example parses and a run of it creates the expected jobs", async () => {
    const want: Record<string, { key: string; name: string; needs: string[] }[]> = {
      "ci.yml": [{ key: "build", name: "Build", needs: [] }, { key: "test", name: "Test", needs: ["build"] }],
      "matrix.yml": [
        ...[18, 20, 22].map((n) => ({ key: `build (${n})`, name: `build (${n})`, needs: [] })),
        { key: "report", name: "report", needs: ["build (18)", "build (20)", "build (22)"] },
      ],
      "long.yml": [{ key: "long", name: "Long job", needs: [] }],
    };
    for (const [file, jobs] of Object.entries(want)) {
      const source = example(file);
      expect(parseWorkflow(source).ok, file).toBe(true);
      const r = await pushAndRun(s.db.prisma, "alice/demo", source, nextSha(), `.shithub/workflows/${file}`);
      const created = await jobsOf(r.run_id);
      expect(created.map((j) => ({ key: j.jobKey, name: j.name, needs: j.needs })), file).toEqual(jobs);
      expect(created.every((j) => j.runsOn === "ubuntu-latest" && j.status === "queued")).toBe(true);
      // Nothing of these runs should be claimed by later tests: cancel them.
      await call(s.stack.url, "POST", `/api/v1/runs/${r.run_id}/cancel`, { token: s.world.tokens.bob, body: {} });
    }
  });

  it("the matrix example's steps carry their values, its jobs their limits", async () => {
    const r = await pushAndRun(s.db.prisma, "alice/demo", example("matrix.yml"), nextSha(), ".shithub/workflows/matrix.yml");
    const jobs = await jobsOf(r.run_id);
    expect(jobs.slice(0, 3).map((j) => j.steps.map((st) => [st.name, st.run]))).toEqual([18, 20, 22].map((n) => [[`Test on Node ${n}`, `echo "node ${n}"; sleep 5`]]));
    expect(jobs.map((j) => [j.matrixKey, j.maxParallel, j.failFast])).toEqual([["build", 2, true], ["build", 2, true], ["build", 2, true], [null, null, false]]);
    await call(s.stack.url, "POST", `/api/v1/runs/${r.run_id}/cancel`, { token: s.world.tokens.bob, body: {} });
  });
});

describe("strategy.matrix on runners", () => {
  it("max-parallel: never more of the matrix running than allowed, however many runners claim at once", async () => {
    const label = "mx-par";
    const r = await pushAndRun(s.db.prisma, "alice/demo", matrixSource(label, "max-parallel: 2\nmatrix:\n  n: [1, 2, 3, 4, 5, 6]"), nextSha());
    const tokens = (await runners(label, 4)).map((x) => x.token);
    const held: Held[] = [];
    let most = 0;
    for (let round = 0; round < 40; round++) {
      held.push(...(await claimRound([...tokens, ...tokens])));
      const running = await s.db.prisma.workflowJob.count({ where: { runId: BigInt(r.run_id), status: "running" } });
      expect(running).toBeLessThanOrEqual(2);
      expect(held.length).toBe(running);
      most = Math.max(most, running);
      const done = held.shift();
      if (!done) break;
      expect((await finish(done, "success")).status).toBe(200);
    }
    expect(most).toBe(2);
    const end = await runOf(r.run_id);
    expect([end.status, end.conclusion]).toEqual(["completed", "success"]);
    expect((await jobsOf(r.run_id)).map((j) => j.name)).toEqual([1, 2, 3, 4, 5, 6].map((n) => `build (${n})`));
  });

  it("fail-fast: one failure cancels the rest of the matrix, with the reason in the timeline", async () => {
    const label = "mx-ff";
    const r = await pushAndRun(s.db.prisma, "alice/demo", matrixSource(label, "matrix:\n  n: [1, 2, 3]\n  include: [{n: 4}]\nmax-parallel: 2", true), nextSha());
    const [runner] = await runners(label, 1);
    // Two claims at once: which answer comes back first is not defined, so order by name.
    const held = (await claimRound([runner!.token, runner!.token])).sort((a, b) => a.name.localeCompare(b.name));
    expect(held.map((h) => h.name)).toEqual(["build (1)", "build (2)"]);
    expect((await finish(held[0]!, "failure")).status).toBe(200);

    const jobs = await jobsOf(r.run_id);
    const byName = new Map(jobs.map((j) => [j.name, j]));
    // The running sibling is asked to stop (its runner's cancel-check says so); the queued ones end at once.
    expect(byName.get("build (2)")).toMatchObject({ status: "running", cancelRequested: true, cancelReason: "fail-fast: build (1) failed" });
    for (const n of ["build (3)", "build (4)"]) expect(byName.get(n)).toMatchObject({ status: "cancelled", cancelReason: "fail-fast: build (1) failed" });
    expect(byName.get("after")!.status).toBe("skipped");
    // Its runner is signalled as a user's cancel would signal it: the API hands the signal over, a worker publishes it.
    expect(announced.map((a) => [a.job_id, a.runner_id])).toEqual([[held[1]!.jobId, runner!.id]]);
    await publishedOnRedis(announced);
    const check = await call(s.stack.url, "POST", `/api/v1/jobs/${held[1]!.jobId}/cancel-check`, { token: held[1]!.token, body: {} });
    expect(check.body).toMatchObject({ cancelled: true });
    expect((await claimRound([runner!.token])).length).toBe(0);

    expect((await report(held[1]!, { status: "cancelled" })).status).toBe(200);
    const end = await runOf(r.run_id);
    expect([end.status, end.conclusion]).toEqual(["completed", "failure"]);
    const timeline = await call(s.stack.url, "GET", `/api/v1/runs/${r.run_id}/timeline`, { token: s.world.tokens.bob });
    const cancelled = (timeline.body.events as { action: string; detail: { job_key?: string; reason?: string } }[]).filter((e) => e.action === "job cancelled");
    expect(cancelled.map((e) => [e.detail.job_key, e.detail.reason]).sort()).toEqual(
      ["build (2)", "build (3)", "build (4)"].map((k) => [k, "fail-fast: build (1) failed"]));
  });

  it("fail-fast: false lets the rest of the matrix run; rerun failed jobs reruns only the failed expansion", async () => {
    const label = "mx-noff";
    const r = await pushAndRun(s.db.prisma, "alice/demo", matrixSource(label, "fail-fast: false\nmatrix:\n  n: [1, 2]"), nextSha());
    const [runner] = await runners(label, 1);
    const held = await claimRound([runner!.token, runner!.token]);
    expect(held).toHaveLength(2);
    await finish(held.find((h) => h.name === "build (1)")!, "failure");
    expect((await jobsOf(r.run_id)).find((j) => j.name === "build (2)")).toMatchObject({ status: "running", cancelRequested: false });
    await finish(held.find((h) => h.name === "build (2)")!, "success");
    expect((await runOf(r.run_id)).conclusion).toBe("failure");

    const rerun = await call(s.stack.url, "POST", `/api/v1/runs/${r.run_id}/rerun-failed-jobs`, { token: s.world.tokens.bob, body: {} });
    expect(rerun.status).toBe(201);
    const again = await jobsOf(rerun.body.run_id);
    expect(again.map((j) => [j.jobKey, j.status, j.reused])).toEqual([["build (1)", "queued", false], ["build (2)", "completed", true]]);
    expect(again[0]).toMatchObject({ matrixKey: "build", failFast: false });
    const next = await claimRound([runner!.token]);
    expect(next.map((h) => h.name)).toEqual(["build (1)"]);
    await finish(next[0]!, "success");
    expect((await runOf(rerun.body.run_id)).conclusion).toBe("success");
  });

  it("needs on a matrix job waits for every expansion", async () => {
    const label = "mx-needs";
    const r = await pushAndRun(s.db.prisma, "alice/demo", matrixSource(label, "matrix:\n  n: [1, 2]", true), nextSha());
    const [runner] = await runners(label, 1);
    const held = (await claimRound([runner!.token, runner!.token, runner!.token])).sort((a, b) => a.name.localeCompare(b.name));
    expect(held.map((h) => h.name)).toEqual(["build (1)", "build (2)"]);
    await finish(held[0]!, "success");
    expect(await claimRound([runner!.token])).toEqual([]);
    await finish(held[1]!, "success");
    const after = await claimRound([runner!.token]);
    expect(after.map((h) => h.name)).toEqual(["after"]);
    await finish(after[0]!, "success");
    expect((await runOf(r.run_id)).conclusion).toBe("success");
  });
});
