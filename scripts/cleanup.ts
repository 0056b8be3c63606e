import { Redis } from "ioredis";

/**
 * Deletes every key under a queue prefix. Benchmarks and chaos runs use a prefix of their
 * own on the shared Redis, and finished intents are kept by count: without this each run
 * would leave tens of MB behind.
 */
export async function dropQueueKeys(redisUrl: string, prefix: string): Promise<void> {
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: 1, lazyConnect: true, retryStrategy: () => null });
  try {
    await redis.connect();
    for await (const keys of redis.scanStream({ match: `${prefix}:*`, count: 1000 }) as AsyncIterable<string[]>) {
      if (keys.length > 0) await redis.unlink(...keys);
    }
  } finally {
    redis.disconnect();
  }
}
