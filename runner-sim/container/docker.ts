// RUNNER_DRIVER=docker: each step runs in a real container of the job image
// (docker/images/runner-job), made and watched through the Engine API (engine.ts).
// Containers carry labels naming their runner, job and fleet, so a later life of the fleet
// can remove what this one left behind (sweep); they have no network and are removed by
// the engine when they exit (AutoRemove).

import { createHash, randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { performance } from "node:perf_hooks";
import { PassThrough, type Duplex } from "node:stream";
import { fileURLToPath } from "node:url";
import { ConfigError } from "../../infra/config.ts";
import { DependencyError, detailOf } from "../../infra/deps.ts";
import type { Logger } from "../../infra/logger.ts";
import { forwardLines, type Container, type ContainerExit, type StartOptions } from "./driver.ts";
import type { ContainerDriver, StepContext } from "./drivers.ts";
import { Engine, EngineError, FrameDemuxer } from "./engine.ts";
import { parseScript } from "./script.ts";

export const LABELS = { runner: "actions-lifecycle.runner", job: "actions-lifecycle.job", step: "actions-lifecycle.step", fleet: "actions-lifecycle.fleet" } as const;
export const DEFAULT_IMAGE = "actions-runner-job:local";
const MAIN_SHA_LABEL = "actions-lifecycle.main-sha256";
const BUILD_HINT = "build it with docker/images/runner-job/build.sh (images are never pulled)";
const ENGINE_HINT = "start dockerd (scripts/docker-engine.sh) or run with RUNNER_DRIVER=process";
// As driver.ts: Linux refuses one argv string over 128 KiB, inside a container too.
const MAX_ARG_CHARS = 120_000;
const CALL_MS = 10_000;
/** How long after a stop's grace (or a kill) the engine has to confirm the exit before the step is given up. */
const CONFIRM_MS = 10_000;
/** After the exit, how long the last output may take to arrive. */
const DRAIN_MS = 2_000;

const now = (): number => performance.timeOrigin + performance.now();
const MAIN = fileURLToPath(new URL("./main.mjs", import.meta.url));

export interface DockerDriverOptions {
  engine: Engine;
  image: string;
  /** Identifies this fleet (its state's marker): the label the sweep of a later life looks for. */
  fleet: string;
  log?: Logger;
  /** How long after a stop's grace (or a kill) the engine has to confirm the exit; default 10 s. */
  confirmMs?: number;
}

export class DockerDriver implements ContainerDriver {
  readonly kind = "docker";

  constructor(private readonly opts: DockerDriverOptions) {}

  /**
   * Before the fleet starts: the engine answers, the image is there (never pulled), and a
   * previous life's containers are removed. Throws DependencyError / ConfigError (one line).
   */
  async prepare(): Promise<{ removed: string[]; staleImage: boolean }> {
    const { engine, image } = this.opts;
    const where = `unix://${engine.socketPath}`;
    try {
      await engine.call("GET", "/_ping", { timeoutMs: 3_000 });
    } catch (e) {
      throw new DependencyError("docker", { kind: "unreachable", detail: e instanceof EngineError ? e.detail : detailOf(e) }, where);
    }
    const img = await engine.call<{ Config?: { Labels?: Record<string, string> | null } }>("GET", `/images/${encodeURIComponent(image)}/json`, { accept: [404] });
    if (img.status === 404) throw new ConfigError(`RUNNER_DOCKER_IMAGE: image ${image} is not in the Docker engine at ${where}; ${BUILD_HINT}`);
    const built = img.json.Config?.Labels?.[MAIN_SHA_LABEL];
    const staleImage = built !== undefined && built !== createHash("sha256").update(readFileSync(MAIN)).digest("hex");
    return { removed: await this.sweep(), staleImage };
  }

  /** Removes every container of this fleet, running or not; returns their ids. */
  async sweep(): Promise<string[]> {
    const { engine, fleet } = this.opts;
    const filters = encodeURIComponent(JSON.stringify({ label: [`${LABELS.fleet}=${fleet}`] }));
    const { json } = await engine.call<{ Id: string }[]>("GET", `/containers/json?all=1&filters=${filters}`);
    // 404: gone meanwhile; 409: the engine is already removing it (AutoRemove).
    await Promise.all(json.map((c) => engine.call("DELETE", `/containers/${c.Id}?force=1`, { accept: [404, 409] })));
    return json.map((c) => c.Id);
  }

  async start(run: string, opts: StartOptions, step: StepContext): Promise<Container> {
    const encoded = Buffer.from(JSON.stringify(parseScript(run))).toString("base64url");
    if (encoded.length > MAX_ARG_CHARS) throw new Error(`step script too long (${run.length} characters)`);
    const id = await this.create(encoded, opts, step);
    try {
      return await this.launch(id, opts);
    } catch (e) {
      // Never started, or started and lost: nothing of it may stay behind.
      void this.opts.engine.call("DELETE", `/containers/${id}?force=1`, { accept: [404, 409] }).catch(() => {});
      throw e;
    }
  }

  private async create(encoded: string, opts: StartOptions, step: StepContext): Promise<string> {
    const { engine, image, fleet } = this.opts;
    const { NODE_OPTIONS: _dropped, ...env } = opts.env ?? {};
    const name = `runner-sim-j${step.jobId}-s${step.stepId}-${randomBytes(3).toString("hex")}`;
    const body = {
      Image: image,
      Cmd: [encoded],
      Env: Object.entries(env).map(([k, v]) => `${k}=${v}`),
      Labels: { [LABELS.runner]: String(step.runnerId), [LABELS.job]: String(step.jobId), [LABELS.step]: String(step.stepId), [LABELS.fleet]: fleet },
      // stdin attached and held open by the runner: when the runner goes, so does the container.
      AttachStdin: true, AttachStdout: true, AttachStderr: true, OpenStdin: true, StdinOnce: true, Tty: false,
      NetworkDisabled: true,
      HostConfig: {
        NetworkMode: "none", AutoRemove: true, ReadonlyRootfs: true, CapDrop: ["ALL"], SecurityOpt: ["no-new-privileges"],
        // The output goes to the job's log through the attach; the engine need not keep a copy.
        LogConfig: { Type: "none", Config: {} },
      },
    };
    try {
      return (await engine.call<{ Id: string }>("POST", `/containers/create?name=${name}`, { body, timeoutMs: 30_000 })).json.Id;
    } catch (e) {
      // Unanswered is not undone: a create the engine finished late must not linger until the next sweep.
      if (e instanceof EngineError && e.unreachable) void engine.call("DELETE", `/containers/${name}?force=1`, { accept: [404, 409] }).catch(() => {});
      throw startError(e, image);
    }
  }

  /** Attach and wait are in place before the start, so neither the first line nor the exit is missed. */
  private async launch(id: string, opts: StartOptions): Promise<Container> {
    const { engine, image } = this.opts;
    const wait = engine.wait(id);
    const attached = engine.attach(id);
    try {
      const [io] = await Promise.all([attached, wait.registered]);
      await engine.call("POST", `/containers/${id}/start`, { timeoutMs: 30_000 });
      return new DockerContainer(engine, id, wait, io, opts.onLine, { log: this.opts.log, confirmMs: this.opts.confirmMs ?? CONFIRM_MS });
    } catch (e) {
      wait.abort("the container did not start");
      void attached.then((io) => io.stream.destroy(), () => {});
      throw startError(e, image);
    }
  }
}

function startError(e: unknown, image: string): Error {
  if (e instanceof EngineError && e.status === 404 && /no such image/i.test(e.message)) return new Error(`image ${image} is not in the Docker engine; ${BUILD_HINT}`);
  const msg = (e as Error).message;
  return new Error(e instanceof EngineError && e.unreachable ? `${msg} — ${ENGINE_HINT}` : `the step's container could not start: ${msg}`);
}

type WaitHandle = ReturnType<Engine["wait"]>;

/** One step's container, from its start until the engine says it exited. */
class DockerContainer implements Container {
  /** No pid of this host's: the container is known by its id (asking the engine for one would cost a call per start). */
  readonly pid = 0;
  readonly exited: Promise<ContainerExit>;
  private signalled = false;
  private stopRequested = false;
  private done = false;
  private termTimer: NodeJS.Timeout | undefined;
  private confirmBy = Infinity;
  private confirmTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly engine: Engine,
    readonly id: string,
    private readonly wait: WaitHandle,
    io: { stream: Duplex; head: Buffer },
    onLine: StartOptions["onLine"],
    private readonly opts: { log: Logger | undefined; confirmMs: number },
  ) {
    const drained = forwardFrames(io.stream, io.head, onLine);
    this.exited = wait.exited
      .then((code) => ({ code, at: now(), error: undefined }), (e: Error) => ({ code: null, at: now(), error: `lost the Docker engine during the step: ${e.message}` }))
      .then(async (r) => {
        this.done = true;
        clearTimeout(this.termTimer);
        clearTimeout(this.confirmTimer);
        // A lost engine sends nothing more: no output to wait for.
        if (r.error === undefined) await settleWithin(drained, DRAIN_MS);
        io.stream.destroy();
        return this.exitOf(r.code, r.at, r.error);
      });
  }

  /** Through tini, a signal's death is 128 + its number: only a signal this runner sent is read as one. */
  private exitOf(code: number | null, at: number, error: string | undefined): ContainerExit {
    if (error !== undefined) return { code: null, signal: null, at, error };
    if (this.signalled && code === 143) return { code: null, signal: "SIGTERM", at };
    if (this.signalled && code === 137) return { code: null, signal: "SIGKILL", at };
    return { code, signal: null, at };
  }

  stop(graceMs: number): Promise<ContainerExit> {
    if (this.stopRequested || this.done) return this.exited;
    this.stopRequested = true;
    this.signalled = true;
    if (graceMs % 1000 === 0) {
      // The engine's own stop (SIGTERM, SIGKILL after t s) goes on even if this runner dies meanwhile.
      void this.post(`/containers/${this.id}/stop?t=${graceMs / 1000}`, graceMs + CALL_MS);
    } else {
      // The API's t is whole seconds: a finer grace is timed here.
      void this.post(`/containers/${this.id}/kill?signal=SIGTERM`, CALL_MS);
      this.killAfter(performance.now() + graceMs);
    }
    this.confirmWithin(graceMs + this.opts.confirmMs);
    return this.exited;
  }

  /** Timers may fire a millisecond early: re-arm until the grace has really passed. */
  private killAfter(deadline: number): void {
    const left = deadline - performance.now();
    if (left <= 0) void this.post(`/containers/${this.id}/kill?signal=SIGKILL`, CALL_MS);
    else this.termTimer = setTimeout(() => this.killAfter(deadline), Math.ceil(left));
  }

  kill(): Promise<ContainerExit> {
    clearTimeout(this.termTimer);
    if (this.done) return this.exited;
    this.signalled = true;
    void this.post(`/containers/${this.id}/kill?signal=SIGKILL`, CALL_MS);
    this.confirmWithin(this.opts.confirmMs);
    return this.exited;
  }

  /** An engine that took the stop but never says the container exited must not hold the job forever. */
  private confirmWithin(ms: number): void {
    const by = performance.now() + ms;
    if (by >= this.confirmBy || this.done) return;
    this.confirmBy = by;
    clearTimeout(this.confirmTimer);
    this.confirmTimer = setTimeout(() => this.wait.abort(`the engine did not confirm the container stopped within ${ms} ms`), ms);
  }

  private async post(path: string, timeoutMs: number): Promise<void> {
    try {
      // 404: removed already; 409: not running any more.
      await this.engine.call("POST", path, { timeoutMs, accept: [404, 409], long: timeoutMs > CALL_MS });
    } catch (e) {
      this.opts.log?.warn({ container: this.id.slice(0, 12), err: (e as Error).message }, "docker stop/kill failed");
    }
  }
}

