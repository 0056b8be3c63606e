import { readFileSync } from "node:fs";
import path from "node:path";
import { spawnService, type Service } from "../scripts/service.ts";
import type { AclRole } from "../infra/redis-acl.ts";
import { privateRedisAt, sleep, type AclUrls } from "./infra.ts";

// The service's real processes for one scenario: an API, N workers, optionally a runner
// simulator, each a separate OS process that a fault can kill, stop or starve.

export const REGISTRATION_TOKEN = "chaos-registration-secret-0123456789";

export interface SystemConfig {
  dbUrl: string;
  redisUrl: string;
  prefix: string;
  workers: number;
  resultTimeoutMs: number;
  reaper: { intervalMs: number; windowMs: number };
  lockMs: number;
  /** Extra environment for every process (cluster-failover: the cluster and its shards). */
  env?: Record<string, string>;
  /** Extra environment for the API. */
  apiEnv?: Record<string, string>;
  /** Extra environment for worker i (fault-injection knobs). */
  workerEnv?: (i: number) => Record<string, string>;
  sim?: { runners: number; capacity: number; stateDir: string };
}

export class System {
  apiUrl = "";
  api: Service | null = null;
  readonly workers: (Service | null)[] = [];
  /** Every process ever started, including killed ones: their logs are evidence. */
  readonly all: { role: string; service: Service }[] = [];
  sim: Service | null = null;
  /** Null on a Redis that is not ours (npm run chaos against REDIS_URL): no users to hand out. */
  private redisUsers: AclUrls | null = null;

  constructor(readonly cfg: SystemConfig) {}

  private env(redisRole: AclRole, extra: Record<string, string>): Record<string, string> {
    const c = this.cfg;
    const redisUrl = this.redisUsers?.[redisRole] ?? c.redisUrl;
    return { DATABASE_URL: c.dbUrl, REDIS_URL: redisUrl, QUEUE_PREFIX: c.prefix, LOG_LEVEL: "info", DB_POOL_SIZE: "5", ...c.env, ...extra };
  }

  private async spawn(role: string, entry: string, extra: Record<string, string>, ready: RegExp): Promise<Service> {
    const redisRole: AclRole = role === "api" ? "api" : role === "runner-sim" ? "runner" : "worker";
    const s = spawnService(entry, this.env(redisRole, extra));
    this.all.push({ role, service: s });
    await s.waitForLine(ready, 90_000);
    return s;
  }

  async start(): Promise<void> {
    // On a private Redis each process runs as its role's ACL user (docs/security.md, "Redis roles").
    this.redisUsers = (await privateRedisAt(this.cfg.redisUrl)?.applyAcl(this.cfg.prefix)) ?? null;
    const api = this.spawn("api", "api/server.ts", {
      PORT: "0", HOST: "127.0.0.1", RESULT_TIMEOUT_MS: String(this.cfg.resultTimeoutMs),
      RATE_LIMIT_PER_HOUR: "100000000", UNAUTH_RATE_LIMIT_PER_HOUR: "100000000", RUNNER_REGISTRATION_TOKEN: REGISTRATION_TOKEN,
      ...(this.cfg.apiEnv ?? {}),
    }, /"msg":"api listening"/);
    const workers = Array.from({ length: this.cfg.workers }, (_, i) => this.startWorker(i));
    this.api = await api;
    this.apiUrl = `http://127.0.0.1:${/"port":(\d+)/.exec(this.api.output())![1]}`;
    // The simulator needs only the API; it starts while the workers still boot.
    await Promise.all([...workers, this.cfg.sim ? this.startSim() : null]);
  }

  async startWorker(i: number): Promise<Service> {
    const c = this.cfg;
    const w = await this.spawn(`worker-${i}`, "worker/main.ts", {
      WORKER_CONCURRENCY: "8",
      WORKER_PORT: "0",
      WORKER_LOCK_DURATION_MS: String(c.lockMs),
      WORKER_STALLED_INTERVAL_MS: String(Math.max(500, Math.floor(c.lockMs / 2))),
      REAPER_INTERVAL_MS: String(c.reaper.intervalMs),
      RUNNER_HEARTBEAT_WINDOW_MS: String(c.reaper.windowMs),
      ...(c.workerEnv?.(i) ?? {}),
    }, /"msg":"worker ready"/);
    this.workers[i] = w;
    return w;
  }

  worker(i: number): Service {
    const w = this.workers[i];
    if (!w) throw new Error(`worker ${i} is not running`);
    return w;
  }

  async killWorker(i: number): Promise<void> {
    await this.worker(i).kill("SIGKILL");
    this.workers[i] = null;
  }

  async startSim(): Promise<Service> {
    const s = this.cfg.sim!;
    this.sim = await this.spawn("runner-sim", "runner-sim/main.ts", {
      API_URL: this.apiUrl, RUNNERS: String(s.runners), RUNNER_CAPACITY: String(s.capacity), HEARTBEAT_MS: "200",
      CANCEL_POLL_MS: "1000", CANCEL_GRACE_MS: "2000", RUNNER_NAME_PREFIX: `chaos-${this.cfg.prefix}`,
      RUNNER_STATE_DIR: s.stateDir, RUNNER_REGISTRATION_TOKEN: REGISTRATION_TOKEN,
    }, /"msg":"fleet ready"/);
    return this.sim;
  }

  async killSim(): Promise<void> {
    await this.sim?.kill("SIGKILL");
    this.sim = null;
  }

  /** Container pids every life of the simulator reported, by job id. */
  containers(): { jobId: number; pid: number }[] {
    return this.all.filter((p) => p.role === "runner-sim").flatMap((p) => logLines(p.service, "container started"))
      .map((l) => ({ jobId: Number(l.job_id), pid: Number(l.pid) }));
  }

  /** Processes that exited although no fault asked them to (a crash, not a kill). */
  crashed(): string[] {
    const live = new Set<Service | null>([this.api, this.sim, ...this.workers]);
    return this.all.filter((p) => live.has(p.service) && (p.service.proc.exitCode !== null || p.service.proc.signalCode !== null))
      .map((p) => `${p.role} exited (${p.service.proc.exitCode ?? p.service.proc.signalCode})`);
  }

  async stop(): Promise<void> {
    const alive = (s: Service) => s.proc.exitCode === null && s.proc.signalCode === null;
    const stop = async (s: Service) => {
      s.proc.kill("SIGCONT");
      const gone = s.kill("SIGTERM");
      if ((await Promise.race([gone.then(() => true), sleep(15_000).then(() => false)])) === false) await s.kill("SIGKILL");
    };
    // The simulator first: it stops its containers and reports while the API still answers.
    if (this.sim && alive(this.sim)) await stop(this.sim);
    await Promise.all(this.all.map((p) => p.service).filter(alive).map(stop));
  }
}

export type LogLine = Record<string, unknown> & { msg?: string };

export function logLines(s: Service, msg?: string): LogLine[] {
  const out: LogLine[] = [];
  for (const line of s.output().split("\n")) {
    if (!line.startsWith("{")) continue;
    try {
      const l = JSON.parse(line) as LogLine;
      if (msg === undefined || l.msg === msg) out.push(l);
    } catch {
      // A line cut by a kill -9.
    }
  }
  return out;
}

/** Alive and still our container (a pid may have been reused by something else). */
export function isLiveContainer(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // A zombie is dead; its parent just has not reaped it yet.
    if (/^\d+ \(.*\) Z /.test(stat)) return false;
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").includes(path.join("runner-sim", "container", "main.mjs"));
  } catch {
    return false;
  }
}
