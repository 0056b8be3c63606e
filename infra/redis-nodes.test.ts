import { describe, expect, it } from "vitest";
import { commonEnv, parseConfig } from "./config.ts";
import { parseClusterNodes } from "./redis-nodes.ts";

describe("REDIS_CLUSTER_NODES", () => {
  it.each([
    ["127.0.0.1:7000", [{ host: "127.0.0.1", port: 7000 }]],
    [" a:1 , b.example:65535,", [{ host: "a", port: 1 }, { host: "b.example", port: 65535 }]],
    ["[::1]:7001", [{ host: "::1", port: 7001 }]],
  ])("parses %j", (spec, want) => {
    expect(parseClusterNodes(spec)).toEqual(want);
  });

  it.each(["7000", "host:", "host:0", "host:70000", "a:1,b", " , "])("refuses %j, naming the entry", (spec) => {
    expect(() => parseClusterNodes(spec)).toThrow(/REDIS_CLUSTER_NODES: /);
  });

  it("is unset by default and one line naming the variable when wrong", () => {
    expect(parseConfig(commonEnv, {}).REDIS_CLUSTER_NODES).toBeUndefined();
    expect(parseConfig(commonEnv, { REDIS_CLUSTER_NODES: "h:1,h:2" }).REDIS_CLUSTER_NODES).toHaveLength(2);
    expect(() => parseConfig(commonEnv, { REDIS_CLUSTER_NODES: "h:1,nope" })).toThrow(/REDIS_CLUSTER_NODES: "nope" is not host:port/);
    expect(() => parseConfig(commonEnv, { QUEUE_SHARDS: "0" })).toThrow(/QUEUE_SHARDS/);
  });
});
