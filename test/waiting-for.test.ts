import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApiMetrics, metricsRouter } from "../api/metrics.ts";
import { waitingFor, type WaitFacts } from "../domain/data/waiting.ts";
import { expectInvariants } from "./setup/invariants.ts";
import { createTestDb, type TestDb } from "./setup/db.ts";
import { startStack, type Stack } from "./setup/stack.ts";
import { buildWorld, call, claimJob, pushAndRun, registerTestRunner } from "./setup/world.ts";

// A queued job says what it waits for (`waiting_for`, docs/api.md "Reads"), and
// actions_jobs_unrunnable counts the queued jobs no online runner could take.

let db: TestDb;
let stack: Stack;
let world: Awaited<ReturnType<typeof buildWorld>>;

beforeAll(async () => {
  db = await createTestDb("waitingfor");
  const metrics = createApiMetrics({ prisma: db.prisma });
  stack = await startStack(db, { routers: [metricsRouter(metrics.registry)] });
  world = await buildWorld(db.prisma);
});
afterAll(async () => {
  if (db) await expectInvariants(db);
  await stack?.stop();
  await db?.drop();
});

const GPU = `name: GPU
on: push
jobs:
  train:
    runs-on: [gpu, linux]
    steps:
      - run: echo training
  report:
    needs: [train]
    runs-on: linux
    steps:
      - run: echo done
`;

const GROUPED = `name: Deploy
on: push
concurrency: deploy-main
jobs:
  deploy:
    runs-on: linux
    steps:
      - run: echo deploying
`;

const job = async (id: number) => (await call(stack.url, "GET", `/api/v1/jobs/${id}`, { token: world.tokens.alice })).body;
const unrunnable = async () => {
  const text = await (await fetch(`${stack.url}/metrics`)).text();
  return Number(/^actions_jobs_unrunnable (\S+)$/m.exec(text)?.[1]);
};
const heartbeatNow = (name: string) => db.prisma.runner.update({ where: { name }, data: { lastHeartbeatAt: new Date() } });

describe("waitingFor", () => {
  const base: WaitFacts = { status: "queued", pendingNeeds: [], runGroupHeld: null, jobGroupBusy: null, matrixFull: null, labels: ["linux"], onlineRunners: 0 };
  it.each<[string, Partial<WaitFacts>, ReturnType<typeof waitingFor>]>([
    ["not queued", { status: "running", pendingNeeds: ["a"] }, null],
    ["needs first", { pendingNeeds: ["a", "b"], runGroupHeld: "g", matrixFull: 2 }, { kind: "needs", jobs: ["a", "b"] }],
    ["the run's group", { runGroupHeld: "g", jobGroupBusy: "h", matrixFull: 2 }, { kind: "concurrency", group: "g" }],
    ["the job's group", { jobGroupBusy: "h", matrixFull: 2 }, { kind: "concurrency", group: "h" }],
    ["max-parallel", { matrixFull: 2, onlineRunners: 3 }, { kind: "max_parallel", limit: 2 }],
    ["a runner, none online", {}, { kind: "runner", labels: ["linux"], online_runners: 0 }],
    ["a runner, some busy", { onlineRunners: 2 }, { kind: "runner", labels: ["linux"], online_runners: 2 }],
  ])("%s", (_what, facts, expected) => {
    expect(waitingFor({ ...base, ...facts })).toEqual(expected);
  });
});

describe("waiting_for and actions_jobs_unrunnable", () => {
  it("names the labels no online runner has and the needs; counts what no online runner could take", async () => {
    const run = await pushAndRun(db.prisma, "alice/demo", GPU, "a1a1a1a1");
    const [train, report] = run.job_ids as [number, number];
    expect((await job(train)).waiting_for).toEqual({ kind: "runner", labels: ["gpu", "linux"], online_runners: 0 });
    expect((await job(report)).waiting_for).toEqual({ kind: "needs", jobs: ["train"] });
    // The run view says the same of each job.
    const view = (await call(stack.url, "GET", `/api/v1/runs/${run.run_id}`, { token: world.tokens.alice })).body;
    expect(view.jobs.map((j: { waiting_for: unknown }) => j.waiting_for)).toEqual([
      { kind: "runner", labels: ["gpu", "linux"], online_runners: 0 },
      { kind: "needs", jobs: ["train"] },
    ]);
    // No runner is online at all: both are unrunnable.
    expect(await unrunnable()).toBe(2);

    // A linux runner online: `report` could be taken (once train succeeded); `train` still not.
    const linux = await registerTestRunner(db.prisma, "wf-linux", ["linux"]);
    expect((await call(stack.url, "POST", "/api/v1/runners/heartbeat", { token: linux.token, body: {} })).status).toBe(204);
    expect(await unrunnable()).toBe(1);
    // A gpu runner that registered but never heartbeated is not online; a draining one neither.
    await registerTestRunner(db.prisma, "wf-gpu", ["gpu", "linux"]);
    expect((await job(train)).waiting_for).toEqual({ kind: "runner", labels: ["gpu", "linux"], online_runners: 0 });
    await heartbeatNow("wf-gpu");
    await db.prisma.runner.update({ where: { name: "wf-gpu" }, data: { drainingAt: new Date() } });
    expect((await job(train)).waiting_for).toMatchObject({ online_runners: 0 });
    expect(await unrunnable()).toBe(1);
    await db.prisma.runner.update({ where: { name: "wf-gpu" }, data: { drainingAt: null } });
    expect((await job(train)).waiting_for).toEqual({ kind: "runner", labels: ["gpu", "linux"], online_runners: 1 });
    expect(await unrunnable()).toBe(0);

  });

  it("says which concurrency group holds a run back while an older run of it is open", async () => {
    const first = await pushAndRun(db.prisma, "alice/demo", GROUPED, "b1b1b1b1", ".shithub/workflows/deploy.yml");
    const second = await pushAndRun(db.prisma, "alice/demo", GROUPED, "b2b2b2b2", ".shithub/workflows/deploy.yml");
    expect((await job(first.job_ids[0]!)).waiting_for).toMatchObject({ kind: "runner", labels: ["linux"] });
    expect((await job(second.job_ids[0]!)).waiting_for).toEqual({ kind: "concurrency", group: "deploy-main" });
    const runner = await registerTestRunner(db.prisma, "wf-deployer", ["linux"]);
    await claimJob(stack.url, runner.token, first.job_ids[0]!);
    expect((await job(first.job_ids[0]!)).waiting_for).toBeNull();
    expect((await job(second.job_ids[0]!)).waiting_for).toEqual({ kind: "concurrency", group: "deploy-main" });
  });
});
