import pg from "pg";
import { Redis } from "ioredis";
import { assertNever } from "./assert.ts";
import { ConfigError } from "./config.ts";
import type { Logger } from "./logger.ts";

// Failing clearly (docs/decisions.md, "Failing clearly"): a dependency that is away gets one
// line naming it, where it was looked for, from which variable, and what to do; a bad
// setting gets its message alone. Probes run before any process says it is ready.

/** "api": a runner's one dependency, the service's HTTP API. */
export type Dep = "postgres" | "redis" | "api" | "docker";
const LABEL: Record<Dep, string> = { postgres: "Postgres", redis: "Redis", api: "The API", docker: "The Docker engine" };
const VARIABLE: Record<Dep, string> = { postgres: "DATABASE_URL", redis: "REDIS_URL", api: "API_URL", docker: "DOCKER_HOST" };
const START: Record<Dep, string> = {
  postgres: "start Postgres", redis: "start Redis", api: "start the API (npm run start:api)",
  docker: "start dockerd (scripts/docker-engine.sh), run with RUNNER_DRIVER=process,",
};

/** What went wrong with a dependency, from its driver's error. */
export type Failure =
  | { kind: "unreachable"; detail: string }
  | { kind: "auth"; user: string; detail: string }
  | { kind: "permission"; user: string; detail: string }
  | { kind: "missing_database"; database: string }
  | { kind: "other"; detail: string };

/** The URL without its password or query (either may hold a secret). */
export function redactUrl(raw: string): string {
  try {
    const u = new URL(raw);
    return `${u.protocol}//${u.username ? `${decodeURIComponent(u.username)}@` : ""}${u.host}${u.pathname === "/" ? "" : u.pathname}`;
  } catch {
    return "<unparseable URL>";
  }
}

/** The user a URL logs in as: Redis' `default` when none is named. */
export function urlUser(dep: Dep, raw: string): string {
  try {
    const name = decodeURIComponent(new URL(raw).username);
    return name || (dep === "redis" ? "default" : "postgres");
  } catch {
    return "?";
  }
}

/** The one line for a failure; never a password (the driver's detail never carries one). */
export function formatFailure(dep: Dep, url: string, f: Failure): string {
  const at = `${redactUrl(url)} (${VARIABLE[dep]})`;
  const v = VARIABLE[dep];
  switch (f.kind) {
    case "unreachable":
      return `${LABEL[dep]} is unreachable at ${at}: ${f.detail} — ${START[dep]} or set ${v}`;
    case "auth":
      return `${LABEL[dep]} refused the credentials of user "${f.user}" at ${at}: ${f.detail} — fix the user or password in ${v}`;
    case "permission":
      return `${LABEL[dep]} user "${f.user}" lacks a permission at ${at}: ${f.detail} — grant it (npm run admin -- redis-acl) or use another user in ${v}`;
    case "missing_database":
      return `${LABEL[dep]} has no database "${f.database}" at ${at} — run npm run db:migrate (it creates it) or fix the name in ${v}`;
    case "other":
      return `${LABEL[dep]} at ${at} failed: ${f.detail} — check ${v}`;
    default:
      return assertNever(f, "dependency failure");
  }
}

const NETWORK = /ECONNREFUSED|ECONNRESET|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH|ENOTFOUND|EAI_AGAIN|EPIPE|timeout|timed out|Connection is closed|Connection terminated|connect ETIMEDOUT/i;

interface ErrLike {
  code?: unknown;
  message?: unknown;
  errors?: unknown;
}

/** One line of the driver's message; AggregateError (dual-stack connect) carries its reasons inside. */
export function detailOf(e: unknown): string {
  const err = e as ErrLike | null;
  const msg = typeof err?.message === "string" ? err.message : String(e);
  if (msg.trim() === "" && Array.isArray(err?.errors) && err.errors.length > 0) return detailOf(err.errors[0]);
  if (msg.trim() === "" && typeof err?.code === "string") return err.code;
  return msg.split("\n").filter((l) => l.trim() !== "")[0]?.trim() ?? "unknown error";
}

/** Postgres errors by SQLSTATE (28xxx: credentials; 3D000: no such database). */
export function classifyPg(e: unknown, url: string): Failure {
  const code = (e as ErrLike | null)?.code;
  const detail = detailOf(e);
  if (code === "3D000") return { kind: "missing_database", database: databaseOf(url) };
  if (code === "28P01" || code === "28000") return { kind: "auth", user: urlUser("postgres", url), detail };
  if (code === "42501") return { kind: "permission", user: urlUser("postgres", url), detail };
  if (typeof code === "string" && /^(E[A-Z]+|08\d{3}|57P0[1-3])$/.test(code)) return { kind: "unreachable", detail };
  return NETWORK.test(detail) ? { kind: "unreachable", detail } : { kind: "other", detail };
}

/** Redis errors by reply prefix (WRONGPASS, NOAUTH, NOPERM) or socket code. */
export function classifyRedis(e: unknown, url: string): Failure {
  const detail = detailOf(e);
  if (/^(WRONGPASS|NOAUTH|ERR invalid password|ERR AUTH)/.test(detail)) return { kind: "auth", user: urlUser("redis", url), detail };
  if (/^NOPERM/.test(detail)) return { kind: "permission", user: urlUser("redis", url), detail };
  const code = (e as ErrLike | null)?.code;
  if ((typeof code === "string" && /^E[A-Z]+$/.test(code)) || NETWORK.test(detail)) return { kind: "unreachable", detail };
  return { kind: "other", detail };
}

