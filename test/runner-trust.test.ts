import { mkdtempSync, rmSync, statSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import * as ops from "../admin/ops.ts";
import { cancelChannel, type CancelSignal } from "../domain/contracts.ts";
import { connectRedis } from "../infra/redis.ts";
import { isAlive } from "../runner-sim/container/driver.ts";
import { procCmdline } from "../runner-sim/proc.ts";
import { fleetIdentity } from "../runner-sim/state.ts";
import { liveMessage } from "../domain/data/runners.ts";
import { waitFor } from "./setup/db.ts";
import type { Service } from "./setup/stack.ts";
import { event, events, runEnds, systemSuite } from "./setup/system.ts";
import { call, claimJob, pushAndRun, registerTestRunner } from "./setup/world.ts";

// docs/security.md, "Runners: signals, job tokens, registration, fleets": a forged
// cancel signal stops nothing; job tokens end 60 s after their job and with their
// runner's next registration; self-registration cannot take over an operator's runner;
// two fleets on one host keep their own containers.

const sys = systemSuite("trust", { RUNNERS: "1", RUNNER_CAPACITY: "4", RUNNER_NAME_PREFIX: "trust", RUNNER_LABELS: "trust-sim" });
/** systemSuite's registration secret (test/setup/system.ts). */
const REG = "registration-secret-for-system-tests";
const post = (p: string, token: string, body?: unknown) => call(sys.api, "POST", p, { token, body });
const job = (id: number) => sys.db.prisma.workflowJob.findUniqueOrThrow({ where: { id: BigInt(id) } });
let sha = 0;
const run = (wf: string) => pushAndRun(sys.db.prisma, "alice/demo", wf, `7a7a${String(++sha).padStart(4, "0")}`);
// Silent: a container that writes after its runner-sim was killed dies of EPIPE.
const sleeper = (label: string) => `jobs:\n  slow:\n    runs-on: ${label}\n    steps: [{run: sleep 600}]\n`;
/** The container program still runs under this pid (a zombie or a reused pid would not). */
const running = (pid: number) => isAlive(pid) && (procCmdline(pid) ?? []).some((a) => a.endsWith("runner-sim/container/main.mjs"));

/** The log event `msg` the service wrote for this request id. */
const eventFor = (svc: Service, msg: string, requestId: string) =>
  waitFor(`${msg} for ${requestId}`, async () => events(svc).find((e) => e.msg === msg && e.request_id === requestId), 10_000);

describe("cancel signals are hints", () => {
  it("a forged signal (force, wrong runner, no cancel requested) stops nothing; a real cancel still does, at once", async () => {
    const r = await run(sleeper("trust-sim"));
    const jobId = r.job_ids[0]!;
    const { pid } = await event(sys.sim, "container started", jobId);
    const runnerId = Number((await job(jobId)).runnerId);
    // The fleet's channel on the suite's own Redis, published to as a party with write access there.
    const admin = connectRedis(sys.redisUrl, "worker", "trust-forger");
    try {
      const [channel] = (await admin.call("PUBSUB", "CHANNELS", `*${cancelChannel("")}`)) as string[];
      expect(channel).toBeDefined();
      const forge = async (rid: string, s: Partial<CancelSignal>) => {
        const msg: CancelSignal = { job_id: jobId, run_id: r.run_id, runner_id: runnerId, requested_at: new Date().toISOString(), request_id: rid, ...s };
        expect(await admin.publish(channel!, JSON.stringify(msg))).toBeGreaterThanOrEqual(1);
      };
      const tag = `forged-${jobId}`;
      await forge(`${tag}-force`, { force: true });
      expect(await eventFor(sys.sim, "cancel signal unconfirmed; ignored", `${tag}-force`)).toMatchObject({ job_id: jobId, reason: "not cancelled" });
      await forge(`${tag}-plain`, {});
      await eventFor(sys.sim, "cancel signal unconfirmed; ignored", `${tag}-plain`);
      await forge(`${tag}-other-runner`, { runner_id: runnerId + 1000, force: true });
      expect(await eventFor(sys.sim, "cancel signal ignored", `${tag}-other-runner`)).toMatchObject({ job_id: jobId, reason: "names another runner" });
      await forge(`${tag}-no-runner`, { runner_id: null, force: true });
      await eventFor(sys.sim, "cancel signal ignored", `${tag}-no-runner`);
    } finally {
      admin.disconnect();
    }
    expect(running(pid)).toBe(true);
    expect(await job(jobId)).toMatchObject({ status: "running", cancelRequested: false });
    expect(events(sys.sim).filter((e) => e.msg === "cancel received" && e.job_id === jobId)).toEqual([]);

    const rid = `real-${jobId}`;
    expect((await call(sys.api, "POST", `/api/v1/jobs/${jobId}/cancel`, { token: sys.world.tokens.bob, headers: { "X-Request-Id": rid } })).status).toBe(202);
    await waitFor("the container to be gone", async () => !isAlive(pid), 5000, 2);
    expect(await event(sys.sim, "cancel received", jobId)).toMatchObject({ via: "signal", request_id: rid, force: false });
    const done = await runEnds(sys.db, r.run_id);
    expect(done.jobs[0]).toMatchObject({ status: "cancelled", cancelRequested: true });
  });

  it("cancel-check answers force from the force-cancel, and the fleet kills at once on it", async () => {
    const r = await run("jobs:\n  stubborn:\n    runs-on: trust-sim\n    steps: [{run: \"trap '' TERM; echo trapped; sleep 600\"}]\n");
    const jobId = r.job_ids[0]!;
    const { pid } = await event(sys.sim, "container started", jobId);
    await waitFor("the trap to be set", () => sys.db.prisma.stepLogChunk.findFirst({ where: { content: "trapped", step: { jobId: BigInt(jobId) } } }));
    const sent = Date.now();
    expect((await call(sys.api, "POST", `/api/v1/runs/${r.run_id}/force-cancel`, { token: sys.world.tokens.bob })).status).toBe(202);
    await waitFor("the container to be gone", async () => !isAlive(pid), 5000, 2);
    // Inside the 1 s grace a plain stop would wait out: the kill came from the answer's force.
    expect(Date.now() - sent).toBeLessThan(1000);
    expect(await event(sys.sim, "cancel received", jobId)).toMatchObject({ via: "signal", force: true });

    // The answer itself, to a runner of our own.
    const lane = "trust-manual-force";
    const runner = await registerTestRunner(sys.db.prisma, lane, [lane], 4);
    const plain = await run(sleeper(lane));
    const forced = await run(sleeper(lane));
    const p = await claimJob(sys.api, runner.token, plain.job_ids[0]!);
    const f = await claimJob(sys.api, runner.token, forced.job_ids[0]!);
    expect((await post(`/api/v1/jobs/${p.job.id}/cancel-check`, p.token)).body).toEqual({ cancelled: false, force: false });
    await call(sys.api, "POST", `/api/v1/jobs/${p.job.id}/cancel`, { token: sys.world.tokens.bob });
    await call(sys.api, "POST", `/api/v1/runs/${forced.run_id}/force-cancel`, { token: sys.world.tokens.bob });
    expect((await post(`/api/v1/jobs/${p.job.id}/cancel-check`, p.token)).body).toEqual({ cancelled: true, force: false });
    expect((await post(`/api/v1/jobs/${f.job.id}/cancel-check`, f.token)).body).toEqual({ cancelled: true, force: true });
    expect((await post(`/api/v1/jobs/${p.job.id}/status`, p.token, { status: "cancelled" })).status).toBe(200);
  });
});

describe("job tokens", () => {
  it("stop working 60 s after their job ended; inside the window a repeat of the end is a no-op", async () => {
    const lane = "trust-manual-end";
    const runner = await registerTestRunner(sys.db.prisma, lane, [lane], 4);
    const r = await run(`jobs:\n  j:\n    runs-on: ${lane}\n    steps: [{run: echo a}]\n`);
    const c = await claimJob(sys.api, runner.token, r.job_ids[0]!);
    const jobPath = `/api/v1/jobs/${c.job.id}`;
    expect((await post(`${jobPath}/status`, c.token, { status: "completed", conclusion: "success" })).body).toMatchObject({ changed: true });
    expect(await post(`${jobPath}/status`, c.token, { status: "completed", conclusion: "success" })).toMatchObject({ status: 200, body: { changed: false } });
    expect((await post(`${jobPath}/logs`, c.token, { step_id: c.job.steps[0]!.id, seq: 0, content: "in time" })).status).not.toBe(401);

    // 61 s later (moved in the database rather than waited for).
    await sys.db.pool.query("UPDATE workflow_jobs SET started_at = started_at - interval '61 seconds', completed_at = completed_at - interval '61 seconds' WHERE id = $1", [c.job.id]);
    const chunks = await sys.db.prisma.stepLogChunk.count({ where: { step: { jobId: BigInt(c.job.id) } } });
    for (const [tail, body] of [
      ["/logs", { step_id: c.job.steps[0]!.id, seq: 1, content: "too late" }],
      ["/status", { status: "completed", conclusion: "success" }],
      [`/steps/${c.job.steps[0]!.id}/status`, { status: "completed", conclusion: "success" }],
      ["/cancel-check", undefined],
    ] as const) {
      const res = await post(`${jobPath}${tail}`, c.token, body);
      expect(res, tail).toMatchObject({ status: 401, body: { error: "token expired" } });
      expect(res.headers.get("www-authenticate")).toContain('error="invalid_token"');
    }
    expect(await sys.db.prisma.stepLogChunk.count({ where: { step: { jobId: BigInt(c.job.id) } } })).toBe(chunks);
  });

  it("stop working when their runner registers again (token revoked)", async () => {
    const lane = "trust-self-lane";
    const first = await post("/api/v1/runners/register", REG, { name: "trust-self", labels: [lane], capacity: 2 });
    expect(first.status).toBe(201);
    expect(await sys.db.prisma.runner.findUniqueOrThrow({ where: { name: "trust-self" } })).toMatchObject({ selfRegistered: true });
    const r = await run(`jobs:\n  j:\n    runs-on: ${lane}\n    steps: [{run: sleep 600}]\n`);
    const c = await claimJob(sys.api, first.body.token, r.job_ids[0]!);
    expect((await post(`/api/v1/jobs/${c.job.id}/cancel-check`, c.token)).status).toBe(200);

    const again = await post("/api/v1/runners/register", REG, { name: "trust-self", labels: [lane], capacity: 2, current_token: first.body.token });
    expect(again).toMatchObject({ status: 201, body: { id: first.body.id, ended_jobs: [c.job.id] } });
    expect(await post(`/api/v1/jobs/${c.job.id}/cancel-check`, c.token)).toMatchObject({ status: 401, body: { error: "token revoked" } });
    expect(await post(`/api/v1/jobs/${c.job.id}/logs`, c.token, { step_id: c.job.steps[0]!.id, seq: 0, content: "old life" })).toMatchObject({ status: 401, body: { error: "token revoked" } });
    expect((await post("/api/v1/runners/heartbeat", first.body.token, {})).status).toBe(401);
    expect((await post("/api/v1/runners/heartbeat", again.body.token, {})).status).toBe(204);
  });
});

describe("self-registration", () => {
  it("cannot take over an operator-registered runner (409, nothing changes)", async () => {
    const lane = "trust-op-lane";
    const op = await ops.registerRunner(sys.db.prisma, { name: "trust-op", labels: [lane], capacity: 2 });
    const r = await run(`jobs:\n  j:\n    runs-on: ${lane}\n    steps: [{run: sleep 600}]\n`);
    const c = await claimJob(sys.api, op.token, r.job_ids[0]!);
    const before = await sys.db.prisma.runner.findUniqueOrThrow({ where: { name: "trust-op" }, include: { tokens: true, jobTokens: true } });
    expect(before.selfRegistered).toBe(false);

    const take = await post("/api/v1/runners/register", REG, { name: "trust-op", labels: ["mine"], capacity: 9 });
    expect(take).toMatchObject({ status: 409, body: { error: "runner name taken by an operator-registered runner" } });
    expect(await sys.db.prisma.runner.findUniqueOrThrow({ where: { name: "trust-op" }, include: { tokens: true, jobTokens: true } })).toEqual(before);
    // Its runner token and its job's token still work; its job still runs.
    expect((await post("/api/v1/runners/heartbeat", op.token, {})).status).toBe(204);
    expect((await post(`/api/v1/jobs/${c.job.id}/cancel-check`, c.token)).body).toEqual({ cancelled: false, force: false });
    expect(await job(c.job.id)).toMatchObject({ status: "running" });
    expect((await post(`/api/v1/jobs/${c.job.id}/status`, c.token, { status: "completed", conclusion: "success" })).status).toBe(200);
  });
});

describe("self-registration of a live runner", () => {
  const runnerRow = (name: string) => sys.db.prisma.runner.findUniqueOrThrow({ where: { name }, include: { tokens: true, jobTokens: true } });

  it("is refused with the secret alone (409, nothing changes); its current token, or its silence, lets it register again", async () => {
    const lane = "trust-live-lane";
    const first = await post("/api/v1/runners/register", REG, { name: "trust-live", labels: [lane], capacity: 2 });
    expect(first.status).toBe(201);
    const r = await run(`jobs:\n  j:\n    runs-on: ${lane}\n    steps: [{run: sleep 600}]\n`);
    const c = await claimJob(sys.api, first.body.token, r.job_ids[0]!);
    const before = await runnerRow("trust-live");

    // Another host with the secret: the same name, a differently cased one, a wrong or foreign token.
    const live = { status: 409, body: { error: liveMessage("trust-live", 60_000) } };
    const other = await post("/api/v1/runners/register", REG, { name: "other-host-1", labels: ["x"] });
    for (const attempt of [
      { name: "trust-live" },
      { name: "TRUST-live" },
      { name: "trust-live", current_token: "shithub_runner_not-the-token" },
      { name: "trust-live", current_token: other.body.token },
    ]) {
      expect(await post("/api/v1/runners/register", REG, { ...attempt, labels: ["mine"], capacity: 9 }), JSON.stringify(attempt)).toMatchObject(live);
    }
    expect(await runnerRow("trust-live")).toEqual(before);
    // Its session and its job go on.
    expect((await post("/api/v1/runners/heartbeat", first.body.token, {})).status).toBe(204);
    expect((await post(`/api/v1/jobs/${c.job.id}/cancel-check`, c.token)).body).toEqual({ cancelled: false, force: false });
    expect(await job(c.job.id)).toMatchObject({ status: "running" });

    // With its current token (under any casing of its name): a new life, the stored name kept.
    const proven = await post("/api/v1/runners/register", REG, { name: "Trust-Live", labels: [lane], capacity: 2, current_token: first.body.token });
    expect(proven).toMatchObject({ status: 201, body: { id: first.body.id, name: "trust-live", ended_jobs: [c.job.id] } });
    expect((await post("/api/v1/runners/heartbeat", first.body.token, {})).status).toBe(401);

    // Silent for more than the heartbeat window (moved in the database): gone, so the secret alone may.
    await sys.db.pool.query("UPDATE runners SET last_heartbeat_at = now() - interval '61 seconds' WHERE name = 'trust-live'");
    const silent = await post("/api/v1/runners/register", REG, { name: "trust-live", labels: [lane], capacity: 2 });
    expect(silent).toMatchObject({ status: 201, body: { id: first.body.id, ended_jobs: [] } });
    expect((await post("/api/v1/runners/heartbeat", proven.body.token, {})).status).toBe(401);
    expect((await post("/api/v1/runners/heartbeat", silent.body.token, {})).status).toBe(204);
  });

  it("treats names that differ only in case as one name, for operators too", async () => {
    await ops.registerRunner(sys.db.prisma, { name: "Trust-Op-Case", labels: ["x"], capacity: 1 });
    expect(await post("/api/v1/runners/register", REG, { name: "trust-op-case" })).toMatchObject({ status: 409, body: { error: "runner name taken by an operator-registered runner" } });
    await expect(ops.registerRunner(sys.db.prisma, { name: "TRUST-OP-CASE", labels: ["x"], capacity: 1 })).rejects.toThrow("runner TRUST-OP-CASE already exists");
    const self = await post("/api/v1/runners/register", REG, { name: "trust-self-case" });
    expect(self.status).toBe(201);
    await expect(ops.registerRunner(sys.db.prisma, { name: "Trust-Self-Case", labels: ["x"], capacity: 1 })).rejects.toThrow("already exists");
    expect(await sys.db.prisma.runner.count({ where: { name: { in: ["trust-op-case", "TRUST-OP-CASE", "Trust-Self-Case"] } } })).toBe(0);
  });
});

describe("fleets on one host", () => {
  const base = mkdtempSync(path.join(os.tmpdir(), "trust-fleets-"));
  afterAll(() => rmSync(base, { recursive: true, force: true }));
  const fleetEnv = (name: string) => ({ RUNNERS: "1", RUNNER_CAPACITY: "2", RUNNER_LABELS: name, RUNNER_NAME_PREFIX: name, RUNNER_STATE_DIR: base });

  it("keep their own containers: a killed fleet's containers exit with it and nothing of another fleet is touched; a second fleet of one identity is refused", async () => {
    const a = sys.startFleet(fleetEnv("trust-a"));
    const b = sys.startFleet(fleetEnv("trust-b"));
    await Promise.all([a.waitForLine(/fleet ready/), b.waitForLine(/fleet ready/)]);
    const ra = await run(sleeper("trust-a"));
    const rb = await run(sleeper("trust-b"));
    const pidA = (await event(a, "container started", ra.job_ids[0]!)).pid as number;
    const pidB = (await event(b, "container started", rb.job_ids[0]!)).pid as number;

    await waitFor("both containers to run", async () => running(pidA) && running(pidB));
    await a.kill("SIGKILL");
    // A container does not outlive its runner, even a SIGKILLed one: it sees its stdin end.
    await waitFor("fleet a's container to exit with its runner", async () => !running(pidA), 5000);
    expect(running(pidB)).toBe(true);
    // Restarted at once, trust-a-1 still looks live: the new life proves it is that runner
    // with the token its last life kept in the state folder (0600).
    const tokens = path.join(base, fleetIdentity(sys.api, { kind: "names", prefix: "trust-a" }).dirName, "runner-tokens.json");
    expect(statSync(tokens).mode & 0o777).toBe(0o600);
    const a2 = sys.startFleet(fleetEnv("trust-a"));
    await a2.waitForLine(/fleet ready/);
    // Its pid file was left behind; the sweep proves the pid is no longer that container
    // and kills nothing (runner-sim/orphans.test.ts has the sweep of live orphans).
    expect(events(a2).find((e) => e.msg === "killed containers a previous run of this fleet left behind")).toBeUndefined();
    expect(running(pidB)).toBe(true);
    expect(await job(rb.job_ids[0]!)).toMatchObject({ status: "running" });
    // The new life of trust-a-1 ended what its previous life held.
    expect(await job(ra.job_ids[0]!)).toMatchObject({ status: "completed", conclusion: "failure" });

    const runnerB = async () => (await sys.db.prisma.runner.findUniqueOrThrow({ where: { name: "trust-b-1" }, include: { tokens: true } })).tokens;
    const before = await runnerB();
    const b2 = sys.startFleet(fleetEnv("trust-b"));
    await b2.waitForLine(new RegExp(`another runner-sim fleet with this identity is running on this host \\(pid ${b.proc.pid};`));
    await waitFor("the refused fleet to exit", async () => b2.proc.exitCode !== null);
    expect(b2.proc.exitCode).toBe(1);
    // Refused before registering: fleet b's runner was not rotated, its job runs on.
    expect(await runnerB()).toEqual(before);
    expect(running(pidB)).toBe(true);
    expect(await job(rb.job_ids[0]!)).toMatchObject({ status: "running" });

    await call(sys.api, "POST", `/api/v1/jobs/${rb.job_ids[0]}/cancel`, { token: sys.world.tokens.bob });
    await waitFor("fleet b's container to stop", async () => !isAlive(pidB), 5000);
    await Promise.all([a2.kill(), b.kill()]);
  });

  it("started with operator tokens, keeps the operator's name, labels and capacity", async () => {
    const op = await ops.registerRunner(sys.db.prisma, { name: "trust-given", labels: ["trust-given-lane"], capacity: 3 });
    const given = sys.startFleet({ RUNNER_TOKENS: op.token, RUNNER_STATE_DIR: base });
    await given.waitForLine(/fleet ready/);
    const r = await run(sleeper("trust-given-lane"));
    const { pid } = await event(given, "container started", r.job_ids[0]!);
    expect(await sys.db.prisma.runner.findUniqueOrThrow({ where: { name: "trust-given" } })).toMatchObject({ labels: ["trust-given-lane"], capacity: 3, selfRegistered: false });
    expect(given.output()).not.toContain(op.token);
    await call(sys.api, "POST", `/api/v1/jobs/${r.job_ids[0]}/cancel`, { token: sys.world.tokens.bob });
    await waitFor("the container to stop", async () => !isAlive(pid), 5000);
    await given.kill();
  });
});
