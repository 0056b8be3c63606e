import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { expectInvariants } from "./setup/invariants.ts";
import { createTestDb, waitFor, type TestDb } from "./setup/db.ts";
import { spawnService, type Service } from "./setup/stack.ts";
import { buildWorld, call, pushAndRun } from "./setup/world.ts";

// Rerun of failed jobs end to end: api, worker and a runner-sim fleet as separate
// processes. Only the failed job executes again; the job that succeeded is carried over.

let db: TestDb;
let world: Awaited<ReturnType<typeof buildWorld>>;
let api: string;
let sim: Service;
const services: Service[] = [];
const prefix = `r${process.pid}${Math.random().toString(36).slice(2, 7)}`;
const REG = "registration-secret-for-rerun-e2e";

function start(entry: string, extra: Record<string, string> = {}): Service {
  const s = spawnService(entry, { DATABASE_URL: db.url, REDIS_URL: inject("redisUrl"), QUEUE_PREFIX: prefix, RUNNER_REGISTRATION_TOKEN: REG, ...extra });
  services.push(s);
  return s;
}

const events = (s: Service) => s.output().split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l) as Record<string, any>);
const started = (jobId: number) => events(sim).filter((e) => e.msg === "job claimed" && e.job_id === jobId).length;

beforeAll(async () => {
  db = await createTestDb("reruns-e2e");
  world = await buildWorld(db.prisma);
  const a = start("api/server.ts", { PORT: "0", HOST: "127.0.0.1" });
  const w = start("worker/main.ts", { WORKER_PORT: "0" });
  await a.waitForLine(/api listening/);
  api = `http://127.0.0.1:${/"port":(\d+)/.exec(a.output())![1]}`;
  await w.waitForLine(/worker ready/);
  sim = start("runner-sim/main.ts", { API_URL: api, HEARTBEAT_MS: "100", RUNNERS: "2", RUNNER_CAPACITY: "2", RUNNER_NAME_PREFIX: "rr" });
  await sim.waitForLine(/fleet ready/);
});
afterAll(async () => {
  if (db) await expectInvariants(db);
  for (const s of services.reverse()) await s.kill("SIGTERM");
  await db?.drop();
});

const runOf = (id: number) => db.prisma.workflowRun.findUniqueOrThrow({ where: { id: BigInt(id) }, include: { jobs: { orderBy: { jobIndex: "asc" }, include: { steps: true } } } });
const runEnds = (id: number) => waitFor(`run ${id} to complete`, async () => {
  const r = await runOf(id);
  return r.status === "completed" ? r : null;
}, 30_000, 50);

const WORKFLOW = `name: CI
on: push
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - name: Compile
        run: echo compiling; sleep 0.3
  test:
    needs: [build]
    runs-on: ubuntu-latest
    steps:
      - run: echo testing
      - run: exit 1
`;

describe("rerun of failed jobs with api, worker and runner-sim processes", () => {
  it("executes only the failed job again, reuses the one that succeeded, and ends with the right conclusion", async () => {
    const src = await pushAndRun(db.prisma, "alice/demo", WORKFLOW, "e2ee0001");
    const first = await runEnds(src.run_id);
    expect(first.conclusion).toBe("failure");
    expect(first.jobs.map((j) => [j.jobKey, j.conclusion])).toEqual([["build", "success"], ["test", "failure"]]);

    const res = await call(api, "POST", `/api/v1/runs/${src.run_id}/rerun-failed-jobs`, { token: world.tokens.bob });
    expect(res).toMatchObject({ status: 201, body: { parent_run_id: src.run_id, head_sha: "e2ee0001" } });
    const again = await runEnds(res.body.run_id);
    // The same workflow at the same commit: `exit 1` fails again, and so does the run.
    expect(again).toMatchObject({ conclusion: "failure", attempt: 2, originalRunId: first.id });
    expect(again.jobs.map((j) => [j.jobKey, j.status, j.conclusion, j.reused])).toEqual([
      ["build", "completed", "success", true],
      ["test", "completed", "failure", false],
    ]);
    const [build, test] = again.jobs as [typeof again.jobs[0], typeof again.jobs[0]];
    expect(build).toMatchObject({ runnerId: null, startedAt: first.jobs[0]!.startedAt, completedAt: first.jobs[0]!.completedAt });
    expect(test.runnerId).not.toBeNull();
    expect(test.startedAt!.getTime()).toBeGreaterThan(first.completedAt!.getTime());
    // The fleet claimed each of the source's jobs once, the new run's test once, its build never.
    await waitFor("the runner-sim's log of the new test job", async () => started(Number(test.id)) === 1);
    expect([started(src.job_ids[0]!), started(src.job_ids[1]!), started(Number(build.id)), started(Number(test.id))]).toEqual([1, 1, 0, 1]);
    expect(await db.prisma.jobToken.count({ where: { jobId: build.id } })).toBe(0);
    expect(test.steps.sort((a, b) => a.stepIndex - b.stepIndex).map((s) => s.conclusion)).toEqual(["success", "failure"]);
    // The read view says the same.
    const view = await call(api, "GET", `/api/v1/runs/${res.body.run_id}`, { token: world.tokens.carol });
    expect(view.body).toMatchObject({ status: "completed", conclusion: "failure", attempt: 2, original_run_id: src.run_id, parent_run_id: src.run_id });
    expect(view.body.jobs.map((j: any) => [j.job_key, j.reused])).toEqual([["build", true], ["test", false]]);
  });
});