function databaseOf(url: string): string {
  try {
    return decodeURIComponent(new URL(url).pathname.slice(1)) || "?";
  } catch {
    return "?";
  }
}

/** A dependency a process cannot start without; its message is the whole story. */
export class DependencyError extends Error {
  override name = "DependencyError";
  constructor(readonly dep: Dep, readonly failure: Failure, url: string) {
    super(formatFailure(dep, url, failure));
  }
}

/** Arguments of the commands that carry credentials, replaced in place wherever the error goes next. */
export function scrubRedisError<T>(e: T): T {
  const cmd = (e as { command?: { name?: unknown; args?: unknown } } | null)?.command;
  if (cmd && typeof cmd.name === "string" && /^(auth|hello|migrate|acl)$/i.test(cmd.name) && Array.isArray(cmd.args)) {
    cmd.args = cmd.args.map(() => "***");
  }
  return e;
}

function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let t: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    t = setTimeout(() => reject(new Error(`no answer within ${ms} ms (${what})`)), ms);
  });
  return Promise.race([p, late]).finally(() => clearTimeout(t));
}

/**
 * Connects once and runs SELECT 1; throws DependencyError. `via`: the URL to connect to
 * when it is not `url` itself (the server's own database, for a migrator that creates `url`'s).
 */
export async function probePostgres(url: string, timeoutMs = 3_000, via = url): Promise<void> {
  const client = new pg.Client({ connectionString: via, connectionTimeoutMillis: timeoutMs });
  client.on("error", () => {});
  try {
    await within(client.connect().then(() => client.query("SELECT 1")), timeoutMs + 500, "connect timeout");
  } catch (e) {
    throw new DependencyError("postgres", classifyPg(e, url), url);
  } finally {
    // The verdict is made; a client that fails to close has nothing to add to it.
    void client.end().catch(() => {});
  }
}

/** Connects once (no retries) and sends PING, which every Redis user of the system may; throws DependencyError. */
export async function probeRedis(url: string, timeoutMs = 3_000): Promise<void> {
  const client = new Redis(url, {
    lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0, connectTimeout: timeoutMs,
    enableReadyCheck: false, enableOfflineQueue: false, disableClientInfo: true,
  });
  let first: unknown;
  // The first error names the cause (WRONGPASS); the failed command only says the connection closed.
  const failed = new Promise<never>((_, reject) => client.on("error", (e) => reject((first ??= scrubRedisError(e)))));
  // Raced below; once the race is settled a later error must not become an unhandled rejection.
  failed.catch(() => {});
  try {
    await within(Promise.race([client.connect().then(() => client.ping()), failed]), timeoutMs + 500, "connect timeout");
    // AUTH is answered before PING: a refused AUTH has been reported by now.
    if (first !== undefined) throw first;
  } catch (e) {
    throw new DependencyError("redis", classifyRedis(first ?? scrubRedisError(e), url), url);
  } finally {
    client.disconnect();
  }
}

/** A socket-level failure (the server is away), as opposed to a refusal or a bug. */
export const isConnectionError = (e: unknown): boolean => classifyRedis(e, "").kind === "unreachable";

/** Both dependencies at once, so a start-up waits at most one timeout; the first failure is thrown. */
export async function requireDeps(urls: { postgres?: string; redis?: string }, timeoutMs = 3_000): Promise<void> {
  const checks: Promise<void>[] = [];
  if (urls.postgres !== undefined) checks.push(probePostgres(urls.postgres, timeoutMs));
  if (urls.redis !== undefined) checks.push(probeRedis(urls.redis, timeoutMs));
  const results = await Promise.allSettled(checks);
  for (const r of results) if (r.status === "rejected") throw r.reason;
}

export type Outcome = { code: number; message: string };

/** How an entry point ends on an error: expected failures print their message alone. */
export function outcomeOf(name: string, e: unknown): Outcome {
  if (e instanceof ConfigError) return { code: 2, message: `${name}: ${e.message.replace(/:?\n\s*/g, "; ")}` };
  if (e instanceof DependencyError) return { code: 1, message: `${name}: ${e.message}` };
  // Not an expected failure: a bug, whose stack is what its reader needs.
  const stack = (scrubRedisError(e) as Error | null)?.stack;
  return { code: 1, message: `${name} failed: ${detailOf(e)}${stack ? `\n${stack}` : ""}` };
}

/**
 * Installs, first thing in an entry point, the handler that turns a thrown ConfigError or
 * DependencyError (top-level await included) into its one line and an exit status.
 */
export function failClearly(name: string): void {
  // A broken stderr (its reader is gone) must not become one more uncaught error, and a
  // failure while exiting must not start the exit again.
  process.stderr.on("error", () => {});
  let ending = false;
  const end = (e: unknown) => {
    if (ending) return;
    ending = true;
    const { code, message } = outcomeOf(name, e);
    try {
      process.stderr.write(`${message}\n`);
    } catch {
      // nowhere left to say it
    }
    process.exit(code);
  };
  process.on("uncaughtException", end);
  process.on("unhandledRejection", end);
}
