import { existsSync } from "node:fs";
import http from "node:http";
import { hostname } from "node:os";
import pg from "pg";
import { Redis } from "ioredis";
import type { TestProject } from "vitest/node";
import { migrate } from "../../prisma/migrate.ts";
import { withDatabase } from "../../prisma/engine.ts";

// Integration tests need a real Postgres and Redis. They come from DATABASE_URL and
// REDIS_URL when either is set; with neither set and a Docker engine answering,
// testcontainers starts both (docs/containers.md, "Tests with testcontainers"); with
// neither and no engine, the local defaults. Each test file then clones its own database
// from the template migrated here.

declare module "vitest" {
  export interface ProvidedContext {
    serverUrl: string;
    redisUrl: string;
    templateDb: string;
  }
}

const DEFAULT_DB = "postgresql://postgres@127.0.0.1:5432/postgres";
const DEFAULT_REDIS = "redis://127.0.0.1:6379";
// Every container this setup starts carries these, so a later run can tell a crashed run's
// containers (owner pid gone) from a live parallel run's.
const LABEL = "actions-lifecycle.test";
const DOCKER_PING_MS = 3_000;
const CONTAINER_START_MS = 60_000;
const SETUP_DEADLINE_MS = 90_000;
const STOP_DEADLINE_MS = 20_000;
const HELP = "scripts/docker-engine.sh up, see docs/containers.md";

async function reachable(dbUrl: string, redisUrl: string): Promise<string | null> {
  const c = new pg.Client({ connectionString: dbUrl, connectionTimeoutMillis: 3000 });
  try {
    await c.connect();
    await c.end();
  } catch (e) {
    return `Postgres at ${redact(dbUrl)}: ${(e as Error).message}`;
  }
  const r = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 0, connectTimeout: 3000, retryStrategy: () => null });
  try {
    await r.connect();
    await r.ping();
  } catch (e) {
    return `Redis at ${redisUrl}: ${(e as Error).message}`;
  } finally {
    r.disconnect();
  }
  return null;
}

function redact(u: string): string {
  return u.replace(/\/\/([^:@/]+):[^@/]+@/, "//$1:***@");
}

/** Where the engine listens, as testcontainers would find it first (DOCKER_HOST, else the socket). */
function dockerEndpoint(): http.RequestOptions | null {
  const host = process.env.DOCKER_HOST;
  if (!host) return existsSync("/var/run/docker.sock") ? { socketPath: "/var/run/docker.sock" } : null;
  if (host.startsWith("unix://")) return { socketPath: host.slice("unix://".length) };
  const tcp = /^tcp:\/\/([^:/]+):(\d+)/.exec(host);
  return tcp ? { host: tcp[1], port: Number(tcp[2]) } : null;
}

