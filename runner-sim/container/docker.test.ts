import { randomBytes } from "node:crypto";
import os from "node:os";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { afterAll, describe, expect, it } from "vitest";
import { ConfigError } from "../../infra/config.ts";
import { DependencyError } from "../../infra/deps.ts";
import { DEFAULT_IMAGE, DockerDriver, LABELS } from "./docker.ts";
import type { Container, ContainerExit } from "./driver.ts";
import type { StepContext } from "./drivers.ts";
import { Engine, engineSocket, FrameDemuxer } from "./engine.ts";
import { engineProxy } from "./engine-proxy.ts";

// The docker driver against the real engine (DOCKER_HOST or /var/run/docker.sock). Skipped,
// saying why, only when no engine answers; an engine without the job image is a failure.

const now = (): number => performance.timeOrigin + performance.now();
const engine = new Engine(engineSocket(process.env.DOCKER_HOST));
const FLEET = `test-${randomBytes(8).toString("hex")}`;
const STEP: StepContext = { runnerId: 41, jobId: 4242, stepId: 7 };

const noEngine = await engine.call("GET", "/_ping", { timeoutMs: 2_000 }).then(() => null, (e: Error) => e.message);
if (noEngine !== null) console.warn(`runner-sim/container/docker.test.ts skipped: no Docker engine answers (${noEngine})`);

function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms)));
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

async function waitFor<T>(what: string, probe: () => Promise<T | null | false>, ms = 10_000): Promise<T> {
  const until = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v) return v;
    if (Date.now() > until) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

interface Started {
  c: Container;
  lines: Array<[string, "stdout" | "stderr"]>;
  seen(text: string): Promise<void>;
}

const driverFor = (fleet = FLEET, opts: { engine?: Engine; image?: string; confirmMs?: number } = {}) =>
  new DockerDriver({ engine: opts.engine ?? engine, image: opts.image ?? DEFAULT_IMAGE, fleet, confirmMs: opts.confirmMs });

async function start(run: string, driver = driverFor(), step = STEP): Promise<Started> {
  const lines: Started["lines"] = [];
  const c = await driver.start(run, { onLine: (line, stream) => lines.push([line, stream]), env: { RUNNER_SIM_FLEET: "x" } }, step);
  const seen = (text: string) => waitFor(`line ${text}`, async () => lines.some(([l, s]) => l === text && s === "stdout"), 10_000).then(() => {});
  return { c, lines, seen };
}

const stdout = (s: Started) => s.lines.filter(([, st]) => st === "stdout").map(([l]) => l);
const exitOf = (c: Container): Promise<ContainerExit> => within(c.exited, 15_000, "exit");
const inspect = (id: string) => engine.call<{ State: { Running: boolean }; Config: { Labels: Record<string, string> }; HostConfig: { NetworkMode: string } }>("GET", `/containers/${id}/json`, { accept: [404] });
const gone = (id: string) => waitFor(`container ${id.slice(0, 12)} to be removed`, async () => (await inspect(id)).status === 404);

afterAll(async () => {
  // Whatever a failed test left, of each fleet the tests use.
  if (noEngine === null) for (const f of [FLEET, `${FLEET}-other`, `${FLEET}-life`]) await driverFor(f).sweep();
  engine.close();
});

