import { randomBytes } from "node:crypto";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { DEFAULT_IMAGE, DockerDriver, LABELS } from "../runner-sim/container/docker.ts";
import { Engine, engineSocket } from "../runner-sim/container/engine.ts";
import { engineProxy } from "../runner-sim/container/engine-proxy.ts";
import { fleetIdentity } from "../runner-sim/state.ts";
import { waitFor } from "./setup/db.ts";
import type { Service } from "./setup/stack.ts";
import { event, events, runEnds, runWithJobs, systemSuite } from "./setup/system.ts";
import { call, pushAndRun } from "./setup/world.ts";

// The end-to-end cancel paths of test/e2e.test.ts with RUNNER_DRIVER=docker: each step in a
// real container of the job image, and "stopped" checked with the engine, not a pid.

const engine = new Engine(engineSocket(process.env.DOCKER_HOST));
const noEngine = await engine.call("GET", "/_ping", { timeoutMs: 2_000 }).then(() => null, (e: Error) => e.message);
if (noEngine !== null) console.warn(`test/runner-docker.test.ts skipped: no Docker engine answers (${noEngine})`);

const PREFIX = `e2edk${randomBytes(3).toString("hex")}`;
// A 3 s grace (the process driver's suite has 1 s): a container's stop costs ~100 ms of the
// engine's, so "well inside the grace" keeps its meaning on a loaded machine.
const GRACE_MS = 3000;
const sys = noEngine === null ? systemSuite("e2e-docker", { RUNNERS: "2", RUNNER_CAPACITY: "2", RUNNER_NAME_PREFIX: PREFIX, RUNNER_DRIVER: "docker", CANCEL_GRACE_MS: String(GRACE_MS) }) : null!;

type Info = { State: { Running: boolean; Status: string }; Config: { Labels: Record<string, string> } };
const inspect = async (id: string) => {
  const r = await engine.call<Info>("GET", `/containers/${id}/json`, { accept: [404] });
  return r.status === 404 ? null : r.json;
};
/** The engine's word: the container no longer runs (exited, being removed, or removed). */
const stopped = async (id: string) => !(await inspect(id))?.State.Running;
const fleetContainers = async (marker: string) => {
  const filters = encodeURIComponent(JSON.stringify({ label: [`${LABELS.fleet}=${marker}`] }));
  return (await engine.call<{ Id: string; State: string }[]>("GET", `/containers/json?all=1&filters=${filters}`)).json;
};
const markerOf = (prefix: string) => fleetIdentity(sys.api, { kind: "names", prefix }).marker;

/** The engine's container for a job's step the fleet said it started. */
async function startedContainer(jobId: number, fleet = sys.sim, prefix = PREFIX): Promise<{ id: string; info: Info }> {
  const started = await event(fleet, "container started", jobId);
  const running = await waitFor(`container of job ${jobId} in the engine`, async () => {
    const list = await fleetContainers(markerOf(prefix));
    return list.find((c) => c.Id.startsWith(started.container_id)) ?? null;
  }, 10_000);
  return { id: running.Id, info: (await inspect(running.Id))! };
}

function exitOf(svc: Service, timeoutMs = 20_000): Promise<number | null> {
  if (svc.proc.exitCode !== null) return Promise.resolve(svc.proc.exitCode);
  return waitFor("the fleet to exit", async () => svc.proc.exitCode !== null || svc.proc.signalCode !== null, timeoutMs).then(() => svc.proc.exitCode);
}