/** `GET /_ping` with a deadline: a stopped engine's stale socket must not hang the suite. */
function dockerAnswers(): Promise<boolean> {
  const endpoint = dockerEndpoint();
  if (!endpoint) return Promise.resolve(false);
  return new Promise((resolve) => {
    const req = http.get({ ...endpoint, path: "/_ping", timeout: DOCKER_PING_MS }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", () => resolve(false));
  });
}

function withDeadline<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} took longer than ${ms / 1000}s`)), ms);
  });
  return Promise.race([p, deadline]).finally(() => clearTimeout(timer));
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

type Client = Awaited<ReturnType<(typeof import("testcontainers"))["getContainerRuntimeClient"]>>;

/** Removes containers left by earlier runs on this host whose vitest process is gone. */
async function removeStale(client: Client): Promise<void> {
  const docker = client.container.dockerode;
  const found = await docker.listContainers({ all: true, filters: { label: [`${LABEL}=1`] } });
  const me = hostname();
  const stale = found.filter((c) => {
    const pid = Number(c.Labels[`${LABEL}.pid`]);
    return c.Labels[`${LABEL}.host`] === me && pid !== process.pid && !pidAlive(pid);
  });
  await Promise.all(stale.map((c) => docker.getContainer(c.Id).remove({ force: true, v: true })));
  if (stale.length > 0) console.log(`test setup: removed ${stale.length} container(s) of an earlier run that did not stop them`);
}

/** Fails at once when an image is absent: testcontainers would otherwise try a registry. */
async function requireImages(client: Client, names: string[]): Promise<void> {
  const { ImageName } = await import("testcontainers");
  for (const name of names) {
    if (!(await client.image.exists(ImageName.fromString(name)))) {
      throw new Error(`the image ${name} is not present in the Docker engine (tests never pull): build it with scripts/docker-engine.sh images, or load it, or set DATABASE_URL and REDIS_URL`);
    }
  }
}

/** A non-TTY container's log: frames of an 8-byte header (stream, 0, 0, 0, size) and the bytes. */
function demux(buf: Buffer): string {
  const parts: Buffer[] = [];
  for (let at = 0; at + 8 <= buf.length; ) {
    const size = buf.readUInt32BE(at + 4);
    parts.push(buf.subarray(at + 8, at + 8 + size));
    at += 8 + size;
  }
  return Buffer.concat(parts).toString("utf8");
}

/** Rejects as soon as one of this run's containers exits, with its last log line. */
async function watchExits(client: Client, signal: AbortSignal): Promise<never> {
  const docker = client.container.dockerode;
  while (!signal.aborted) {
    const dead = await docker.listContainers({ all: true, filters: { label: [`${LABEL}.pid=${process.pid}`], status: ["exited", "dead"] } });
    const [first] = dead;
    if (first) {
      const logs = demux(await docker.getContainer(first.Id).logs({ stdout: true, stderr: true, tail: 20 }));
      const lines = logs.split("\n").map((l) => l.trim()).filter(Boolean);
      // initdb's "No space left on device" is followed by its clean-up lines: keep the cause.
      const last = lines.filter((l) => /no space left/i.test(l)).pop() ?? lines.pop() ?? "no output";
      throw new Error(`the ${first.Image} container exited at start: ${last}`);
    }
    await new Promise((r) => setTimeout(r, 300));
  }
  return new Promise<never>(() => {});
}

/** One line saying what went wrong with the engine and what to do. */
async function explain(e: Error, images: string[]): Promise<Error> {
  const msg = e.message.split("\n")[0];
  if (/no space left on device/i.test(e.message)) {
    return new Error(`integration tests: the Docker engine is out of disk space (${msg}) — free some (docker system prune) and rerun`);
  }
  if (!(await dockerAnswers())) {
    return new Error(`integration tests: the Docker engine stopped answering while starting ${images.join(" and ")} (${msg}) — start it (${HELP}) and rerun, or set DATABASE_URL and REDIS_URL`);
  }
  return new Error(`integration tests: testcontainers could not start ${images.join(" and ")}: ${msg} — see docs/containers.md, or set DATABASE_URL and REDIS_URL`);
}

async function removeMine(client: Client | null): Promise<void> {
  if (!client) return;
  const docker = client.container.dockerode;
  const mine = await docker.listContainers({ all: true, filters: { label: [`${LABEL}.pid=${process.pid}`] } });
  await Promise.all(mine.map((c) => docker.getContainer(c.Id).remove({ force: true, v: true })));
}

type Started = { dbUrl: string; redisUrl: string; stop: () => Promise<void> };

async function launch(client: Client, pgImage: string, redisImage: string, signal: AbortSignal): Promise<Started> {
  const { PostgreSqlContainer } = await import("@testcontainers/postgresql");
  const { RedisContainer } = await import("@testcontainers/redis");
  await removeStale(client);
  await requireImages(client, [pgImage, redisImage]);
  const labels = { [LABEL]: "1", [`${LABEL}.pid`]: String(process.pid), [`${LABEL}.host`]: hostname() };
  // Throwaway data: durability off makes initdb and the per-file CREATE DATABASE cheaper.
  const pgc = new PostgreSqlContainer(pgImage).withLabels(labels).withStartupTimeout(CONTAINER_START_MS)
    .withEnvironment({ POSTGRES_INITDB_ARGS: "--no-sync" })
    .withCommand(["postgres", "-c", "fsync=off", "-c", "full_page_writes=off"]);
  const rc = new RedisContainer(redisImage).withLabels(labels).withStartupTimeout(CONTAINER_START_MS);
  const [p, r] = await Promise.race([Promise.all([pgc.start(), rc.start()]), watchExits(client, signal)]);
  return {
    dbUrl: p.getConnectionUri(),
    redisUrl: r.getConnectionUrl(),
    stop: () => withDeadline(Promise.all([p.stop(), r.stop()]).then(() => undefined), STOP_DEADLINE_MS, "stopping the test containers"),
  };
}

async function startContainers(): Promise<Started> {
  // Inside a container (this kind of machine has /.dockerenv) testcontainers would dial the
  // bridge's gateway, and Ryuk needs an image no registry here serves.
  if (existsSync("/.dockerenv")) {
    process.env.TESTCONTAINERS_RYUK_DISABLED ??= "true";
    process.env.TESTCONTAINERS_HOST_OVERRIDE ??= "127.0.0.1";
  }
  const pgImage = process.env.TEST_POSTGRES_IMAGE ?? "postgres:15";
  const redisImage = process.env.TEST_REDIS_IMAGE ?? "redis:7";
  const t0 = Date.now();
  const aborter = new AbortController();
  let client: Client | null = null;
  try {
    const { getContainerRuntimeClient } = await import("testcontainers");
    const started = await withDeadline(
      getContainerRuntimeClient().then((c) => launch((client = c), pgImage, redisImage, aborter.signal)),
      SETUP_DEADLINE_MS,
      `starting ${pgImage} and ${redisImage}`,
    );
    console.log(`test setup: ${pgImage} and ${redisImage} started with testcontainers in ${((Date.now() - t0) / 1000).toFixed(1)}s`);
    return started;
  } catch (e) {
    const err = /tests never pull/.test((e as Error).message) ? new Error(`integration tests: ${(e as Error).message}`) : await explain(e as Error, [pgImage, redisImage]);
    await withDeadline(removeMine(client), STOP_DEADLINE_MS, "removing the test containers").catch(() => {});
    throw err;
  } finally {
    aborter.abort();
  }
}

async function chooseServices(): Promise<Started | { dbUrl: string; redisUrl: string; stop: null }> {
  const explicit = process.env.DATABASE_URL !== undefined || process.env.REDIS_URL !== undefined;
  if (!explicit && (await dockerAnswers())) return startContainers();
  const dbUrl = process.env.DATABASE_URL ?? DEFAULT_DB;
  const redisUrl = process.env.REDIS_URL ?? DEFAULT_REDIS;
  const problem = await reachable(withDatabase(dbUrl, "postgres"), redisUrl);
  if (problem) {
    throw new Error(
      `integration tests need Postgres and Redis. ${problem}.\n` +
        (explicit
          ? "Fix DATABASE_URL / REDIS_URL, or start what they name."
          : `Start them (see README, 'Running the tests'), set DATABASE_URL and REDIS_URL, or start a Docker engine so testcontainers can start them (${HELP}).`),
    );
  }
  return { dbUrl, redisUrl, stop: null };
}

export default async function setup(project: TestProject) {
  const { dbUrl, redisUrl, stop } = await chooseServices();
  const templateDb = `actions_tmpl_${process.pid}_${Date.now().toString(36)}`;
  try {
    await migrate(withDatabase(dbUrl, templateDb));
  } catch (e) {
    if (stop) await stop().catch(() => {});
    throw e;
  }
  project.provide("serverUrl", withDatabase(dbUrl, "postgres"));
  project.provide("redisUrl", redisUrl);
  project.provide("templateDb", templateDb);

  return async () => {
    try {
      const c = new pg.Client({ connectionString: withDatabase(dbUrl, "postgres"), connectionTimeoutMillis: 5000 });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(templateDb)} WITH (FORCE)`);
      await c.end();
    } finally {
      if (stop) await stop();
    }
  };
}