/** Demultiplexes the attach stream into lines; resolves once both streams have delivered their last line. */
function forwardFrames(stream: Duplex, head: Buffer, onLine: StartOptions["onLine"]): Promise<void> {
  const out = new PassThrough();
  const err = new PassThrough();
  forwardLines(out, (l) => onLine(l, "stdout"));
  forwardLines(err, (l) => onLine(l, "stderr"));
  const demux = new FrameDemuxer((s, payload) => (s === "stdout" ? out : err).write(payload));
  if (head.length > 0) demux.push(head);
  stream.on("data", (c: Buffer) => demux.push(c));
  stream.on("error", () => {}); // the wait reports a lost engine
  return new Promise((resolve) => {
    let ended = 0;
    // Listeners after forwardLines' own: its last line is out before this counts.
    const one = () => ++ended === 2 && resolve();
    out.once("end", one);
    err.once("end", one);
    let closed = false;
    const close = () => {
      if (closed) return;
      closed = true;
      out.end();
      err.end();
    };
    stream.once("end", close);
    stream.once("close", close);
  });
}

function settleWithin(p: Promise<unknown>, ms: number): Promise<void> {
  let t: NodeJS.Timeout | undefined;
  return Promise.race([p.then(() => {}), new Promise<void>((resolve) => (t = setTimeout(resolve, ms)))]).finally(() => clearTimeout(t));
}
