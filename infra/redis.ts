import { Redis, type RedisOptions } from "ioredis";
import { scrubRedisError } from "./deps.ts";

export { Redis };

/**
 * One connection per role. A producer fails fast so an HTTP request never hangs on a
 * Redis that is away; a worker or subscriber connection blocks and retries forever.
 * "signals" is a runner's subscriber: it sends nothing the runner's Redis user may not
 * run (infra/redis-acl.ts), i.e. no INFO ready check and no CLIENT SETNAME; Redis' CLIENT
 * LIST names its user, which tells an operator what the connection is.
 */
export type RedisRole = "producer" | "worker" | "subscriber" | "publisher" | "signals";

export function connectRedis(url: string, role: RedisRole, name: string = role): Redis {
  const base: RedisOptions = {
    connectionName: name,
    retryStrategy: (times) => Math.min(50 * 2 ** Math.min(times, 6), 2_000),
    lazyConnect: false,
    // CLIENT SETINFO: unknown before Redis 7.2, and no ACL role grants it (ACL LOG noise).
    disableClientInfo: true,
  };
  const byRole: Record<RedisRole, RedisOptions> = {
    producer: { enableOfflineQueue: false, maxRetriesPerRequest: 1, connectTimeout: 2_000 },
    publisher: { enableOfflineQueue: false, maxRetriesPerRequest: 1, connectTimeout: 2_000 },
    worker: { maxRetriesPerRequest: null },
    subscriber: { maxRetriesPerRequest: null },
    signals: { maxRetriesPerRequest: null, enableReadyCheck: false, connectionName: undefined },
  };
  const client = new Redis(url, { ...base, ...byRole[role] });
  // Errors surface through the commands that fail; without a listener ioredis would
  // print every reconnect attempt as an unhandled error event. Being the first listener,
  // this one also blanks the AUTH/HELLO arguments (the password) of a refused login
  // before BullMQ or a logger sees the error (docs/security.md).
  client.on("error", (e) => void scrubRedisError(e));
  return client;
}
