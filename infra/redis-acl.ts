import { DELIVERY_QUEUE, MAINTENANCE_QUEUE, QUEUE_NAME } from "../domain/contracts.ts";
import { sha256 } from "../domain/tokens.ts";
import { shardPrefixPattern } from "../domain/queue-shards.ts";
import { RUNNER_SEEN_FAMILY } from "../domain/runner-seen.ts";

// The three Redis users of docs/security.md ("Redis roles"), as ACL SETUSER arguments. Everything a user may
// do is listed here, and nothing else: a process handed the runner's URL can subscribe to
// the signal channels and that is all. test/redis-acl.test.ts runs every code path of the
// api and worker against these rules and reads ACL LOG; infra/redis-acl.test.ts checks
// the script command list against the Lua scripts of the installed BullMQ.

export const ACL_ROLES = ["api", "worker", "runner"] as const;
export type AclRole = (typeof ACL_ROLES)[number];

export const ACL_USER: Record<AclRole, string> = { api: "actions-api", worker: "actions-worker", runner: "actions-runner" };

/** The api's rate limiter keys: `<prefix>:rl:token:…`, `<prefix>:rl:ip:…` (api/server.ts). */
export const RATE_LIMIT_FAMILY = "rl";

export const MIN_PASSWORD_LENGTH = 16;

/**
 * Every command BullMQ's Lua scripts call (Redis 7 checks the commands a script runs, and
 * their keys, against the caller's ACL). Also what BullMQ, Bull Board and the rate limiter
 * send directly: they read and write the same kinds of keys.
 */
const SCRIPT_COMMANDS = [
  "del", "exists", "get", "incr", "incrby", "persist", "pexpire", "pexpireat", "pttl", "rename", "set", "time", "type", "unlink",
  "hdel", "hexists", "hget", "hgetall", "hincrby", "hlen", "hmget", "hmset", "hscan", "hset",
  "lindex", "llen", "lpop", "lpos", "lpush", "lrange", "lrem", "lset", "ltrim", "rpop", "rpoplpush", "rpush",
  "sadd", "scard", "sismember", "smembers", "srem", "sscan",
  "zadd", "zcard", "zcount", "zlexcount", "zpopmin", "zrange", "zrangebylex", "zrangebyscore", "zrem",
  "zremrangebyrank", "zremrangebyscore", "zrevrange", "zrevrangebyscore", "zscore",
  "xadd", "xdel", "xlen", "xrange", "xread", "xtrim",
] as const;

/**
 * What a BullMQ client needs besides the data commands. Two of them are outside the
 * data categories and are granted on purpose:
 * - `info` (@dangerous): ioredis' ready check sends it on every connect, and BullMQ reads
 *   redis_version and maxmemory_policy from it before it uses a connection.
 * - `client|setname` (@slow @connection, own connection only): BullMQ names a worker's
 *   connection and fails when it may not; ioredis sends it for `connectionName`.
 * Not granted: `client|list` (every connection on the server, other tenants included).
 * Bull Board's workers panel uses it and shows nothing without it.
 */
const QUEUE_CLIENT = ["evalsha", "eval", "multi", "exec", "ping", "info", "client|setname"] as const;

/** The runner: subscribe and ping (the rest of what ioredis sends is turned off by the "signals" role in infra/redis.ts). */
const RUNNER = ["subscribe", "unsubscribe", "ssubscribe", "sunsubscribe", "ping"] as const;

export interface AclUser {
  name: string;
  /** ACL SETUSER arguments, in order; `reset` first, so applying them twice gives the same user. */
  rules: string[];
}

export type AclProblem =
  | { kind: "bad-prefix"; prefix: string }
  | { kind: "missing-password"; role: AclRole }
  | { kind: "short-password"; role: AclRole }
  | { kind: "shared-password"; role: AclRole; with: AclRole }
  /** --lock-default as `default` without a password: there is no password to give it. */
  | { kind: "default-login-without-password" }
  | { kind: "short-admin-password" }
  | { kind: "admin-password-shared"; with: AclRole };

export type AclPlan = { ok: true; users: AclUser[] } | { ok: false; problem: AclProblem };

/** ACL patterns are globs: a prefix's own `*?[]\` must match only themselves. */
export function globEscape(s: string): string {
  return s.replace(/[*?[\]\\]/g, (c) => `\\${c}`);
}

