import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { z } from "zod";
import type { Service } from "../scripts/service.ts";
import { migrate } from "../prisma/migrate.ts";
import { withDatabase } from "../prisma/engine.ts";
import { adminCli, type Admin } from "./admin.ts";
import { KitError, shown, startBackends, type Backends } from "./backends.ts";
import { dropDatabase, dropQueueKeys } from "./cleanup.ts";
import { ready, spawn, stopProc, type Proc } from "./processes.ts";

// A test kit for end-to-end tests of code that uses this service (DESIGN.md §13, testing/README.md):
// Postgres and Redis (given, or containers), a fresh migrated database, and api, worker
// and a runner-sim fleet as real processes.

export { AdminCliError, type Admin } from "./admin.ts";
export { KitError } from "./backends.ts";
export type { Service } from "../scripts/service.ts";

/** Polls `probe` until it returns a truthy value (resolved with it), or fails naming `what` after `timeoutMs`. */
export async function waitFor<T>(what: string, probe: () => Promise<T | null | undefined | false> | T | null | undefined | false, timeoutMs = 30_000, everyMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

const env = z.record(z.string(), z.string());

const fleetSchema = z.object({
  /** RUNNERS: simulated runners in the fleet. */
  runners: z.number().int().min(1).max(256).default(2),
  /** RUNNER_CAPACITY: jobs each runner runs at once. */
  capacity: z.number().int().min(1).max(256).default(2),
  /** RUNNER_LABELS (runner-sim's default: ubuntu-latest, linux, x64). */
  labels: z.array(z.string().min(1)).min(1).optional(),
  /** RUNNER_DRIVER: how a job's steps run (runner-sim's default: process). */
  driver: z.enum(["process", "docker"]).optional(),
  /** RUNNER_NAME_PREFIX (default: one of the system's own). */
  namePrefix: z.string().regex(/^[A-Za-z0-9._-]{1,60}$/).optional(),
  /** Further runner-sim settings; the kit's test-speed defaults are HEARTBEAT_MS=100, CANCEL_GRACE_MS=1000. */
  env: env.default({}),
});

const timeoutsSchema = z.object({
  /** Each process's start, to its ready line. */
  startMs: z.number().int().min(100).default(30_000),
  /** Each process's graceful stop, before it is forced. */
  stopMs: z.number().int().min(100).default(20_000),
  /** Starting the Postgres and Redis containers (when the kit starts them). */
  containersMs: z.number().int().min(1000).default(120_000),
  /** One admin CLI command. */
  adminMs: z.number().int().min(100).default(30_000),
});

const optionsSchema = z.object({
  /** A Postgres server (any database of it; the system creates its own). Default: DATABASE_URL, else a container. */
  databaseUrl: z.string().optional(),
  /** Default: REDIS_URL, else a container. */
  redisUrl: z.string().optional(),
  /** The runner-sim fleet started with the system; false: none. */
  fleet: z.union([z.literal(false), fleetSchema]).default(() => fleetSchema.parse({})),
  /** Service settings for api and worker both (infra/config.ts); apiEnv and workerEnv for one. */
  env: env.default({}),
  apiEnv: env.default({}),
  workerEnv: env.default({}),
  /** QUEUE_PREFIX of every process (default: one of the system's own; its keys are deleted at stop). */
  queuePrefix: z.string().regex(/^[A-Za-z0-9_.:{}-]{1,64}$/, "letters, digits, _ . : { } - (no glob characters)").optional(),
  /** The processes' LOG_LEVEL: at least info, as readiness is read from their info lines. */
  logLevel: z.enum(["info", "debug", "trace"]).default("info"),
  /** Relay the processes' output to stderr, each line tagged with the process's name. */
  echo: z.boolean().default(false),
  timeouts: timeoutsSchema.default(() => timeoutsSchema.parse({})),
});

export type SystemOptions = z.input<typeof optionsSchema>;
export type FleetOptions = z.input<typeof fleetSchema>;

export interface System {
  /** The API's base URL, e.g. http://127.0.0.1:41234. */
  apiUrl: string;
  redisUrl: string;
  /** The system's own database (created and migrated by startSystem, dropped by stop). */
  databaseUrl: string;
  queuePrefix: string;
  /** The operator CLI (admin/cli.ts) against this system's database. */
  admin: Admin;
  /** The running processes: their output (`output()`) holds their JSON log lines. */
  processes: { api: Service; worker: Service; fleets: Service[] };
  /** Writes `content` to a file of the system's own (removed at stop) and returns its path: a workflow for `admin("run create", …, "--source", path)`. */
  tempFile(content: string, name?: string): string;
  /** Starts another runner-sim fleet against this API (stopped with the system). */
  startFleet(fleet?: FleetOptions): Promise<Service>;
  /** Stops every process, drops the database and the queue keys, and the containers it started. Idempotent. */
  stop(): Promise<void>;
}

type Parsed = z.output<typeof optionsSchema>;

/** What a partly started system holds, so that a failed start undoes exactly that. */
interface Held {
  id: string;
  backends?: Backends;
  databaseUrl?: string;
  stateDir?: string;
  prefix: string;
  procs: Proc[];
}

export async function startSystem(options: SystemOptions = {}): Promise<System> {
  const o = parse(optionsSchema, options, "options");
  const id = `${Date.now().toString(36)}${randomBytes(3).toString("hex")}`;
  const held: Held = { id, prefix: o.queuePrefix ?? `kit${id}`, procs: [] };
  const stop = once(() => teardown(held, o.timeouts.stopMs));
  try {
    const backends = (held.backends = await startBackends({ databaseUrl: o.databaseUrl, redisUrl: o.redisUrl, containerTimeoutMs: o.timeouts.containersMs }));
    const databaseUrl = (held.databaseUrl = withDatabase(backends.postgresUrl, `kit_${id}`));
    await migrate(databaseUrl).catch((e: Error) => {
      throw new KitError(`startSystem: migrating ${shown(databaseUrl)} failed: ${e.message}`);
    });
    held.stateDir = mkdtempSync(path.join(os.tmpdir(), "actions-kit-"));
    // Secrets of this system alone, handed to its processes in their environment and never printed.
    const secrets = { RUNNER_REGISTRATION_TOKEN: randomBytes(24).toString("hex"), INTENT_SIGNING_KEY: randomBytes(32).toString("hex") };
    const common = { DATABASE_URL: databaseUrl, REDIS_URL: backends.redisUrl, QUEUE_PREFIX: held.prefix, LOG_LEVEL: o.logLevel, ...secrets };
    const core = await startCore(held, o, common);
    const sys = systemOf(held, o, common, core, stop);
    if (o.fleet !== false) await sys.startFleet(o.fleet);
    return sys;
  } catch (e) {
    await stop().catch(() => {});
    throw e;
  }
}

function systemOf(held: Held, o: Parsed, common: Record<string, string>, core: { api: Proc; worker: Proc; apiUrl: string }, stop: () => Promise<void>): System {
  const { databaseUrl, stateDir } = held as Required<Held>;
  const fleets: Service[] = [];
  return {
    apiUrl: core.apiUrl,
    redisUrl: common.REDIS_URL!,
    databaseUrl,
    queuePrefix: held.prefix,
    admin: adminCli({ DATABASE_URL: databaseUrl, REDIS_URL: common.REDIS_URL!, QUEUE_PREFIX: held.prefix, API_URL: core.apiUrl, LOG_LEVEL: "warn" }, o.timeouts.adminMs),
    processes: { api: core.api.service, worker: core.worker.service, fleets },
    tempFile: (content, name = `file-${randomBytes(4).toString("hex")}.yml`) => {
      const file = path.join(stateDir, "files", path.basename(name));
      mkdirSync(path.dirname(file), { recursive: true });
      writeFileSync(file, content);
      return file;
    },
    async startFleet(f = {}) {
      const fleet = parse(fleetSchema, f, "fleet options");
      const n = fleets.length + 1;
      const env = { ...common, ...fleetEnv(fleet, `kit-${held.id}-${n}`), API_URL: core.apiUrl, RUNNER_STATE_DIR: stateDir, LOG_LEVEL: o.logLevel };
      const svc = (await start(held, o, `fleet ${n}`, "runner-sim/main.ts", env)).service;
      fleets.push(svc);
      return svc;
    },
    stop,
  };
}

function parse<S extends z.ZodType>(schema: S, value: unknown, what: string): z.output<S> {
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    throw new KitError(`startSystem: invalid ${what}: ${parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`);
  }
  return parsed.data;
}

