import { cancelChannel, cancelSignal } from "../core/contracts.ts";
import type { Logger } from "../core/logger.ts";
import { connectRedis, type Redis } from "../core/redis.ts";
import type { RunnerClient } from "./client.ts";
import type { JobRun } from "./job.ts";
import type { ContainerRegistry } from "./orphans.ts";
import { SimRunner, type RunnerSpec } from "./runner.ts";

export interface FleetOptions {
  redisUrl: string;
  queuePrefix: string;
  heartbeatMs: number;
  graceMs: number;
  pollMs: number;
  log: Logger;
  registry: ContainerRegistry;
}

/**
 * Runners sharing one dedicated Redis subscription for cancel signals. A signal for a job
 * no runner here holds is ignored. Whenever the subscription (re)connects, every held job
 * is checked, since signals published while it was away are lost.
 */
export class Fleet {
  private readonly jobs = new Map<number, JobRun>();
  private readonly runners: SimRunner[];
  private sub: Redis | null = null;

  constructor(specs: RunnerSpec[], client: RunnerClient, private readonly opts: FleetOptions) {
    const jobOpts = { graceMs: opts.graceMs, pollMs: opts.pollMs, log: opts.log, registry: opts.registry };
    this.runners = specs.map((s) => new SimRunner(s, client, opts.heartbeatMs, jobOpts, (change, job) => {
      if (change === "start") this.jobs.set(job.id, job);
      else this.jobs.delete(job.id);
    }));
  }

  async start(): Promise<void> {
    const swept = this.opts.registry.sweep();
    if (swept.length > 0) this.opts.log.warn({ pids: swept }, "killed containers a previous run of this fleet left behind");
    const sub = connectRedis(this.opts.redisUrl, "signals");
    this.sub = sub;
    sub.on("message", (_channel: string, message: string) => this.onSignal(message));
    sub.on("ready", () => {
      this.opts.log.info({ held: this.jobs.size }, "signal subscription ready; checking held jobs");
      for (const j of this.jobs.values()) void j.check("reconnect");
    });
    await sub.subscribe(cancelChannel(this.opts.queuePrefix));
    for (const r of this.runners) r.start();
    this.opts.log.info({ runners: this.runners.map((r) => r.spec.name) }, "fleet ready");
  }

  private onSignal(message: string): void {
    let parsed;
    try {
      parsed = cancelSignal.safeParse(JSON.parse(message));
    } catch {
      parsed = null;
    }
    if (!parsed?.success) {
      this.opts.log.warn("malformed cancel signal ignored");
      return;
    }
    this.jobs.get(parsed.data.job_id)?.cancel("signal", parsed.data.request_id ?? undefined, parsed.data.force ?? false);
  }

  /** The pids of running containers, by job (for tests and benchmarks). */
  containers(): Map<number, number | null> {
    return new Map([...this.jobs.values()].map((j) => [j.id, j.pid]));
  }

  async stop(): Promise<void> {
    await Promise.all(this.runners.map((r) => r.stop()));
    this.sub?.disconnect();
  }
}