/** Redis stores only the SHA-256 of a password; the rules carry the hash, never the password. */
function passwordRule(password: string): string {
  return `#${sha256(password)}`;
}

function checkPasswords(passwords: Partial<Record<AclRole, string>>): AclProblem | null {
  for (const [i, role] of ACL_ROLES.entries()) {
    const pw = passwords[role];
    if (pw === undefined || pw === "") return { kind: "missing-password", role };
    if (pw.length < MIN_PASSWORD_LENGTH) return { kind: "short-password", role };
    // A runner host must not learn the worker's password from its own.
    const earlier = ACL_ROLES.slice(0, i).find((r) => passwords[r] === pw);
    if (earlier) return { kind: "shared-password", role, with: earlier };
  }
  return null;
}

export interface AclInput {
  prefix: string;
  passwords: Partial<Record<AclRole, string>>;
  /** QUEUE_SHARDS: with more than one, the shard queues' keys (`{<prefix>-<n>}:…`, domain/queue-shards.ts) too. */
  shards?: number;
  /** REDIS_CLUSTER_NODES is set: what a cluster client needs besides (clusterRules). */
  cluster?: boolean;
}

export function aclUsers(input: AclInput): AclPlan {
  const plan = singleAclUsers(input);
  return plan.ok ? { ok: true, users: plan.users.map((u) => ({ name: u.name, rules: clusterRules(u, input) })) } : plan;
}

/**
 * What shards and a cluster add (docs/scaling.md, "Redis Cluster and shards"): the shard
 * queues' keys for api and worker; CLUSTER SLOTS, which ioredis reads on every connection;
 * CLUSTER INFO, its ready check (not a runner's: its connection skips it); SPUBLISH for the
 * worker's cancel signals. A runner still cannot read or write any key or publish.
 */
/**
 * Every cluster client's: the slot map, and READONLY/READWRITE, which ioredis sends on its
 * connections to replicas and to a replica promoted to master (connection state, no data).
 */
const CLUSTER_CONNECTION = ["+cluster|slots", "+readonly", "+readwrite"];

function clusterRules(u: AclUser, input: AclInput): string[] {
  const rules = [...u.rules];
  const p = globEscape(input.prefix);
  const intents = rules.indexOf(`~${p}:${globEscape(QUEUE_NAME)}:*`);
  if ((input.shards ?? 1) > 1 && intents >= 0) rules.splice(intents + 1, 0, `~${shardPrefixPattern(input.prefix, globEscape)}:${globEscape(QUEUE_NAME)}:*`);
  if (input.cluster !== true) return rules;
  // ioredis names its cluster subscriber connections itself (CLIENT SETNAME, own connection only).
  if (u.name === ACL_USER.runner) return [...rules, ...CLUSTER_CONNECTION, "+client|setname"];
  return [...rules, ...(u.name === ACL_USER.worker ? ["+spublish"] : []), ...CLUSTER_CONNECTION, "+cluster|info"];
}

function singleAclUsers(input: AclInput): AclPlan {
  // Whitespace would split an aclfile line; control characters have no place in a key name.
  if (input.prefix === "" || /[\s\p{Cc}]/u.test(input.prefix)) return { ok: false, problem: { kind: "bad-prefix", prefix: input.prefix } };
  const problem = checkPasswords(input.passwords);
  if (problem) return { ok: false, problem };
  const p = globEscape(input.prefix);
  const queues = [QUEUE_NAME, MAINTENANCE_QUEUE, DELIVERY_QUEUE].map((q) => `~${p}:${globEscape(q)}:*`);
  // `reset` leaves every channel open when acl-pubsub-default is allchannels: close them again.
  const start = (role: AclRole) => ["reset", "resetchannels", "on", passwordRule(input.passwords[role]!)];
  const grant = (cmds: readonly string[]) => cmds.map((c) => `+${c}`);
  const signals = `&${p}:signals:*`;
  // The dispatcher's hint that events were dispatched: workers publish it, the API's stream hub listens.
  const events = `&${p}:events`;
  // Runners' last-seen (RUNNER_SEEN_WRITE_MS): the API writes it, the reaper only reads it.
  const seen = `${p}:${RUNNER_SEEN_FAMILY}:*`;
  return {
    ok: true,
    users: [
      { name: ACL_USER.api, rules: [...start("api"), ...queues, `~${p}:${RATE_LIMIT_FAMILY}:*`, `~${seen}`, events, ...grant(SCRIPT_COMMANDS), ...grant(QUEUE_CLIENT), "+subscribe", "+unsubscribe"] },
      // bzpopmin: a Worker waits for jobs on the queue's marker key; publish: cancel signals.
      { name: ACL_USER.worker, rules: [...start("worker"), ...queues, `%R~${seen}`, signals, events, ...grant(SCRIPT_COMMANDS), ...grant(QUEUE_CLIENT), "+bzpopmin", "+publish"] },
      { name: ACL_USER.runner, rules: [...start("runner"), signals, ...grant(RUNNER)] },
    ],
  };
}