async function start(held: Held, o: Parsed, name: string, entry: string, env: Record<string, string>): Promise<Proc> {
  const p = spawn(name, entry, env, o.echo);
  held.procs.push(p);
  await ready(p, o.timeouts.startMs);
  return p;
}

/**
 * The api and the worker, side by side. The api's port is picked here because the worker
 * needs it first, as its PUBLIC_URL (the origin of the URLs in webhook payloads); should
 * another process take the port in between, the pair starts again on another.
 */
async function startCore(held: Held, o: Parsed, common: Record<string, string>): Promise<{ api: Proc; worker: Proc; apiUrl: string }> {
  for (let attempt = 1; ; attempt++) {
    const port = o.apiEnv.PORT ?? o.env.PORT ?? String(await freePort());
    // LOG_LEVEL last: below info the ready lines would never come.
    const apiEnv = { ...common, PORT: port, HOST: "127.0.0.1", ...o.env, ...o.apiEnv, LOG_LEVEL: o.logLevel };
    const workerEnv = { ...common, WORKER_PORT: "0", PUBLIC_URL: `http://127.0.0.1:${port}`, ...o.env, ...o.workerEnv, LOG_LEVEL: o.logLevel };
    const [api, worker] = [spawn("api", "api/server.ts", apiEnv, o.echo), spawn("worker", "worker/main.ts", workerEnv, o.echo)];
    held.procs.push(api, worker);
    const failed = (await Promise.allSettled([ready(api, o.timeouts.startMs), ready(worker, o.timeouts.startMs)])).find((r) => r.status === "rejected");
    if (!failed) return { api, worker, apiUrl: `http://127.0.0.1:${listeningPort(api)}` };
    if (attempt >= 3 || !api.service.output().includes("EADDRINUSE")) throw failed.reason;
    await Promise.all([stopProc(api, o.timeouts.stopMs), stopProc(worker, o.timeouts.stopMs)]);
    held.procs = held.procs.filter((p) => p !== api && p !== worker);
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address() as AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

/** The port in the api's "api listening" line (PORT=0: the kernel picked it). */
function listeningPort(api: Proc): number {
  const line = api.service.output().split("\n").find((l) => l.includes('"msg":"api listening"'));
  const port = (JSON.parse(line ?? "{}") as { port?: unknown }).port;
  if (typeof port !== "number") throw new KitError(`startSystem: the api's "api listening" line names no port: ${line}`);
  return port;
}

function fleetEnv(f: z.output<typeof fleetSchema>, namePrefix: string): Record<string, string> {
  return {
    RUNNERS: String(f.runners),
    RUNNER_CAPACITY: String(f.capacity),
    RUNNER_NAME_PREFIX: f.namePrefix ?? namePrefix,
    ...(f.labels ? { RUNNER_LABELS: f.labels.join(",") } : {}),
    ...(f.driver ? { RUNNER_DRIVER: f.driver } : {}),
    HEARTBEAT_MS: "100",
    CANCEL_GRACE_MS: "1000",
    ...f.env,
  };
}

/** Runs `f` once; later calls get the first call's promise. */
function once(f: () => Promise<void>): () => Promise<void> {
  let p: Promise<void> | undefined;
  return () => (p ??= f());
}

/** Fleets first (their jobs are reported to a live API), then worker and api; then the data. */
async function teardown(held: Held, stopMs: number): Promise<void> {
  const problems: string[] = [];
  const attempt = async (what: string, f: () => Promise<unknown>) => {
    try {
      await f();
    } catch (e) {
      problems.push(`${what}: ${(e as Error).message}`);
    }
  };
  const fleets = held.procs.filter((p) => p.entry === "runner-sim/main.ts");
  const rest = held.procs.filter((p) => !fleets.includes(p));
  await Promise.all(fleets.map((p) => stopProc(p, stopMs)));
  await Promise.all(rest.map((p) => stopProc(p, stopMs)));
  if (held.databaseUrl) await attempt("dropping the database", () => dropDatabase(held.databaseUrl!));
  if (held.backends) await attempt("deleting the queue keys", () => dropQueueKeys(held.backends!.redisUrl, held.prefix));
  if (held.stateDir) rmSync(held.stateDir, { recursive: true, force: true });
  if (held.backends) await attempt("stopping the containers", () => held.backends!.stop());
  if (problems.length > 0) throw new KitError(`stop: ${problems.join("; ")}`);
}
