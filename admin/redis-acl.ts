import { Redis } from "ioredis";
import { assertNever } from "../core/assert.ts";
import { commonEnv, parseConfig } from "../core/config.ts";
import { ACL_ROLES, aclUsers, MIN_PASSWORD_LENGTH, type AclProblem, type AclRole, type AclUser } from "../core/redis-acl.ts";
import { AdminError } from "./ops.ts";

// `admin redis-acl`: prints the Redis users of docs/security.md ("Redis roles") and, with --apply, writes
// them to the server of REDIS_URL. Needs no database.

export const PASSWORD_ENV: Record<AclRole, string> = {
  api: "REDIS_ACL_API_PASSWORD",
  worker: "REDIS_ACL_WORKER_PASSWORD",
  runner: "REDIS_ACL_RUNNER_PASSWORD",
};

export interface RedisAclResult {
  prefix: string;
  users: AclUser[];
  /** Null without --apply. */
  applied: { server: string; saved: boolean } | null;
}

export function describeProblem(p: AclProblem): string {
  switch (p.kind) {
    case "bad-prefix":
      return `QUEUE_PREFIX ${JSON.stringify(p.prefix)} cannot be written into ACL rules (no whitespace or control characters)`;
    case "missing-password":
      // A rule with the hash of nothing would be useless: refuse rather than print one.
      return `${PASSWORD_ENV[p.role]} is not set (the ${p.role} user's Redis password)`;
    case "short-password":
      return `${PASSWORD_ENV[p.role]} must be at least ${MIN_PASSWORD_LENGTH} characters (openssl rand -hex 24)`;
    case "shared-password":
      return `${PASSWORD_ENV[p.role]} must differ from ${PASSWORD_ENV[p.with]}`;
    default:
      return assertNever(p, "ACL problem");
  }
}

/** REDIS_URL without its password, for messages. */
export function redactedRedisUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.username ? `${decodeURIComponent(u.username)}@` : ""}${u.host}${u.pathname === "/" ? "" : u.pathname}`;
  } catch {
    return "REDIS_URL";
  }
}

export async function redisAcl(opts: { apply: boolean }, env: NodeJS.ProcessEnv = process.env): Promise<RedisAclResult> {
  const cfg = parseConfig(commonEnv.pick({ REDIS_URL: true, QUEUE_PREFIX: true }), env);
  const passwords = Object.fromEntries(ACL_ROLES.map((r) => [r, env[PASSWORD_ENV[r]]]));
  const plan = aclUsers({ prefix: cfg.QUEUE_PREFIX, passwords });
  if (!plan.ok) throw new AdminError(describeProblem(plan.problem));
  const applied = opts.apply ? await applyUsers(cfg.REDIS_URL, plan.users) : null;
  return { prefix: cfg.QUEUE_PREFIX, users: plan.users, applied };
}

/** Logs in explicitly, so a wrong password is an answer to AUTH rather than a lost event. */
async function connectAdmin(url: string, server: string): Promise<Redis> {
  const u = new URL(url);
  const user = decodeURIComponent(u.username) || "default";
  const password = decodeURIComponent(u.password);
  u.username = "";
  u.password = "";
  let lastError: Error | null = null;
  const redis = new Redis(u.toString(), {
    lazyConnect: true, connectTimeout: 3_000, commandTimeout: 5_000, maxRetriesPerRequest: 0, retryStrategy: () => null,
    enableOfflineQueue: false, enableReadyCheck: false, disableClientInfo: true,
  });
  redis.on("error", (e: Error) => (lastError = e));
  try {
    await redis.connect();
  } catch (e) {
    redis.disconnect();
    const why = (lastError as Error | null)?.message ?? (e as Error).message;
    throw new AdminError(`Redis unreachable at ${server} (REDIS_URL): ${why}; start Redis or point REDIS_URL at it`);
  }
  if (password !== "") {
    await redis.call("AUTH", user, password).catch((e: Error) => {
      redis.disconnect();
      throw new AdminError(`Redis at ${server} refused the login of ${user} (REDIS_URL): ${e.message}`);
    });
  }
  return redis;
}

async function applyUsers(url: string, users: AclUser[]): Promise<{ server: string; saved: boolean }> {
  const server = redactedRedisUrl(url);
  const redis = await connectAdmin(url, server);
  try {
    const version = /^redis_version:(\d+)/m.exec(String(await redis.call("INFO", "server").catch(() => "")))?.[1];
    // Before 7 some rules (ssubscribe, resetchannels) are unknown: refuse before changing anything.
    if (version !== undefined && Number(version) < 7) throw new AdminError(`Redis at ${server} is version ${version}; the ACL roles need Redis 7 or later (nothing changed)`);
    for (const u of users) {
      await redis.call("ACL", "SETUSER", u.name, ...u.rules).catch((e: Error) => {
        throw new AdminError(`ACL SETUSER ${u.name} failed at ${server}: ${e.message}${/NOPERM|NOAUTH/.test(e.message) ? "; REDIS_URL must name an admin user" : ""}`);
      });
    }
    // A server without an aclfile keeps the users only until it restarts: say so, do not fail.
    const saved = await redis.call("ACL", "SAVE").then(() => true, (e: Error) => {
      if (/not configured to use an ACL file/i.test(e.message)) return false;
      throw new AdminError(`the users were set but ACL SAVE failed at ${server}: ${e.message}`);
    });
    return { server, saved };
  } finally {
    redis.disconnect();
  }
}

/** The human answer: what was applied, or the commands to paste into redis-cli. */
export function sayRedisAcl(r: RedisAclResult): string {
  if (r.applied === null) return r.users.map((u) => `ACL SETUSER ${u.name} ${u.rules.join(" ")}`).join("\n");
  const names = r.users.map((u) => u.name).join(", ");
  const persisted = r.applied.saved
    ? "saved to the server's aclfile (ACL SAVE)"
    : "NOT persisted: the server has no aclfile, so a restart loses them (start Redis with aclfile, or CONFIG REWRITE)";
  return `set ACL users ${names} for prefix ${r.prefix} on ${r.applied.server}; ${persisted}`;
}
