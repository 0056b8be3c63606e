import { Cluster, Redis as Single, type ClusterOptions, type RedisOptions } from "ioredis";
import { scrubRedisError } from "./deps.ts";
import type { ClusterNode } from "./redis-nodes.ts";

export { parseClusterNodes, type ClusterNode } from "./redis-nodes.ts";

/** A single Redis or a Redis Cluster: every command the service sends works on both. */
export type Redis = Single | Cluster;
/** The single-Redis client class, for code that connects to one server on purpose (tests, admin). */
export const Redis = Single;
export { Cluster, Single };

/**
 * One connection per role. A producer fails fast so an HTTP request never hangs on a
 * Redis that is away; a worker or subscriber connection blocks and retries forever.
 * "signals" is a runner's subscriber: it sends nothing the runner's Redis user may not
 * run (infra/redis-acl.ts), i.e. no INFO ready check and no CLIENT SETNAME; Redis' CLIENT
 * LIST names its user, which tells an operator what the connection is.
 */
export type RedisRole = "producer" | "worker" | "subscriber" | "publisher" | "signals";

// Set once at start-up from REDIS_CLUSTER_NODES (useRedisCluster): every connection of the
// process then goes to the cluster, so no call site has to carry the node list.
let clusterNodes: readonly ClusterNode[] | null = null;

/** Makes every later connectRedis a Cluster (nodes given) or a single Redis (none). */
export function useRedisCluster(nodes: readonly ClusterNode[] | undefined | null): void {
  clusterNodes = nodes && nodes.length > 0 ? nodes : null;
}

export function onCluster(): boolean {
  return clusterNodes !== null;
}

export function isCluster(c: Redis): c is Cluster {
  return c instanceof Cluster;
}

/**
 * The URL a start-up probe (infra/deps.ts requireDeps) should try: on a cluster the role's
 * login at the first node, since REDIS_URL's host is not used there.
 */
export function probeUrl(url: string): string {
  if (!clusterNodes) return url;
  const u = new URL(url);
  u.hostname = clusterNodes[0]!.host.includes(":") ? `[${clusterNodes[0]!.host}]` : clusterNodes[0]!.host;
  u.port = String(clusterNodes[0]!.port);
  u.pathname = "";
  return u.toString();
}

const BY_ROLE: Record<RedisRole, RedisOptions> = {
  producer: { enableOfflineQueue: false, maxRetriesPerRequest: 1, connectTimeout: 2_000 },
  publisher: { enableOfflineQueue: false, maxRetriesPerRequest: 1, connectTimeout: 2_000 },
  worker: { maxRetriesPerRequest: null },
  subscriber: { maxRetriesPerRequest: null },
  signals: { maxRetriesPerRequest: null, enableReadyCheck: false, connectionName: undefined },
};

const retryStrategy = (times: number) => Math.min(50 * 2 ** Math.min(times, 6), 2_000);

export function connectRedis(url: string, role: RedisRole, name: string = role): Redis {
  const base: RedisOptions = {
    connectionName: name,
    retryStrategy,
    lazyConnect: false,
    // CLIENT SETINFO: unknown before Redis 7.2, and no ACL role grants it (ACL LOG noise).
    disableClientInfo: true,
  };
  const opts = { ...base, ...BY_ROLE[role] };
  const client = clusterNodes ? connectCluster(url, role, opts) : new Single(url, opts);
  // Errors surface through the commands that fail; without a listener ioredis would
  // print every reconnect attempt as an unhandled error event. Being the first listener,
  // this one also blanks the AUTH/HELLO arguments (the password) of a refused login
  // before BullMQ or a logger sees the error (docs/security.md).
  client.on("error", (e) => void scrubRedisError(e));
  if (isCluster(client)) client.on("node error", (e) => void scrubRedisError(e));
  return client;
}

/**
 * The same role on a cluster. ioredis splits the options: what governs the whole client
 * (offline queue, ready check, retries) is a Cluster option, what each node connection
 * needs (login, name, per-request retries, timeouts) goes to every node. The login is the
 * role URL's; its host is not used, the nodes come from REDIS_CLUSTER_NODES.
 */
function connectCluster(url: string, role: RedisRole, opts: RedisOptions): Cluster {
  const u = new URL(url);
  const { enableOfflineQueue, enableReadyCheck, retryStrategy: retry, lazyConnect, ...perNode } = opts;
  const cluster: ClusterOptions = {
    enableOfflineQueue: enableOfflineQueue ?? true,
    // The cluster's ready check is CLUSTER INFO; a runner's user may run only CLUSTER SLOTS.
    enableReadyCheck: enableReadyCheck ?? true,
    clusterRetryStrategy: retry ?? null,
    lazyConnect: lazyConnect ?? false,
    // SSUBSCRIBE must reach the master that owns the channel's slot, and follow it on failover.
    shardedSubscribers: role === "signals",
    redisOptions: {
      ...perNode,
      // A node connection's own INFO check would need a right the runner's user lacks.
      enableReadyCheck: role !== "signals",
      username: u.username ? decodeURIComponent(u.username) : undefined,
      password: u.password ? decodeURIComponent(u.password) : undefined,
      tls: u.protocol === "rediss:" ? {} : undefined,
    },
  };
  return new Cluster(clusterNodes!.map((n) => ({ ...n })), cluster);
}

/** A second connection like `c` (same role, same cluster), with the same error scrubbing. */
export function duplicateRedis(c: Redis): Redis {
  const d = c.duplicate();
  d.on("error", (e: Error) => void scrubRedisError(e));
  return d;
}

/**
 * Publishes a cancel signal: SPUBLISH on a cluster (delivered by the channel's shard only,
 * not broadcast over the whole cluster bus), PUBLISH on a single Redis.
 */
export function publishSignal(c: Redis, channel: string, message: string): Promise<number> {
  return (isCluster(c) ? c.spublish(channel, message) : c.publish(channel, message)) as Promise<number>;
}

/**
 * Calls `f` whenever the signal subscription is back after a loss: a single Redis' `ready`
 * (ioredis resubscribes before it), a cluster's `subscribersReady` (its sharded subscribers
 * resubscribed on the channel's new master after a failover; the cluster client's own
 * `ready` does not come then). Also called once for the first subscription.
 */
export function onSignalsResubscribed(c: Redis, f: () => void): void {
  if (isCluster(c)) c.on("subscribersReady", f);
  else c.on("ready", f);
}

/**
 * Subscribes to a cancel-signal channel the way publishSignal sends: SSUBSCRIBE and
 * `smessage` on a cluster, SUBSCRIBE and `message` on a single Redis.
 */
export async function subscribeSignals(c: Redis, channel: string, onMessage: (message: string) => void): Promise<void> {
  if (isCluster(c)) {
    c.on("smessage", (ch: string, m: string) => ch === channel && onMessage(m));
    await c.ssubscribe(channel);
  } else {
    c.on("message", (ch: string, m: string) => ch === channel && onMessage(m));
    await c.subscribe(channel);
  }
}
