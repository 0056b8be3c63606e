import type { Logger } from "../infra/logger.ts";
import type { Container, ContainerExit } from "./container/driver.ts";
import { processDriver, type ContainerDriver } from "./container/drivers.ts";
import type { Claim, RunnerClient, StatusBody } from "./client.ts";
import type { ContainerRegistry } from "./orphans.ts";
import { actOnCheck } from "./signals.ts";
import { stepEndLine } from "./step-end.ts";
import { assertNever } from "../infra/assert.ts";

export interface JobOptions {
  graceMs: number;
  pollMs: number;
  log: Logger;
  registry: ContainerRegistry;
  /** RUNNER_DRIVER; unset, a child process per step. */
  driver?: ContainerDriver;
}

type Ending = { kind: "success" } | { kind: "failure" } | { kind: "timed_out" } | { kind: "cancelled" };

const now = () => performance.timeOrigin + performance.now();

/**
 * One claimed job on one runner: its steps run one after another, each in its own
 * container; a cancel (signal, poll or reconnect check) stops the current container and
 * ends the job `cancelled`.
 */
export class JobRun {
  readonly id: number;
  /** The runner the API gave this job to: a signal for it must name this runner. */
  readonly runnerId: number;
  private readonly token: string;
  private cancelling = false;
  private timedOut = false;
  private container: Container | null = null;
  private finished = false;
  private logChain: Promise<unknown> = Promise.resolve();
  /** The cancel request's id, carried on the terminal report so logs line up end to end. */
  private requestId: string | undefined;
  private forced = false;
  /** Signals waiting for the next cancel-check (one in flight at a time), by request id. */
  private signalled: (string | undefined)[] | null = null;
  private signalCheck = false;
  /** The step in its container and its next log sequence number. */
  private step: { id: number; seq: number } | null = null;

  constructor(
    private readonly client: RunnerClient,
    private readonly claim: Claim,
    private readonly opts: JobOptions,
  ) {
    this.id = claim.job.id;
    this.runnerId = claim.job.runner_id;
    this.token = claim.token;
  }

  /** Idempotent: a second cancel (poll after signal) does nothing more. */
  cancel(via: "signal" | "poll" | "reconnect" | "refused" | "shutdown", requestId?: string, force = false): void {
    if (this.finished) return;
    // A force-cancel after a plain one still cuts the grace period short.
    if (force) this.forced = true;
    if (this.cancelling) {
      if (force) void this.container?.kill();
      return;
    }
    this.cancelling = true;
    this.requestId = requestId;
    this.opts.log.info({ job_id: this.id, via, force, request_id: requestId, at: now() }, "cancel received");
    // Its log says why the job ended: no user cancelled it (docs/decisions.md, "Stopping").
    if (via === "shutdown") this.logLine("runner shutting down: the job is cancelled; rerun it to run it again");
    void (force ? this.container?.kill() : this.container?.stop(this.opts.graceMs));
  }

  /**
   * A cancel signal for this job: asked about at once (one local call). Signals arriving
   * while a check is in flight share the next one, which starts when it returns — its
   * answer is then newer than the signal.
   */
  signal(requestId: string | undefined): void {
    if (this.finished || this.forced) return;
    (this.signalled ??= []).push(requestId);
    if (!this.signalCheck) void this.checkSignals();
  }

  private async checkSignals(): Promise<void> {
    this.signalCheck = true;
    try {
      while (this.signalled !== null && !this.finished) {
        const batch = this.signalled;
        this.signalled = null;
        await this.ask("signal", batch);
      }
    } finally {
      this.signalled = null;
      this.signalCheck = false;
    }
  }

  /** Asks the API whether this job was cancelled (the safety net for a lost signal). */
  async check(via: "poll" | "reconnect"): Promise<void> {
    if (this.finished || this.forced) return;
    await this.ask(via, null);
  }

  private async ask(via: "signal" | "poll" | "reconnect", signals: (string | undefined)[] | null): Promise<void> {
    const answer = await this.client.cancelCheck(this.id, this.token);
    if (answer.kind !== "answer") this.opts.log.warn({ job_id: this.id, via, err: answer.message }, "cancel-check failed");
    const act = actOnCheck(answer, { stopping: this.cancelling, forced: this.forced }, signals !== null);
    switch (act.kind) {
      case "stop":
        this.cancel(answer.kind === "refused" ? "refused" : via, signals?.findLast((r) => r !== undefined), act.force);
        return;
      case "unconfirmed":
        for (const requestId of signals ?? []) this.opts.log.warn({ job_id: this.id, request_id: requestId, reason: act.reason }, "cancel signal unconfirmed; ignored");
        return;
      case "keep":
        return;
      default:
        assertNever(act, "cancel-check action");
    }
  }