describe.skipIf(noEngine !== null)("DockerDriver against the engine", { timeout: 40_000 }, () => {
  it("delivers echo lines in order, exits 0, and is removed after it exits", async () => {
    const s = await start('echo one; echo "two  2"\necho three');
    expect(await exitOf(s.c)).toMatchObject({ code: 0, signal: null });
    expect(s.lines).toEqual([["one", "stdout"], ["two  2", "stdout"], ["three", "stdout"]]);
    expect(s.c.id).toMatch(/^[0-9a-f]{64}$/);
    await gone(s.c.id!);
  });

  it("loses no output written just before exit, and reports the exit code", async () => {
    const run = Array.from({ length: 2000 }, (_, i) => `echo line ${i}`).join("\n") + "\nexit 7";
    const s = await start(run);
    expect(await exitOf(s.c)).toMatchObject({ code: 7, signal: null });
    expect(stdout(s)).toEqual(Array.from({ length: 2000 }, (_, i) => `line ${i}`));
  });

  it("exit 3 ends the container with code 3 and skips later commands; an unknown command is simulated", async () => {
    const s = await start("make it; echo before; exit 3; echo after");
    expect(await exitOf(s.c)).toMatchObject({ code: 3, signal: null });
    expect(stdout(s)).toEqual(["[simulated] make it", "before"]);
  });

  it("carries the runner, job, step and fleet labels, and has no network", async () => {
    const s = await start("echo up; sleep 600");
    await s.seen("up");
    const info = await inspect(s.c.id!);
    expect(info.json.State.Running).toBe(true);
    expect(info.json.Config.Labels).toMatchObject({ [LABELS.runner]: "41", [LABELS.job]: "4242", [LABELS.step]: "7", [LABELS.fleet]: FLEET });
    expect(info.json.HostConfig.NetworkMode).toBe("none");
    await within(s.c.kill(), 10_000, "kill");
  });

  it("stop() ends a sleeping container by SIGTERM, well within the grace", async () => {
    const s = await start("echo started; sleep 600");
    await s.seen("started");
    const t0 = now();
    const exit = await within(s.c.stop(5000), 10_000, "stop");
    expect(exit).toMatchObject({ code: null, signal: "SIGTERM" });
    // Far from the 5 s grace (typically ~100 ms; a loaded machine gets slack).
    expect(exit.at - t0).toBeLessThan(2500);
    await gone(s.c.id!);
  });

  it("a container that ignores SIGTERM is SIGKILLed once the grace (whole seconds: the engine's stop) has passed", async () => {
    const s = await start("trap '' TERM; echo trapped; sleep 600");
    await s.seen("trapped");
    const t0 = now();
    const exit = await within(s.c.stop(1000), 10_000, "stop");
    expect(exit).toMatchObject({ code: null, signal: "SIGKILL" });
    expect(exit.at - t0).toBeGreaterThanOrEqual(1000);
    expect(exit.at - t0).toBeLessThan(3000);
  });

  it("a grace of a fraction of a second is timed by the driver: SIGKILL after it", async () => {
    const s = await start("trap '' TERM; echo trapped; sleep 600");
    await s.seen("trapped");
    const t0 = now();
    const exit = await within(s.c.stop(300), 10_000, "stop");
    expect(exit).toMatchObject({ code: null, signal: "SIGKILL" });
    expect(exit.at - t0).toBeGreaterThanOrEqual(300);
    expect(exit.at - t0).toBeLessThan(2000);
  });

  it("kill() ends a container that ignores SIGTERM at once; a later stop() resolves with the same exit", async () => {
    const s = await start("trap '' TERM; echo trapped; sleep 600");
    await s.seen("trapped");
    const t0 = now();
    const exit = await within(s.c.kill(), 10_000, "kill");
    expect(exit).toMatchObject({ code: null, signal: "SIGKILL" });
    expect(exit.at - t0).toBeLessThan(2500);
    expect(await within(s.c.stop(100), 1000, "stop after exit")).toEqual(exit);
  });

  it("kill() during a stop's grace cuts it short", async () => {
    const s = await start("trap '' TERM; echo trapped; sleep 600");
    await s.seen("trapped");
    const t0 = now();
    void s.c.stop(10_000);
    const exit = await within(s.c.kill(), 10_000, "kill");
    expect(exit.signal).toBe("SIGKILL");
    expect(exit.at - t0).toBeLessThan(5000);
  });

  it("sweep() removes this fleet's containers by label and leaves another fleet's alone", async () => {
    const other = driverFor(`${FLEET}-other`);
    const ours = [await start("sleep 600"), await start("sleep 600", driverFor(), { ...STEP, jobId: 4243 })];
    const theirs = await start("echo theirs; sleep 600", other);
    await theirs.seen("theirs");
    const removed = await driverFor().sweep();
    expect(removed.sort()).toEqual(ours.map((s) => s.c.id!).sort());
    for (const s of ours) await exitOf(s.c);
    for (const s of ours) await gone(s.c.id!);
    expect((await inspect(theirs.c.id!)).json.State.Running).toBe(true);
    expect(await other.sweep()).toEqual([theirs.c.id]);
    await exitOf(theirs.c);
  });

  it("never pulls: an absent image is one clear error naming it and how to build it", async () => {
    const image = `actions-runner-job:absent-${randomBytes(4).toString("hex")}`;
    const d = driverFor(FLEET, { image });
    await expect(d.start("echo hi", { onLine: () => {} }, STEP)).rejects.toThrow(`image ${image} is not in the Docker engine; build it with docker/images/runner-job/build.sh (images are never pulled)`);
    const err = await d.prepare().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as Error).message).toContain(`image ${image} is not in the Docker engine at unix://`);
    const images = await engine.call<unknown[]>("GET", `/images/json?filters=${encodeURIComponent(JSON.stringify({ reference: [image] }))}`);
    expect(images.json).toEqual([]);
  });

  it("prepare() finds the engine and the image, and sweeps a previous life's containers", async () => {
    const fleet = `${FLEET}-life`;
    const left = await start("sleep 600", driverFor(fleet));
    const prepared = await driverFor(fleet).prepare();
    expect(prepared).toEqual({ removed: [left.c.id], staleImage: false });
    await exitOf(left.c);
  });

  it("a step whose engine goes away ends with one clear error, and its container does not outlive the connection", async () => {
    const proxy = await engineProxy(engine.socketPath);
    const viaProxy = new Engine(proxy.socket);
    try {
      const s = await start("echo up; sleep 600", driverFor(FLEET, { engine: viaProxy }));
      await s.seen("up");
      proxy.cut();
      const exit = await exitOf(s.c);
      expect(exit).toMatchObject({ code: null, signal: null });
      expect(exit.error).toMatch(/^lost the Docker engine during the step: /);
      // Its stdin closed with the attach: the container ends itself (docs/decisions.md, "Stopping").
      await gone(s.c.id!);
    } finally {
      viaProxy.close();
      proxy.close();
    }
  });

  it("an engine that takes a stop but never answers does not hold the step past the grace and the confirmation window", async () => {
    const proxy = await engineProxy(engine.socketPath);
    const viaProxy = new Engine(proxy.socket);
    try {
      const s = await start("echo up; sleep 600", driverFor(FLEET, { engine: viaProxy, confirmMs: 500 }));
      await s.seen("up");
      proxy.freeze();
      const t0 = now();
      const exit = await within(s.c.stop(1000), 10_000, "stop against a frozen engine");
      expect(exit.error).toBe("lost the Docker engine during the step: the engine did not confirm the container stopped within 1500 ms");
      expect(exit.at - t0).toBeGreaterThanOrEqual(1500);
      expect(exit.at - t0).toBeLessThan(3000);
      proxy.cut();
      await gone(s.c.id!);
    } finally {
      viaProxy.close();
      proxy.close();
    }
  });
});