export const SCRIPT_COMMAND_LIST: readonly string[] = SCRIPT_COMMANDS;

/** `url` with the user and password of `role` in it (the URL a process of that role is given). */
export function urlForUser(url: string, user: string, password: string): string {
  const u = new URL(url);
  u.username = encodeURIComponent(user);
  u.password = encodeURIComponent(password);
  return u.toString();
}

/** Redis' own user: a client that sends no AUTH, or AUTH with a password alone, is it. */
export const DEFAULT_USER = "default";

/** Who a Redis URL logs in as: without a password nothing is sent, so it is `default`. */
export function loginOf(url: string): { user: string; password: string } {
  const u = new URL(url);
  const password = decodeURIComponent(u.password);
  return { user: password === "" ? DEFAULT_USER : decodeURIComponent(u.username) || DEFAULT_USER, password };
}

export type DefaultLock = { ok: true; user: AclUser } | { ok: false; problem: AclProblem };

/**
 * How `--lock-default` closes the default user (docs/security.md, "Redis roles"), decided by
 * the login it applies with, so that login still works afterwards:
 * - another admin user: `default` is switched off, with no password and no rights;
 * - `default` itself, with a password: it keeps its rights but needs that password (only
 *   its hash in the rule), so a client without AUTH, or with a wrong one, gets nothing;
 * - `default` without a password: there is nothing to give it, refused.
 */
export function defaultUserLock(login: { user: string; password: string }, passwords: Partial<Record<AclRole, string>>): DefaultLock {
  if (login.user !== DEFAULT_USER) return { ok: true, user: { name: DEFAULT_USER, rules: ["reset", "resetchannels"] } };
  if (login.password === "") return { ok: false, problem: { kind: "default-login-without-password" } };
  if (login.password.length < MIN_PASSWORD_LENGTH) return { ok: false, problem: { kind: "short-admin-password" } };
  // A runner host knowing its own password must not be able to log in as the admin with it.
  const shared = ACL_ROLES.find((r) => passwords[r] === login.password);
  if (shared) return { ok: false, problem: { kind: "admin-password-shared", with: shared } };
  return { ok: true, user: { name: DEFAULT_USER, rules: ["on", "resetpass", passwordRule(login.password)] } };
}

/**
 * Whether a user, as `ACL GETUSER` answers (flat name/value pairs), lets anyone in: switched
 * on and `nopass`, so any password, or none, logs in as it.
 */
export function isOpenUser(getuser: unknown): boolean {
  if (!Array.isArray(getuser)) return false;
  const i = getuser.findIndex((x, n) => n % 2 === 0 && String(x) === "flags");
  const flags = i >= 0 && Array.isArray(getuser[i + 1]) ? (getuser[i + 1] as unknown[]).map(String) : [];
  return flags.includes("on") && flags.includes("nopass");
}

export type OpenUsersVerdict = { ok: true } | { ok: false; kind: "default-open" } | { ok: false; kind: "others-open"; users: string[] };

/**
 * Whether `--apply` may go on, given the users that are open now (on and nopass): one it is
 * not about to set lets in anyone who knows its name — `default` needs no name at all — so
 * the role users would separate nothing (docs/security.md, "Redis roles").
 */
export function judgeOpenUsers(open: readonly string[], setting: readonly string[]): OpenUsersVerdict {
  const left = open.filter((u) => !setting.includes(u));
  const others = left.filter((u) => u !== DEFAULT_USER);
  if (others.length > 0) return { ok: false, kind: "others-open", users: others };
  return left.length > 0 ? { ok: false, kind: "default-open" } : { ok: true };
}
