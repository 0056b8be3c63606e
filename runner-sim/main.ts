import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { z } from "zod";
import { commonEnv, ConfigError, parseConfig } from "../infra/config.ts";
import { createLogger } from "../infra/logger.ts";
import { onShutdown } from "../infra/shutdown.ts";
import { RunnerClient } from "./client.ts";
import { Fleet } from "./fleet.ts";
import { ContainerRegistry } from "./orphans.ts";
import { DEFAULT_IMAGE, DockerDriver } from "./container/docker.ts";
import { Engine, engineSocket } from "./container/engine.ts";
import { prepareStateDir } from "./state-dir.ts";
import { fleetIdentity, lockFleet, readRunnerTokens, writeRunnerTokens } from "./state.ts";
import type { RunnerSpec } from "./runner.ts";
import { classifyRedis, DependencyError, failClearly, probeRedis } from "../infra/deps.ts";
import { probeUrl, useRedisCluster } from "../infra/redis.ts";

failClearly("runner-sim");

// `npm run start:runner-sim [-- --runners 4 --labels ubuntu-latest,linux --capacity 2 …]`:
// a fleet of simulated runners speaking only the runner protocol and the cancel signal.

const csv = z.string().transform((s) => s.split(",").map((x) => x.trim()).filter(Boolean));

const simEnv = commonEnv.extend({
  API_URL: z.url().default("http://127.0.0.1:3000"),
  RUNNERS: z.coerce.number().int().min(1).max(256).default(2),
  RUNNER_LABELS: csv.default(["ubuntu-latest", "linux", "x64"]),
  RUNNER_CAPACITY: z.coerce.number().int().min(1).max(256).default(2),
  RUNNER_NAME_PREFIX: z.string().regex(/^[A-Za-z0-9._-]{1,80}$/).default(`sim-${os.hostname().replace(/[^A-Za-z0-9._-]/g, "-").slice(0, 60)}`),
  HEARTBEAT_MS: z.coerce.number().int().min(10).default(1000),
  CANCEL_GRACE_MS: z.coerce.number().int().min(0).default(5000),
  CANCEL_POLL_MS: z.coerce.number().int().min(50).default(2000),
  // Either tokens of runners registered by an operator (`admin runner register`) …
  RUNNER_TOKENS: csv.optional(),
  // … or the shared secret with which the fleet registers itself.
  RUNNER_REGISTRATION_TOKEN: z.string().min(20).optional(),
  // Where live containers are recorded, so a restarted fleet can kill what its previous
  // life left behind: each fleet identity (API_URL with the name prefix, or with the
  // tokens) gets a folder of its own under this base. Default: <tmpdir>/actions-runner-sim.
  RUNNER_STATE_DIR: z.string().min(1).optional(),
  // How each step runs: a child process, or a container on a Docker engine (DESIGN.md §13),
  // made from RUNNER_DOCKER_IMAGE (never pulled) through DOCKER_HOST's unix socket.
  RUNNER_DRIVER: z.enum(["process", "docker"]).default("process"),
  RUNNER_DOCKER_IMAGE: z.string().min(1).default(DEFAULT_IMAGE),
  DOCKER_HOST: z.string().regex(/^unix:\/\/./, "the docker driver speaks only to a unix socket: unix:///path/to/docker.sock").optional(),
}).refine((c) => c.RUNNER_TOKENS !== undefined || c.RUNNER_REGISTRATION_TOKEN !== undefined, {
  // A setting the operator left out: one line and exit 2 like any other (README, "When a
  // dependency is down or a setting is wrong"), checked before anything is contacted.
  path: ["RUNNER_REGISTRATION_TOKEN"],
  message: "set it (the API's secret for POST /api/v1/runners/register) or RUNNER_TOKENS (from `admin runner register`)",
});

const FLAGS = {
  runners: "RUNNERS", labels: "RUNNER_LABELS", capacity: "RUNNER_CAPACITY", "api-url": "API_URL", "redis-url": "REDIS_URL",
  "heartbeat-ms": "HEARTBEAT_MS", "grace-ms": "CANCEL_GRACE_MS", "poll-ms": "CANCEL_POLL_MS", "name-prefix": "RUNNER_NAME_PREFIX",
} as const;

function flagsAsEnv(): Record<string, string> {
  const { values } = parseArgs({
    options: Object.fromEntries(Object.keys(FLAGS).map((k) => [k, { type: "string" as const }])),
    strict: true,
  });
  return Object.fromEntries(Object.entries(values).map(([k, v]) => [FLAGS[k as keyof typeof FLAGS], String(v)]));
}

const input = { ...process.env, ...flagsAsEnv() };
const cfg = parseConfig(simEnv, input);
const log = createLogger("runner-sim", { level: cfg.LOG_LEVEL, pretty: cfg.LOG_PRETTY });
const client = new RunnerClient(cfg.API_URL);
// Redis Cluster (docs/scaling.md): the signal subscription goes to it when REDIS_CLUSTER_NODES is set.
useRedisCluster(cfg.REDIS_CLUSTER_NODES);
// Redis answers (and takes this user's login) before any runner registers.
await probeRedis(probeUrl(cfg.REDIS_URL));

