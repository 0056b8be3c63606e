// Where a runner's last heartbeat is kept between the writes to its row (RUNNER_SEEN_WRITE_MS;
// docs/scaling.md, "Runner long-polling"): written by the API, read by the reaper.
/** RUNNER_SEEN_WRITE_MS's family of Redis keys: a runner's last heartbeat, ms since the epoch, with the heartbeat window as TTL. */
export const RUNNER_SEEN_FAMILY = "runner-seen";
export const runnerSeenKey = (prefix: string, runnerId: bigint | number | string) => `${prefix}:${RUNNER_SEEN_FAMILY}:${runnerId}`;

/** The reaper's reader of those keys (domain/data/reaper.ts SeenReader); a Redis that fails to answer counts as saying nothing. */
export function runnerSeenReader(redis: { get(key: string): Promise<string | null> }, prefix: string): (runnerId: bigint) => Promise<number | null> {
  return async (runnerId) => {
    const v = await redis.get(runnerSeenKey(prefix, runnerId)).catch(() => null);
    const ms = v === null ? NaN : Number(v);
    return Number.isFinite(ms) ? ms : null;
  };
}
