import type { Response } from "express";
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes } from "rate-limiter-flexible";
import type { Redis } from "../infra/redis.ts";
import { HttpError } from "./errors.ts";

export interface Limiter {
  /** Spends one request of `key`'s hourly budget, sets the X-RateLimit headers, throws 429 when spent. */
  consume(key: string, res: Response): Promise<void>;
  /** Throws 429 (with headers) if `key` has nothing left, without spending. */
  check(key: string, res: Response): Promise<void>;
}

function setHeaders(res: Response, limit: number, r: RateLimiterRes) {
  res.set({
    "X-RateLimit-Limit": String(limit),
    "X-RateLimit-Remaining": String(Math.max(0, r.remainingPoints)),
    "X-RateLimit-Reset": String(Math.ceil((Date.now() + r.msBeforeNext) / 1000)),
  });
}

function tooMany(r: RateLimiterRes): HttpError {
  return new HttpError(429, "rate limit exceeded", { "Retry-After": String(Math.max(1, Math.ceil(r.msBeforeNext / 1000))) });
}

/**
 * An hourly budget kept in Redis so every API process shares it. While Redis is away an
 * in-process limiter stands in, so reads keep working and limits still hold per process.
 */
export function createLimiter(redis: Redis, keyPrefix: string, pointsPerHour: number): Limiter {
  const opts = { points: pointsPerHour, duration: 3600, keyPrefix };
  const limiter = new RateLimiterRedis({
    ...opts,
    storeClient: redis,
    insuranceLimiter: new RateLimiterMemory(opts),
  });
  return {
    async consume(key, res) {
      try {
        setHeaders(res, pointsPerHour, await limiter.consume(key));
      } catch (e) {
        if (!(e instanceof RateLimiterRes)) throw e;
        setHeaders(res, pointsPerHour, e);
        throw tooMany(e);
      }
    },
    async check(key, res) {
      const r = await limiter.get(key).catch(() => null);
      if (r && r.remainingPoints <= 0) {
        setHeaders(res, pointsPerHour, r);
        throw tooMany(r);
      }
    },
  };
}
