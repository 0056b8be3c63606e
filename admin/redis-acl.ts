import { Redis } from "ioredis";
import { assertNever } from "../infra/assert.ts";
import { commonEnv, parseConfig } from "../infra/config.ts";
import {
  ACL_ROLES, aclUsers, DEFAULT_USER, defaultUserLock, isOpenUser, judgeOpenUsers, loginOf, MIN_PASSWORD_LENGTH,
  type AclProblem, type AclRole, type AclUser, type DefaultLock,
} from "../infra/redis-acl.ts";
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
  /** The role users, then (with --lock-default) the default user's line. */
  users: AclUser[];
  /** Null without --apply. `defaultUser`: what became of Redis' default user. */
  applied: { server: string; saved: boolean; defaultUser: "locked" | "already-closed" } | null;
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
    case "default-login-without-password":
      return "--lock-default needs a password for Redis' default user: put it in REDIS_URL (redis://default:PASSWORD@host, "
        + `${MIN_PASSWORD_LENGTH}+ characters), or name another admin user there, and the default user is switched off (nothing changed)`;
    case "short-admin-password":
      return `REDIS_URL's password becomes the default user's with --lock-default: it must be at least ${MIN_PASSWORD_LENGTH} characters (nothing changed)`;
    case "admin-password-shared":
      return `REDIS_URL's password becomes the default user's with --lock-default: it must differ from ${PASSWORD_ENV[p.with]} (nothing changed)`;
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

export async function redisAcl(opts: { apply: boolean; lockDefault?: boolean }, env: NodeJS.ProcessEnv = process.env): Promise<RedisAclResult> {
  const cfg = parseConfig(commonEnv.pick({ REDIS_URL: true, QUEUE_PREFIX: true, QUEUE_SHARDS: true, REDIS_CLUSTER_NODES: true }), env);
  const passwords = Object.fromEntries(ACL_ROLES.map((r) => [r, env[PASSWORD_ENV[r]]]));
  const plan = aclUsers({ prefix: cfg.QUEUE_PREFIX, passwords, shards: cfg.QUEUE_SHARDS, cluster: cfg.REDIS_CLUSTER_NODES !== undefined });
  if (!plan.ok) throw new AdminError(describeProblem(plan.problem));
  const lock = defaultUserLock(loginOf(cfg.REDIS_URL), passwords);
  if (opts.lockDefault && !lock.ok) throw new AdminError(describeProblem(lock.problem));
  const users = opts.lockDefault && lock.ok ? [...plan.users, lock.user] : plan.users;
  const applied = opts.apply ? await applyUsers(cfg.REDIS_URL, users, opts.lockDefault ? null : lock) : null;
  return { prefix: cfg.QUEUE_PREFIX, users, applied };
}

const setuserLine = (u: AclUser) => `ACL SETUSER ${u.name} ${u.rules.join(" ")}`;

/**
 * The role users protect nothing while `default` is open: a client that sends no AUTH, or
 * a wrong one, is served as `default` with every right (docs/security.md, "Redis roles").
 */
