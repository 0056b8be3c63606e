// Which queue shard a repository's intents go to, and what each shard's BullMQ prefix is
// (docs/scaling.md, "Redis Cluster and shards"). Pure: api, worker, admin and tests agree
// by computing the same thing.

/** Upper bound for QUEUE_SHARDS: each shard costs every API one QueueEvents stream reader. */
export const MAX_QUEUE_SHARDS = 64;

/**
 * FNV-1a over the decimal id: stable across processes and versions (a shard must not move
 * while intents wait in it), and it spreads sequential ids without caring how they grow.
 */
export function shardOf(repoId: bigint | number, shards: number): number {
  if (!Number.isInteger(shards) || shards < 1) throw new RangeError(`shards must be a positive integer, got ${shards}`);
  if (shards === 1) return 0;
  let h = 0x811c9dc5;
  for (const c of String(repoId)) {
    h ^= c.charCodeAt(0);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h % shards;
}

const HASH_TAG = /\{([^}]+)\}/;

/** The hash tag Redis Cluster would hash `key` by (the first non-empty `{…}`), or null. */
export function hashTagOf(key: string): string | null {
  // Redis takes the first `{` and the first `}` after it; an empty `{}` means no tag.
  const open = key.indexOf("{");
  if (open < 0) return null;
  const close = key.indexOf("}", open + 1);
  return close > open + 1 ? key.slice(open + 1, close) : null;
}

export const CLUSTER_SLOTS = 16384;

/** Redis Cluster's key hash: CRC16 (XMODEM) of the hash tag, or of the whole key without one. */
export function keySlot(key: string): number {
  let crc = 0;
  for (const byte of new TextEncoder().encode(hashTagOf(key) ?? key)) {
    crc ^= byte << 8;
    for (let i = 0; i < 8; i++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc % CLUSTER_SLOTS;
}

/**
 * The hash tag of shard `n` of `shards`: `<base>-<n>`, or `<base>-<n>.<salt>` with the
 * smallest salt that puts it in the n-th `shards`-th of the slot space. Redis Cluster gives
 * its masters contiguous, even slot ranges (redis-cli --cluster create, rebalance), so K
 * shards on K masters land one per master rather than wherever CRC16 happens to put them.
 */
function shardTag(base: string, n: number, shards: number): string {
  const lo = Math.floor((n * CLUSTER_SLOTS) / shards);
  const hi = Math.floor(((n + 1) * CLUSTER_SLOTS) / shards);
  for (let salt = 0; ; salt++) {
    const tag = salt === 0 ? `${base}-${n}` : `${base}-${n}.${salt}`;
    const slot = keySlot(`{${tag}}`);
    if (slot >= lo && slot < hi) return tag;
  }
}

/**
 * The BullMQ prefix of shard `n` of `shards`. One shard keeps QUEUE_PREFIX itself, so a
 * deployment that never set QUEUE_SHARDS reads the queue it always had. With more, each
 * shard gets a hash tag of its own (`{actions}` → `{actions-0}`, `actions` → `{actions-0}`,
 * see shardTag for the salt some get) so Redis Cluster puts the shards on different masters.
 */
export function shardPrefix(prefix: string, n: number, shards: number): string {
  if (!Number.isInteger(n) || n < 0 || n >= shards) throw new RangeError(`shard ${n} out of 0..${shards - 1}`);
  if (shards === 1) return prefix;
  const m = HASH_TAG.exec(prefix);
  if (!m) return `{${shardTag(prefix, n, shards)}}`;
  return `${prefix.slice(0, m.index)}{${shardTag(m[1]!, n, shards)}}${prefix.slice(m.index + m[0].length)}`;
}

/** Every shard prefix, as a glob (`*` for the shard number): what the ACL grants (infra/redis-acl.ts). */
export function shardPrefixPattern(prefix: string, escape: (s: string) => string): string {
  const m = HASH_TAG.exec(prefix);
  if (!m) return `{${escape(prefix)}-*}`;
  return `${escape(prefix.slice(0, m.index))}{${escape(m[1]!)}-*}${escape(prefix.slice(m.index + m[0].length))}`;
}

export function allShards(shards: number): number[] {
  return Array.from({ length: shards }, (_, i) => i);
}

/**
 * The shards a worker serves: all of them, or those WORKER_SHARDS names ("0,2").
 * Refuses a list naming a shard that does not exist, or naming none.
 */
export function servedShards(spec: string | undefined, shards: number): number[] {
  if (spec === undefined || spec.trim() === "") return allShards(shards);
  const parts = spec.split(",").map((s) => s.trim());
  const out = new Set<number>();
  for (const p of parts) {
    if (!/^\d+$/.test(p) || Number(p) >= shards) throw new RangeError(`WORKER_SHARDS: "${p}" is not a shard of 0..${shards - 1} (QUEUE_SHARDS=${shards})`);
    out.add(Number(p));
  }
  return [...out].sort((a, b) => a - b);
}

/** On a cluster every queue key of one queue must share a slot: the prefix needs a hash tag. */
export function clusterPrefixProblem(prefix: string): string | null {
  return hashTagOf(prefix) === null ? `QUEUE_PREFIX "${prefix}" has no hash tag; on Redis Cluster wrap it in braces, e.g. "{${prefix}}"` : null;
}