/** The engine answers, the image is there, and what a previous life of this fleet left is removed. */
async function dockerDriver(fleet: string): Promise<DockerDriver> {
  const driver = new DockerDriver({ engine: new Engine(engineSocket(cfg.DOCKER_HOST)), image: cfg.RUNNER_DOCKER_IMAGE, fleet, log });
  const { removed, staleImage } = await driver.prepare();
  if (removed.length > 0) log.warn({ containers: removed.map((id) => id.slice(0, 12)) }, "removed containers a previous run of this fleet left behind");
  if (staleImage) log.warn({ image: cfg.RUNNER_DOCKER_IMAGE }, "the job image holds another runner-sim/container/main.mjs; rebuild it: docker/images/runner-job/build.sh");
  return driver;
}

async function fleetSpecs(stateDir: string): Promise<RunnerSpec[]> {
  if (cfg.RUNNER_TOKENS) {
    // The operator registered these runners with their labels and capacity: a heartbeat
    // changes them only when this fleet was told to (the defaults would overwrite them).
    const given = {
      ...(input.RUNNER_LABELS !== undefined ? { labels: cfg.RUNNER_LABELS } : {}),
      ...(input.RUNNER_CAPACITY !== undefined ? { capacity: cfg.RUNNER_CAPACITY } : {}),
    };
    return cfg.RUNNER_TOKENS.map((token, i) => ({ ...given, name: `given-${i + 1}`, token }));
  }
  // simEnv refuses a configuration with neither; this narrows the type.
  if (!cfg.RUNNER_REGISTRATION_TOKEN) throw new Error("unreachable: simEnv requires RUNNER_TOKENS or RUNNER_REGISTRATION_TOKEN");
  const base = { labels: cfg.RUNNER_LABELS, capacity: cfg.RUNNER_CAPACITY };
  const specs: RunnerSpec[] = [];
  // The tokens of the last life prove to the API that this fleet is those runners: without
  // one, a runner that still looks live (heartbeat within the window) is not ours to rotate.
  const kept = readRunnerTokens(stateDir);
  for (let i = 1; i <= cfg.RUNNERS; i++) {
    const name = `${cfg.RUNNER_NAME_PREFIX}-${i}`;
    const proof = kept[name] === undefined ? {} : { current_token: kept[name] };
    const reg = await client.register(cfg.RUNNER_REGISTRATION_TOKEN, { name, ...base, ...proof });
    kept[name] = reg.token;
    writeRunnerTokens(stateDir, kept);
    if (reg.ended_jobs.length > 0) log.warn({ runner: name, jobs: reg.ended_jobs }, "ended jobs a previous run of this runner left behind");
    specs.push({ ...base, name, token: reg.token });
  }
  return specs;
}

try {
  const identity = fleetIdentity(cfg.API_URL, cfg.RUNNER_TOKENS ? { kind: "tokens", tokens: cfg.RUNNER_TOKENS } : { kind: "names", prefix: cfg.RUNNER_NAME_PREFIX });
  const stateDir = prepareStateDir(cfg.RUNNER_STATE_DIR ?? path.join(os.tmpdir(), "actions-runner-sim"), identity.dirName);
  const registry = new ContainerRegistry(stateDir, identity.marker);
  // Before registering: a second fleet of this identity would rotate the live one's runners.
  const lock = await lockFleet(stateDir, identity);
  if (!lock.locked) log.warn({ platform: process.platform }, "no single-fleet lock on this platform");
  // From here the fleet holds its lock file: a stop that comes while the runners are still
  // registering must remove it too, so the handlers go in now (docs/decisions.md, "Stopping").
  // Jobs in hand end `cancelled`, reported before the lock and its owner file go; a forced
  // stop still kills the containers and removes every file it would have left.
  let fleet: Fleet | undefined;
  let started: Promise<void> = Promise.resolve();
  let stopping = false;
  onShutdown(
    log,
    [
      ["stop runners and their containers", async () => { stopping = true; await started; await fleet?.stop(); }, 15_000],
      ["release the fleet lock", async () => lock.release(), 1_000],
    ],
    { onForce: () => { fleet?.abandon(); lock.release(); } },
  );
  // After the lock: a sweep by label must never reach a live twin's containers.
  const driver = cfg.RUNNER_DRIVER === "docker" ? await dockerDriver(identity.marker) : undefined;
  const specs = await fleetSpecs(stateDir);
  // Asked to stop while registering: the stop's phases end the process; start nothing.
  if (!stopping) {
    fleet = new Fleet(specs, client, {
      redisUrl: cfg.REDIS_URL,
      queuePrefix: cfg.QUEUE_PREFIX,
      heartbeatMs: cfg.HEARTBEAT_MS,
      graceMs: cfg.CANCEL_GRACE_MS,
      pollMs: cfg.CANCEL_POLL_MS,
      log,
      registry,
      driver,
    });
    log.info({ state_dir: stateDir, driver: cfg.RUNNER_DRIVER }, "fleet state");
    started = fleet.start();
    await started;
  }
} catch (e) {
  // An API or Docker engine that never answered, or a job image that is not there: its one line (infra/deps.ts).
  if (e instanceof DependencyError || e instanceof ConfigError) throw e;
  // A refused SUBSCRIBE (NOPERM) or login is the operator's to fix in REDIS_URL or the ACL: one line.
  const f = classifyRedis(e, cfg.REDIS_URL);
  if (f.kind === "auth" || f.kind === "permission") throw new DependencyError("redis", f, cfg.REDIS_URL);
  log.fatal({ err: (e as Error).message }, "runner-sim could not start");
  process.exit(1);
}