function openDefaultRefusal(server: string, lock: DefaultLock | null): AdminError {
  const fix = lock?.ok
    ? `run again with --lock-default, which applies: ${setuserLine(lock.user)}`
    : "put the password it should get in REDIS_URL (redis://default:PASSWORD@host), or name another admin user there, and run again with --lock-default";
  return new AdminError(`Redis' default user at ${server} is on with no password: any client without AUTH, or with a wrong one, `
    + `gets every right, so the users would separate nothing; ${fix} (nothing changed)`);
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

/** An ACL command on the admin connection; a refusal names the command and says REDIS_URL must be an admin's. */
async function adminCall(redis: Redis, server: string, ...args: [string, ...string[]]): Promise<unknown> {
  return redis.call(...args).catch((e: Error) => {
    const hint = /NOPERM|NOAUTH/.test(e.message) ? "; REDIS_URL must name an admin user" : "";
    // Only SETUSER changes anything, and the users before it may have been set.
    throw new AdminError(`${args.slice(0, 3).join(" ")} failed at ${server}: ${e.message}${hint}${args[1] === "SETUSER" ? "" : " (nothing changed)"}`);
  });
}

/** Another user that is on with `nopass` takes any password: the roles would separate nothing. */
function openOthersRefusal(server: string, users: string[]): AdminError {
  return new AdminError(`Redis user ${users.join(", ")} at ${server} is on with no password (nopass): anyone who names it, with any password, `
    + `gets its rights, so the users would separate nothing; give it a password (ACL SETUSER ${users[0]} resetpass >PASSWORD) or switch it off (ACL SETUSER ${users[0]} off), and run again (nothing changed)`);
}

/** `refuseOpen`: without --lock-default, the lock it would apply, for the refusal's message. */
async function applyUsers(url: string, users: AclUser[], refuseOpen: DefaultLock | null): Promise<NonNullable<RedisAclResult["applied"]>> {
  const server = redactedRedisUrl(url);
  const redis = await connectAdmin(url, server);
  try {
    const version = /^redis_version:(\d+)/m.exec(String(await redis.call("INFO", "server").catch(() => "")))?.[1];
    // Before 7 some rules (ssubscribe, resetchannels) are unknown: refuse before changing anything.
    if (version !== undefined && Number(version) < 7) throw new AdminError(`Redis at ${server} is version ${version}; the ACL roles need Redis 7 or later (nothing changed)`);
    const openUsers = async () => {
      const names = (await adminCall(redis, server, "ACL", "USERS")) as string[];
      const open: string[] = [];
      for (const name of names) if (isOpenUser(await adminCall(redis, server, "ACL", "GETUSER", name))) open.push(name);
      return open;
    };
    const verdict = judgeOpenUsers(await openUsers(), users.map((u) => u.name));
    // With --lock-default `default` is among the users set, so "default-open" means it was not asked for.
    if (!verdict.ok) throw verdict.kind === "others-open" ? openOthersRefusal(server, verdict.users) : openDefaultRefusal(server, refuseOpen);
    for (const u of users) await adminCall(redis, server, "ACL", "SETUSER", u.name, ...u.rules);
    // Read back: a server that kept a user open must not be reported as locked.
    const still = await openUsers();
    if (still.length > 0) throw new AdminError(`the users were set but Redis user ${still.join(", ")} at ${server} is still open; check ACL GETUSER ${still[0]}`);
    // A server without an aclfile keeps the users only until it restarts: say so, do not fail.
    const saved = await redis.call("ACL", "SAVE").then(() => true, (e: Error) => {
      if (/not configured to use an ACL file/i.test(e.message)) return false;
      throw new AdminError(`the users were set but ACL SAVE failed at ${server}: ${e.message}`);
    });
    return { server, saved, defaultUser: refuseOpen ? "already-closed" : "locked" };
  } finally {
    redis.disconnect();
  }
}

/** The human answer: what was applied, or the commands to paste into redis-cli. */
export function sayRedisAcl(r: RedisAclResult): string {
  if (r.applied === null) return r.users.map(setuserLine).join("\n");
  const names = r.users.filter((u) => u.name !== DEFAULT_USER).map((u) => u.name).join(", ");
  const lock = r.users.find((u) => u.name === DEFAULT_USER);
  const persisted = r.applied.saved
    ? "saved to the server's aclfile (ACL SAVE)"
    : "NOT persisted: the server has no aclfile, so a restart loses them (start Redis with aclfile, or CONFIG REWRITE)";
  const def = r.applied.defaultUser === "already-closed" ? "already closed (needs a password or is off)"
    : lock?.rules[0] === "reset" ? "switched off" : "needs REDIS_URL's password now";
  return `set ACL users ${names} for prefix ${r.prefix} on ${r.applied.server}; ${persisted}; default user: ${def}`;
}