describe.skipIf(noEngine !== null)("end to end with RUNNER_DRIVER=docker", () => {
  it("runs a job in a labelled container and streams its log lines to the API", async () => {
    const wf = "jobs:\n  hello:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo one; sleep 0.5; echo two\n      - run: echo three; exit 1\n";
    const r = await pushAndRun(sys.db.prisma, "alice/demo", wf, "e2ed0001");
    const jobId = r.job_ids[0]!;
    const { info } = await startedContainer(jobId);
    expect(info.Config.Labels).toMatchObject({ [LABELS.job]: String(jobId), [LABELS.fleet]: markerOf(PREFIX) });
    const done = await runEnds(sys.db, r.run_id);
    expect(done.jobs[0]).toMatchObject({ status: "completed", conclusion: "failure" });
    const logs = await call(sys.api, "GET", `/api/v1/jobs/${jobId}/logs`, { token: sys.world.tokens.alice });
    expect(String(logs.body)).toMatch(/one\n[^]*two\n[^]*three\n[^]*##\[error\]Process completed with exit code 1\./);
  });

  it("cancels a running `sleep 600`: the engine says the container is stopped, the job cancelled, the run completed/cancelled", async () => {
    const r = await pushAndRun(sys.db.prisma, "alice/demo", "jobs:\n  slow:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo start; sleep 600\n      - run: echo after\n", "e2ed0002");
    const jobId = r.job_ids[0]!;
    const { id, info } = await startedContainer(jobId);
    expect(info.State.Running).toBe(true);
    const res = await call(sys.api, "POST", `/api/v1/jobs/${jobId}/cancel`, { token: sys.world.tokens.bob });
    expect(res).toMatchObject({ status: 202, body: { changed_jobs: 1, run_completed: false } });
    const t0 = Date.now();
    await waitFor("the container to be stopped", () => stopped(id), GRACE_MS, 5);
    expect(Date.now() - t0).toBeLessThan(GRACE_MS - 500);
    const done = await runEnds(sys.db, r.run_id);
    expect(done.conclusion).toBe("cancelled");
    expect(done.jobs[0]).toMatchObject({ status: "cancelled", conclusion: "cancelled" });
    expect(done.jobs[0]!.steps.map((s) => s.status)).toEqual(["cancelled", "cancelled"]);
    expect((await event(sys.sim, "cancel received", jobId)).via).toBe("signal");
    expect((await event(sys.sim, "container stopped", jobId)).signal).toBe("SIGTERM");
    // Removed once it exited (AutoRemove).
    await waitFor("the container to be removed", async () => (await inspect(id)) === null, 10_000);
  });

  it("kills a container that ignores SIGTERM after the grace period", async () => {
    const r = await pushAndRun(sys.db.prisma, "alice/demo", "jobs:\n  stubborn:\n    runs-on: ubuntu-latest\n    steps: [{run: \"trap '' TERM; echo trapped; sleep 600\"}]\n", "e2ed0003");
    const jobId = r.job_ids[0]!;
    const { id } = await startedContainer(jobId);
    await waitFor("the trap to be set", () => sys.db.prisma.stepLogChunk.findFirst({ where: { content: "trapped", step: { jobId: BigInt(jobId) } } }), 10_000);
    const t0 = Date.now();
    await call(sys.api, "POST", `/api/v1/jobs/${jobId}/cancel`, { token: sys.world.tokens.bob });
    await waitFor("the container to be stopped", () => stopped(id), GRACE_MS + 10_000, 5);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(GRACE_MS - 100);
    expect((await event(sys.sim, "container stopped", jobId)).signal).toBe("SIGKILL");
    expect((await runEnds(sys.db, r.run_id)).conclusion).toBe("cancelled");
  });

  it("force-cancel kills every container at once, even ones that ignore SIGTERM", async () => {
    const step = "{run: \"trap '' TERM; echo trapped; sleep 600\"}";
    const r = await pushAndRun(sys.db.prisma, "alice/demo", `jobs:\n  one:\n    runs-on: ubuntu-latest\n    steps: [${step}]\n  two:\n    runs-on: ubuntu-latest\n    steps: [${step}]\n`, "e2ed0004");
    const ids = await Promise.all(r.job_ids.map(async (j) => (await startedContainer(j)).id));
    await waitFor("both traps to be set", async () => (await sys.db.prisma.stepLogChunk.count({ where: { content: "trapped", step: { job: { runId: BigInt(r.run_id) } } } })) === 2, 10_000);
    const sent = Date.now();
    const res = await call(sys.api, "POST", `/api/v1/runs/${r.run_id}/force-cancel`, { token: sys.world.tokens.bob });
    expect(res.body).toMatchObject({ changed_jobs: 2, run_completed: true, run_conclusion: "cancelled" });
    await waitFor("every container to be stopped", async () => (await Promise.all(ids.map(stopped))).every(Boolean), 10_000, 5);
    // Well inside the grace a plain cancel would have to wait out.
    expect(Date.now() - sent).toBeLessThan(GRACE_MS - 1000);
    for (const j of r.job_ids) expect((await event(sys.sim, "container stopped", j)).signal).toBe("SIGKILL");
    for (const j of r.job_ids) await event(sys.sim, "job finished", j);
    expect((await runWithJobs(sys.db, r.run_id)).jobs.every((j) => j.status === "cancelled" && j.forceCancelled)).toBe(true);
  });

  it("a fleet killed with SIGKILL leaves no running container; its restart removes what a previous life left", async () => {
    const prefix = `${PREFIX}-life`;
    const marker = markerOf(prefix);
    // A container of a life that died with its engine connection intact: only the sweep can remove it.
    const leftover = await new DockerDriver({ engine, image: DEFAULT_IMAGE, fleet: marker }).start("sleep 600", { onLine: () => {} }, { runnerId: 0, jobId: 0, stepId: 0 });
    const fleet = sys.startFleet({ RUNNERS: "1", RUNNER_CAPACITY: "1", RUNNER_LABELS: "docker-life", RUNNER_NAME_PREFIX: prefix, RUNNER_DRIVER: "docker" });
    await fleet.waitForLine(/fleet ready/);
    expect(events(fleet).find((e) => e.msg === "removed containers a previous run of this fleet left behind")?.containers).toEqual([leftover.id!.slice(0, 12)]);
    expect((await leftover.exited).code).toBe(137);
    const r = await pushAndRun(sys.db.prisma, "alice/demo", "jobs:\n  held:\n    runs-on: docker-life\n    steps: [{run: echo held; sleep 600}]\n", "e2ed0005");
    const started = await event(fleet, "container started", r.job_ids[0]!);
    await fleet.kill("SIGKILL");
    // Its stdin was the fleet's attach: with the fleet gone the container ends itself.
    await waitFor("the dead fleet's container to stop", async () => (await fleetContainers(marker)).every((c) => c.State !== "running"), 10_000);
    expect(started.container_id).toMatch(/^[0-9a-f]{12}$/);
    // The API still holds the job; a force-cancel ends it without a runner.
    await call(sys.api, "POST", `/api/v1/runs/${r.run_id}/force-cancel`, { token: sys.world.tokens.bob });
  });

  it("an absent engine or image stops the fleet with one line saying what to do", async () => {
    const noSock = path.join(os.tmpdir(), `no-docker-${process.pid}.sock`);
    const a = sys.startFleet({ RUNNER_NAME_PREFIX: `${PREFIX}-noengine`, RUNNER_DRIVER: "docker", DOCKER_HOST: `unix://${noSock}` });
    expect(await exitOf(a)).toBe(1);
    expect(a.output().trim().split("\n").at(-1)).toBe(`runner-sim: The Docker engine is unreachable at unix://${noSock} (DOCKER_HOST): connect ENOENT ${noSock} — start dockerd (scripts/docker-engine.sh), run with RUNNER_DRIVER=process, or set DOCKER_HOST`);
    const image = `actions-runner-job:absent-${process.pid}`;
    const b = sys.startFleet({ RUNNER_NAME_PREFIX: `${PREFIX}-noimage`, RUNNER_DRIVER: "docker", RUNNER_DOCKER_IMAGE: image });
    expect(await exitOf(b)).toBe(2);
    expect(b.output().trim().split("\n").at(-1)).toMatch(new RegExp(`^runner-sim: RUNNER_DOCKER_IMAGE: image ${image} is not in the Docker engine at unix://\\S+; build it with docker/images/runner-job/build.sh \\(images are never pulled\\)$`));
  });

  it("an engine that goes away mid-job fails the job with one clear line, and the next job fails to start likewise", async () => {
    const proxy = await engineProxy(engine.socketPath);
    const prefix = `${PREFIX}-lost`;
    try {
      const fleet = sys.startFleet({ RUNNERS: "1", RUNNER_CAPACITY: "1", RUNNER_LABELS: "docker-lost", RUNNER_NAME_PREFIX: prefix, RUNNER_DRIVER: "docker", DOCKER_HOST: `unix://${proxy.socket}` });
      await fleet.waitForLine(/fleet ready/);
      const wf = "jobs:\n  held:\n    runs-on: docker-lost\n    steps: [{run: echo up; sleep 600}]\n";
      const first = await pushAndRun(sys.db.prisma, "alice/demo", wf, "e2ed0006");
      const { id } = await startedContainer(first.job_ids[0]!, fleet, prefix);
      await waitFor("its first line", () => sys.db.prisma.stepLogChunk.findFirst({ where: { content: "up", step: { jobId: BigInt(first.job_ids[0]!) } } }), 10_000);
      proxy.close();
      const done = await runEnds(sys.db, first.run_id);
      expect(done.jobs[0]).toMatchObject({ status: "completed", conclusion: "failure" });
      const lost = await event(fleet, "container lost", first.job_ids[0]!);
      expect(lost.err).toMatch(/^lost the Docker engine during the step: the Docker engine at unix:\/\/\S+ did not answer POST \/wait: /);
      const log = String((await call(sys.api, "GET", `/api/v1/jobs/${first.job_ids[0]}/logs`, { token: sys.world.tokens.alice })).body);
      expect(log).toContain("##[error]lost the Docker engine during the step");
      // Its stdin was the lost connection: the container ended itself, and the engine removed it.
      await waitFor("the orphaned container to be gone", async () => (await inspect(id)) === null, 10_000);
      const second = await pushAndRun(sys.db.prisma, "alice/demo", wf, "e2ed0007");
      expect((await runEnds(sys.db, second.run_id)).jobs[0]).toMatchObject({ status: "completed", conclusion: "failure" });
      expect((await event(fleet, "container could not start", second.job_ids[0]!)).err).toMatch(/did not answer POST \/containers\/create: connect (ENOENT|ECONNREFUSED).* — start dockerd \(scripts\/docker-engine\.sh\) or run with RUNNER_DRIVER=process$/);
      await fleet.kill("SIGTERM");
    } finally {
      proxy.close();
    }
  });

  it("leaves no running container of its fleet behind", async () => {
    await waitFor("the fleet's containers to be gone", async () => (await fleetContainers(markerOf(PREFIX))).length === 0, 10_000);
  });
});
