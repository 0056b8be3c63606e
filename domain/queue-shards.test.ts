import { describe, expect, it } from "vitest";
import { globEscape } from "../infra/redis-acl.ts";
import { clusterPrefixProblem, hashTagOf, keySlot, servedShards, shardOf, shardPrefix, shardPrefixPattern } from "./queue-shards.ts";

describe("queue shards", () => {
  it.each([
    // repo id, shards, shard
    [1n, 1, 0], [123456789n, 1, 0],
    [1n, 3, shardOf(1, 3)], [42, 3, shardOf(42n, 3)],
  ] as const)("routes repo %s of %i shards to shard %i, the same for a bigint and a number", (repo, k, want) => {
    expect(shardOf(repo, k)).toBe(want);
    expect(shardOf(typeof repo === "bigint" ? Number(repo) : BigInt(repo), k)).toBe(want);
  });

  it("pins the hash (a shard must not move while intents wait in it)", () => {
    expect([1, 2, 3, 4, 5, 6, 7, 8, 9, 10].map((r) => shardOf(r, 3))).toEqual([1, 1, 2, 1, 2, 2, 0, 1, 2, 0]);
    expect([1, 2, 3, 4, 5, 6, 7, 8, 9, 10].map((r) => shardOf(r, 4))).toEqual([0, 1, 2, 3, 0, 1, 2, 3, 0, 0]);
  });

  it("spreads sequential repository ids over every shard", () => {
    for (const k of [2, 3, 5, 8]) {
      const counts = new Array<number>(k).fill(0);
      for (let r = 1; r <= 3000; r++) counts[shardOf(r, k)]!++;
      for (const c of counts) expect(c).toBeGreaterThan((3000 / k) * 0.8);
    }
  });

  it.each([
    // prefix, shards, n, prefix of shard n
    ["actions", 1, 0, "actions"],
    ["{actions}", 1, 0, "{actions}"],
    ["{actions}", 3, 0, "{actions-0}"],
    ["{actions}", 3, 1, "{actions-1.3}"],
    ["{actions}", 3, 2, "{actions-2.2}"],
    ["actions", 5, 1, "{actions-1}"],
    ["ci{actions}x", 3, 0, "ci{actions-0}x"],
  ] as const)("names shard prefixes: %s with %i shards, shard %i → %s", (prefix, k, n, want) => {
    expect(shardPrefix(prefix, n, k)).toBe(want);
  });

  it("gives shard n a hash tag in the n-th K-th of the slot space, so K shards land on K masters", () => {
    for (const k of [2, 3, 4, 6, 12]) {
      for (let n = 0; n < k; n++) {
        const slot = keySlot(`${shardPrefix("{actions}", n, k)}:lifecycle-intents:wait`);
        expect(slot).toBeGreaterThanOrEqual(Math.floor((n * 16384) / k));
        expect(slot).toBeLessThan(Math.floor(((n + 1) * 16384) / k));
      }
    }
  });

  it("computes Redis' key slots (values from the cluster spec and CLUSTER KEYSLOT)", () => {
    expect(keySlot("foo")).toBe(12182);
    expect(keySlot("123456789")).toBe(12739);
    expect(keySlot("{user1000}.following")).toBe(keySlot("{user1000}.followers"));
    expect(keySlot("{user1000}.following")).toBe(3443);
    expect(hashTagOf("a{}b")).toBeNull();
    expect(hashTagOf("x{{a}}")).toBe("{a");
  });

  it("refuses shard numbers out of range", () => {
    expect(() => shardPrefix("actions", 3, 3)).toThrow(RangeError);
    expect(() => shardOf(1, 0)).toThrow(RangeError);
  });

  it.each([
    [undefined, 3, [0, 1, 2]],
    ["", 2, [0, 1]],
    ["2,0", 3, [0, 2]],
    [" 1 , 1 ", 3, [1]],
  ] as const)("serves WORKER_SHARDS=%s of %i shards: %j", (spec, k, want) => {
    expect(servedShards(spec, k)).toEqual(want);
  });

  it("refuses a WORKER_SHARDS entry that names no shard", () => {
    expect(() => servedShards("0,3", 3)).toThrow(/"3" is not a shard of 0..2/);
    expect(() => servedShards("x", 3)).toThrow(/"x"/);
  });

  it("grants every shard prefix with one glob, escaping the prefix's own glob characters", () => {
    expect(shardPrefixPattern("{actions}", globEscape)).toBe("{actions-*}");
    expect(shardPrefixPattern("a*b", globEscape)).toBe("{a\\*b-*}");
    expect(clusterPrefixProblem("actions")).toMatch(/wrap it in braces, e.g. "\{actions\}"/);
    expect(clusterPrefixProblem("{actions}")).toBeNull();
  });
});