describe("the docker driver without an engine", () => {
  const missing = new Engine(path.join(os.tmpdir(), `no-docker-${process.pid}.sock`));
  afterAll(() => missing.close());

  it("prepare() says the engine is unreachable, where, and what to do", async () => {
    const err = await new DockerDriver({ engine: missing, image: DEFAULT_IMAGE, fleet: FLEET }).prepare().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DependencyError);
    expect((err as Error).message).toMatch(/^The Docker engine is unreachable at unix:\/\/\/.*no-docker-\d+\.sock \(DOCKER_HOST\): connect ENOENT .*— start dockerd \(scripts\/docker-engine\.sh\), run with RUNNER_DRIVER=process, or set DOCKER_HOST$/);
  });

  it("start() rejects at once with the engine named", async () => {
    const d = new DockerDriver({ engine: missing, image: DEFAULT_IMAGE, fleet: FLEET });
    await expect(within(d.start("echo hi", { onLine: () => {} }, STEP), 5000, "start")).rejects.toThrow(/did not answer POST \/containers\/create: connect ENOENT.*start dockerd/);
  });

  it("DOCKER_HOST must name a unix socket", () => {
    expect(engineSocket(undefined)).toBe("/var/run/docker.sock");
    expect(engineSocket("unix:///run/user/1000/docker.sock")).toBe("/run/user/1000/docker.sock");
    expect(() => engineSocket("tcp://127.0.0.1:2375")).toThrow(/only to a unix socket/);
  });
});

describe("FrameDemuxer", () => {
  it("splits stdout and stderr frames, whatever the chunking", () => {
    const frame = (kind: number, text: string) => {
      const payload = Buffer.from(text);
      const head = Buffer.alloc(8);
      head[0] = kind;
      head.writeUInt32BE(payload.length, 4);
      return Buffer.concat([head, payload]);
    };
    const all = Buffer.concat([frame(1, "out 1\n"), frame(2, "err 1\n"), frame(1, ""), frame(1, "out €\n")]);
    for (const size of [1, 3, 8, 9, all.length]) {
      const got: string[] = [];
      const d = new FrameDemuxer((s, p) => got.push(`${s}:${p.toString("latin1")}`));
      for (let i = 0; i < all.length; i += size) d.push(all.subarray(i, i + size));
      expect(got.join("")).toBe(`stdout:out 1\nstderr:err 1\nstdout:stdout:${Buffer.from("out €\n").toString("latin1")}`);
    }
  });
});