  async run(): Promise<void> {
    const { job } = this.claim;
    const poll = setInterval(() => void this.check("poll"), this.opts.pollMs);
    const timeout = setTimeout(() => {
      this.timedOut = true;
      void this.container?.stop(this.opts.graceMs);
    }, job.timeout_minutes * 60_000);
    let ending: Ending = { kind: "success" };
    try {
      for (const step of job.steps) {
        if (this.cancelling) break;
        ending = await this.runStep(step);
        if (ending.kind !== "success") break;
      }
      if (this.cancelling) ending = { kind: "cancelled" };
      await this.logChain;
      await this.client.jobStatus(this.id, this.token, statusOf(ending), this.requestId);
      this.opts.log.info({ job_id: this.id, conclusion: ending.kind, request_id: this.requestId, at: now() }, "job finished");
    } catch (e) {
      this.opts.log.error({ job_id: this.id, err: (e as Error).message }, "job could not be reported");
    } finally {
      this.finished = true;
      clearInterval(poll);
      clearTimeout(timeout);
    }
  }

  private async runStep(step: Claim["job"]["steps"][number]): Promise<Ending> {
    await this.client.stepStatus(this.id, step.id, this.token, { status: "running" });
    this.step = { id: step.id, seq: 0 };
    const driver = this.opts.driver ?? processDriver;
    let container: Container;
    try {
      container = await driver.start(step.run, {
        // Marks the container as this fleet's, for the sweep of a later life.
        env: this.opts.registry.containerEnv(),
        onLine: (line) => this.logLine(line),
      }, { runnerId: this.runnerId, jobId: this.id, stepId: step.id });
    } catch (e) {
      return this.notStarted(step.id, e as Error);
    }
    this.container = container;
    // A docker container is found again by its labels, not by a pid.
    if (driver.kind === "process") this.opts.registry.add(container.pid, this.id);
    this.opts.log.info({ job_id: this.id, step_id: step.id, pid: container.pid, container_id: container.id?.slice(0, 12) }, "container started");
    // A cancel that arrived while the step was being reported must still stop it.
    if (this.forced) void container.kill();
    else if (this.cancelling || this.timedOut) void container.stop(this.opts.graceMs);
    const exit = await container.exited;
    this.opts.registry.remove(container.pid);
    this.container = null;
    const ending = this.endingOf(exit);
    if (exit.error !== undefined) this.opts.log.error({ job_id: this.id, step_id: step.id, err: exit.error }, "container lost");
    const last = exit.error !== undefined ? `##[error]${exit.error}` : stepEndLine(exit, ending.kind);
    if (last !== null) this.logLine(last);
    if (this.cancelling) this.opts.log.info({ job_id: this.id, pid: container.pid, signal: exit.signal, at: exit.at }, "container stopped");
    await this.logChain;
    await this.client.stepStatus(this.id, step.id, this.token, statusOf(ending));
    return ending;
  }

  /** A container that could not start fails its step (a cancel meanwhile still ends it `cancelled`), and the log says why. */
  private async notStarted(stepId: number, e: Error): Promise<Ending> {
    this.opts.log.error({ job_id: this.id, step_id: stepId, err: e.message }, "container could not start");
    this.logLine(`##[error]${e.message}`);
    const ending: Ending = this.cancelling ? { kind: "cancelled" } : { kind: "failure" };
    await this.logChain;
    await this.client.stepStatus(this.id, stepId, this.token, statusOf(ending));
    return ending;
  }

  private logLine(content: string): void {
    const step = this.step;
    if (step === null) return;
    const chunk = { step_id: step.id, seq: step.seq++, content };
    // A lost log chunk must not fail the job (nor stop later chunks): say so at debug and go on.
    this.logChain = this.logChain
      .then(() => this.client.log(this.id, this.token, chunk))
      .catch((e) => this.opts.log.debug({ job_id: this.id, step_id: chunk.step_id, seq: chunk.seq, err: (e as Error).message }, "log chunk not delivered"));
  }

  /**
   * A forced stop: nothing more will be reported. Kills the container now (its group,
   * synchronously) and removes its pid file, so nothing of this job outlives the process.
   */
  abandon(): void {
    const c = this.container;
    if (c === null) return;
    void c.kill();
    this.opts.registry.remove(c.pid);
  }

  private endingOf(exit: ContainerExit): Ending {
    if (this.cancelling) return { kind: "cancelled" };
    if (this.timedOut) return { kind: "timed_out" };
    return exit.code === 0 ? { kind: "success" } : { kind: "failure" };
  }

  get pid(): number | null {
    return this.container?.pid ?? null;
  }
}

function statusOf(e: Ending): StatusBody {
  switch (e.kind) {
    case "cancelled":
      return { status: "cancelled" };
    case "success":
    case "failure":
    case "timed_out":
      return { status: "completed", conclusion: e.kind };
  }
}
