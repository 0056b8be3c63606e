import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { promisify } from "node:util";
import { probePostgres, probeRedis, redactUrl } from "../infra/deps.ts";
import { withDatabase } from "../prisma/engine.ts";

// Where a system's Postgres and Redis come from: the URLs it was given (options, then
// DATABASE_URL / REDIS_URL), or else containers of its own started with testcontainers
// from images that are already present. The kit never pulls: on a machine without a
// registry a pull only sends a DNS query out of it (DESIGN.md §13).

export interface Backends {
  /** A URL of the Postgres server (its database part is replaced by the system's own). */
  postgresUrl: string;
  redisUrl: string;
  /** Which of the two run in containers this system started. */
  started: ("postgres" | "redis")[];
  stop(): Promise<void>;
}

export interface BackendOptions {
  databaseUrl?: string;
  redisUrl?: string;
  containerTimeoutMs: number;
}

/** Labels on the kit's containers: a later start removes those whose test process died. */
const LABEL = "actions-lifecycle.testing-kit";
const LABEL_PID = `${LABEL}.pid`;

const run = promisify(execFile);

export class KitError extends Error {
  override name = "KitError";
}

export async function startBackends(o: BackendOptions): Promise<Backends> {
  const pgGiven = o.databaseUrl ?? nonEmpty(process.env.DATABASE_URL);
  const redisGiven = o.redisUrl ?? nonEmpty(process.env.REDIS_URL);
  // A given URL that does not answer is the user's to fix: never hidden behind a container.
  await Promise.all([
    pgGiven === undefined ? undefined : probe(() => probePostgres(pgGiven, 3_000, withDatabase(pgGiven, "postgres"))),
    redisGiven === undefined ? undefined : probe(() => probeRedis(redisGiven)),
  ]);
  if (pgGiven !== undefined && redisGiven !== undefined) {
    return { postgresUrl: pgGiven, redisUrl: redisGiven, started: [], stop: async () => {} };
  }
  const containers = await startContainers({ postgres: pgGiven === undefined, redis: redisGiven === undefined }, o.containerTimeoutMs);
  return {
    postgresUrl: pgGiven ?? containers.postgresUrl!,
    redisUrl: redisGiven ?? containers.redisUrl!,
    started: containers.started,
    stop: containers.stop,
  };
}

const nonEmpty = (v: string | undefined) => (v === undefined || v === "" ? undefined : v);

async function probe(p: () => Promise<void>): Promise<void> {
  try {
    await p();
  } catch (e) {
    throw new KitError(`startSystem: ${(e as Error).message}`);
  }
}

interface Started {
  postgresUrl?: string;
  redisUrl?: string;
  started: ("postgres" | "redis")[];
  stop(): Promise<void>;
}

/** Inside a container (this machine has /.dockerenv) testcontainers would dial the bridge's gateway. */
function containerDefaults(): void {
  if (!existsSync("/.dockerenv")) return;
  process.env.TESTCONTAINERS_RYUK_DISABLED ??= "true";
  process.env.TESTCONTAINERS_HOST_OVERRIDE ??= "127.0.0.1";
}

async function startContainers(need: { postgres: boolean; redis: boolean }, timeoutMs: number): Promise<Started> {
  containerDefaults();
  const pgImage = process.env.TEST_POSTGRES_IMAGE || "postgres:15";
  const redisImage = process.env.TEST_REDIS_IMAGE || "redis:7";
  const { getContainerRuntimeClient, ImageName } = await import("testcontainers");
  const client = await getContainerRuntimeClient().catch((e: Error) => {
    const missing = [need.postgres ? "DATABASE_URL" : "", need.redis ? "REDIS_URL" : ""].filter(Boolean).join(" and ");
    throw new KitError(`startSystem: ${missing} not set and no Docker engine answers for testcontainers (${e.message.split("\n")[0]}) — set ${missing}, or start Docker`);
  });
  for (const [wanted, image, variable] of [[need.postgres, pgImage, "TEST_POSTGRES_IMAGE"], [need.redis, redisImage, "TEST_REDIS_IMAGE"]] as const) {
    if (wanted && !(await client.image.exists(ImageName.fromString(image)))) {
      throw new KitError(`startSystem: image ${image} is not present in the local Docker engine and the kit never pulls — build or load it, or name another with ${variable}`);
    }
  }
  await removeOrphans();
  const labels = { [LABEL]: "1", [LABEL_PID]: String(process.pid) };
  const { PostgreSqlContainer } = await import("@testcontainers/postgresql");
  const { RedisContainer } = await import("@testcontainers/redis");
  const [pgc, rc] = await Promise.allSettled([
    need.postgres ? new PostgreSqlContainer(pgImage).withPassword(randomBytes(12).toString("hex")).withLabels(labels).withStartupTimeout(timeoutMs).start() : undefined,
    need.redis ? new RedisContainer(redisImage).withLabels(labels).withStartupTimeout(timeoutMs).start() : undefined,
  ]);
  const up = [pgc, rc].flatMap((r) => (r.status === "fulfilled" && r.value ? [r.value] : []));
  const stop = async () => {
    await Promise.all(up.map((c) => c.stop({ remove: true, removeVolumes: true })));
  };
  const failed = [pgc, rc].find((r) => r.status === "rejected");
  if (failed) {
    await stop();
    const which = failed === pgc ? `Postgres (${pgImage})` : `Redis (${redisImage})`;
    throw new KitError(`startSystem: the ${which} container did not start: ${String((failed as PromiseRejectedResult).reason?.message ?? failed.reason)}`);
  }
  const pgStarted = pgc.status === "fulfilled" ? pgc.value : undefined;
  const redisStarted = rc.status === "fulfilled" ? rc.value : undefined;
  return {
    ...(pgStarted ? { postgresUrl: pgStarted.getConnectionUri() } : {}),
    ...(redisStarted ? { redisUrl: redisStarted.getConnectionUrl() } : {}),
    started: [...(pgStarted ? ["postgres" as const] : []), ...(redisStarted ? ["redis" as const] : [])],
    stop,
  };
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
};

/**
 * Without Ryuk nothing removes the containers of a test process that crashed; this start
 * does, by label. Best effort: without the docker CLI the containers stay until a cleanup.
 */
async function removeOrphans(): Promise<void> {
  let out: string;
  try {
    ({ stdout: out } = await run("docker", ["ps", "-a", "--filter", `label=${LABEL}`, "--format", `{{.ID}} {{.Label "${LABEL_PID}"}}`], { timeout: 10_000 }));
  } catch {
    return;
  }
  const dead = out.split("\n").map((l) => l.trim().split(" ")).filter(([id, pid]) => id && pid && !alive(Number(pid))).map(([id]) => id!);
  if (dead.length > 0) await run("docker", ["rm", "-f", "-v", ...dead], { timeout: 30_000 }).catch(() => {});
}

/** The URL as it may be shown: no password. */
export const shown = redactUrl;
