import type { Logger } from "../core/logger.ts";
import { startContainer, type Container, type ContainerExit } from "./container/driver.ts";
import type { Claim, RunnerClient, StatusBody } from "./client.ts";
import type { ContainerRegistry } from "./orphans.ts";

export interface JobOptions {
  graceMs: number;
  pollMs: number;
  log: Logger;
  registry: ContainerRegistry;
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
  private readonly token: string;
  private cancelling = false;
  private timedOut = false;
  private container: Container | null = null;
  private finished = false;
  private logChain: Promise<unknown> = Promise.resolve();
  /** The cancel request's id, carried on the terminal report so logs line up end to end. */
  private requestId: string | undefined;
  private forced = false;

  constructor(
    private readonly client: RunnerClient,
    private readonly claim: Claim,
    private readonly opts: JobOptions,
  ) {
    this.id = claim.job.id;
    this.token = claim.token;
  }

  /** Idempotent: a second cancel (poll after signal) does nothing more. */
  cancel(via: "signal" | "poll" | "reconnect" | "shutdown", requestId?: string, force = false): void {
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
    void (force ? this.container?.kill() : this.container?.stop(this.opts.graceMs));
  }

  /** Asks the API whether this job was cancelled (the safety net for a lost signal). */
  async check(via: "poll" | "reconnect"): Promise<void> {
    if (this.finished || this.cancelling) return;
    try {
      if (await this.client.cancelCheck(this.id, this.token)) this.cancel(via);
    } catch (e) {
      this.opts.log.warn({ job_id: this.id, err: (e as Error).message }, "cancel-check failed");
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
    let seq = 0;
    const container = startContainer(step.run, {
      onLine: (line) => {
        const chunk = { step_id: step.id, seq: seq++, content: line };
        this.logChain = this.logChain.then(() => this.client.log(this.id, this.token, chunk)).catch(() => {});
      },
    });
    this.container = container;
    this.opts.registry.add(container.pid, this.id);
    this.opts.log.info({ job_id: this.id, step_id: step.id, pid: container.pid }, "container started");
    // A cancel that arrived while the step was being reported must still stop it.
    if (this.forced) void container.kill();
    else if (this.cancelling || this.timedOut) void container.stop(this.opts.graceMs);
    const exit = await container.exited;
    this.opts.registry.remove(container.pid);
    this.container = null;
    const ending = this.endingOf(exit);
    if (this.cancelling) this.opts.log.info({ job_id: this.id, pid: container.pid, signal: exit.signal, at: exit.at }, "container stopped");
    await this.logChain;
    await this.client.stepStatus(this.id, step.id, this.token, statusOf(ending));
    return ending;
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
