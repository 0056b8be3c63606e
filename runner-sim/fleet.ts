import { cancelChannel, cancelSignal } from "../domain/contracts.ts";
import type { Logger } from "../infra/logger.ts";
import { connectRedis, onSignalsResubscribed, subscribeSignals, type Redis } from "../infra/redis.ts";
import { dependencyWatch, watchRedis } from "../infra/dep-watch.ts";
import type { RunnerClient } from "./client.ts";
import type { JobRun } from "./job.ts";
import type { ContainerDriver } from "./container/drivers.ts";
import type { ContainerRegistry } from "./orphans.ts";
import { SimRunner, type RunnerSpec } from "./runner.ts";
import { judgeSignal } from "./signals.ts";
import { assertNever } from "../infra/assert.ts";

export interface FleetOptions {
  redisUrl: string;
  queuePrefix: string;
  heartbeatMs: number;
  graceMs: number;
  pollMs: number;
  log: Logger;
  registry: ContainerRegistry;
  driver?: ContainerDriver;
}

/**
 * Runners sharing one dedicated Redis subscription for cancel signals. A signal is acted
 * on only for a job a runner here holds, naming that runner, and only once cancel-check
 * confirms it. Whenever the subscription (re)connects, every held job is checked, since
 * signals published while it was away are lost.
 */
export class Fleet {
  private readonly jobs = new Map<number, JobRun>();
  private readonly runners: SimRunner[];
  private sub: Redis | null = null;

  constructor(specs: RunnerSpec[], client: RunnerClient, private readonly opts: FleetOptions) {
    const jobOpts = { graceMs: opts.graceMs, pollMs: opts.pollMs, log: opts.log, registry: opts.registry, driver: opts.driver };
    this.runners = specs.map((s) => new SimRunner(s, client, opts.heartbeatMs, jobOpts, (change, job) => {
      if (change === "start") this.jobs.set(job.id, job);
      else this.jobs.delete(job.id);
    }));
  }

  async start(): Promise<void> {
    const swept = this.opts.registry.sweep();
    if (swept.killed.length > 0) this.opts.log.warn({ pids: swept.killed }, "killed containers a previous run of this fleet left behind");
    if (swept.skipped.length > 0) this.opts.log.info({ skipped: swept.skipped }, "left alone recorded pids this fleet cannot prove it started");
    const sub = connectRedis(this.opts.redisUrl, "signals");
    this.sub = sub;
    // A lost Redis is logged once and its return once, not on every retry (infra/dep-watch.ts).
    watchRedis(sub, dependencyWatch(this.opts.log, "redis", this.opts.redisUrl), "signals");
    // "ready" is the connection's, before any SUBSCRIBE was answered: the first subscription
    // is said ready once Redis accepted it, a re-established one (ioredis resubscribes) on ready.
    let subscribed = false;
    onSignalsResubscribed(sub, () => {
      if (!subscribed) return;
      this.opts.log.info({ held: this.jobs.size }, "signal subscription ready; checking held jobs");
      for (const j of this.jobs.values()) void j.check("reconnect");
    });
    // SSUBSCRIBE on a cluster, SUBSCRIBE on a single Redis (infra/redis.ts).
    await subscribeSignals(sub, cancelChannel(this.opts.queuePrefix), (message) => this.onSignal(message));
    subscribed = true;
    this.opts.log.info({ held: this.jobs.size }, "signal subscription ready");
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
    const sig = parsed.data;
    const job = this.jobs.get(sig.job_id);
    const d = judgeSignal(job, sig);
    switch (d.kind) {
      case "confirm":
        // Whether to stop, and how hard, is the API's answer; the signal's own `force` is not.
        job!.signal(sig.request_id ?? undefined);
        return;
      case "ignore":
        // Every fleet hears every cancel: one for a job held elsewhere is routine.
        if (d.reason === "not held here") return;
        this.opts.log.warn({ job_id: sig.job_id, runner_id: sig.runner_id, holder: job?.runnerId, request_id: sig.request_id, reason: d.reason }, "cancel signal ignored");
        return;
      default:
        assertNever(d, "signal decision");
    }
  }

  /** The pids of running containers, by job (for tests and benchmarks). */
  containers(): Map<number, number | null> {
    return new Map([...this.jobs.values()].map((j) => [j.id, j.pid]));
  }

  /** A forced stop: every container killed and its pid file removed, synchronously. */
  abandon(): void {
    for (const r of this.runners) r.abandon();
    this.sub?.disconnect();
  }

  async stop(): Promise<void> {
    await Promise.all(this.runners.map((r) => r.stop()));
    this.sub?.disconnect();
  }
}
