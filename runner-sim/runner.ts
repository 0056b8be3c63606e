import os from "node:os";
import { ProtocolError, type RunnerClient } from "./client.ts";
import { JobRun, type JobOptions } from "./job.ts";

export interface RunnerSpec {
  /** For the logs; the API knows a runner by its token. */
  name: string;
  token: string;
  /** Sent on each heartbeat when set; unset, the runner keeps what it was registered with. */
  labels?: string[];
  /** Unset: claim until the API has nothing more for this runner (it enforces the capacity). */
  capacity?: number;
}

const VERSION = "runner-sim/0.1";

/** Each heartbeat with room to claim is a long poll this long (the API holds it at most half its heartbeat window). */
export const POLL_WAIT_S = 30;

/**
 * One simulated runner: heartbeats (each heartbeat may claim a job), runs what it claims
 * up to its capacity, and claims again as soon as a slot frees.
 */
export class SimRunner {
  readonly jobs = new Map<number, JobRun>();
  private stopping = false;
  private wake: (() => void) | null = null;
  /** The long poll in flight: a stop ends it at once. */
  private poll: AbortController | null = null;
  private loopDone: Promise<void> = Promise.resolve();

  constructor(
    readonly spec: RunnerSpec,
    private readonly client: RunnerClient,
    private readonly heartbeatMs: number,
    private readonly jobOpts: JobOptions,
    private readonly onJobs: (change: "start" | "end", job: JobRun) => void,
  ) {}

  start(): void {
    this.loopDone = this.loop();
  }

  private async loop(): Promise<void> {
    const log = this.jobOpts.log;
    while (!this.stopping) {
      let claimed = false;
      const started = Date.now();
      try {
        claimed = await this.heartbeat();
      } catch (e) {
        if (this.stopping) return;
        if (e instanceof ProtocolError && e.status === 401) {
          log.error({ runner: this.spec.name, err: e.message }, "runner credentials refused; stopping this runner");
          return;
        }
        log.warn({ runner: this.spec.name, err: (e as Error).message }, "heartbeat failed");
      }
      // Claim again at once while there is room, and after a long poll that waited its time;
      // otherwise (an API that answered at once: no room, draining, no long polls) wait for a beat or a free slot.
      const answeredAtOnce = Date.now() - started < this.heartbeatMs;
      if ((!claimed && answeredAtOnce) || this.jobs.size >= (this.spec.capacity ?? Infinity)) await this.pause();
    }
  }

  private async heartbeat(): Promise<boolean> {
    this.poll = new AbortController();
    const claim = await this.client.heartbeat(this.spec.token, {
      ...(this.spec.labels ? { labels: this.spec.labels } : {}),
      ...(this.spec.capacity ? { capacity: this.spec.capacity } : {}),
      host_name: os.hostname(),
      version: VERSION,
    }, { waitS: POLL_WAIT_S, signal: this.poll.signal }).finally(() => (this.poll = null));
    if (!claim) return false;

    const job = new JobRun(this.client, claim, { ...this.jobOpts, log: this.jobOpts.log.child({ runner: this.spec.name }) });
    this.jobs.set(job.id, job);
    this.onJobs("start", job);
    this.jobOpts.log.info({ runner: this.spec.name, job_id: job.id, job_key: claim.job.job_key }, "job claimed");
    void job.run().finally(() => {
      this.jobs.delete(job.id);
      this.onJobs("end", job);
      this.wake?.();
    });
    return true;
  }

  private pause(): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(done, this.heartbeatMs);
      function done() {
        clearTimeout(t);
        resolve();
      }
      this.wake = () => {
        this.wake = null;
        done();
      };
    });
  }

  /** A forced stop: claims no more and kills every container at once (see JobRun.abandon). */
  abandon(): void {
    this.stopping = true;
    this.poll?.abort();
    for (const j of this.jobs.values()) j.abandon();
  }

  /** Stops claiming; jobs in hand are cancelled and reported before this resolves. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.poll?.abort();
    this.wake?.();
    await this.loopDone;
    const running = [...this.jobs.values()];
    for (const j of running) j.cancel("shutdown");
    await Promise.all(running.map((j) => new Promise<void>((resolve) => {
      const check = () => (this.jobs.has(j.id) ? setTimeout(check, 20) : resolve());
      check();
    })));
  }
}
