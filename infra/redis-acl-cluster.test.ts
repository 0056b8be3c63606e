import { describe, expect, it } from "vitest";
import { ACL_USER, aclUsers, type AclInput } from "./redis-acl.ts";

// What queue shards and Redis Cluster add to the users of infra/redis-acl.ts (docs/scaling.md).

const PW = { api: "api-password-0123456789", worker: "worker-password-0123456789", runner: "runner-password-0123456789" };

function users(extra: Partial<AclInput> = {}, prefix = "{actions}") {
  const plan = aclUsers({ prefix, passwords: PW, ...extra });
  if (!plan.ok) throw new Error(JSON.stringify(plan.problem));
  return Object.fromEntries(plan.users.map((u) => [u.name, u.rules])) as Record<string, string[]>;
}

const added = (base: Record<string, string[]>, more: Record<string, string[]>) =>
  Object.fromEntries(Object.keys(base).map((u) => [u, more[u]!.filter((r) => !base[u]!.includes(r))]));

describe("aclUsers with shards and a cluster", () => {
  it("changes nothing with one shard and no cluster", () => {
    expect(users({ shards: 1, cluster: false })).toEqual(users());
  });

  it("grants api and worker the shard queues' keys, right after the intent queue's, and the runner nothing", () => {
    const base = users();
    const sharded = users({ shards: 3 });
    expect(added(base, sharded)).toEqual({ [ACL_USER.api]: ["~{actions-*}:lifecycle-intents:*"], [ACL_USER.worker]: ["~{actions-*}:lifecycle-intents:*"], [ACL_USER.runner]: [] });
    const api = sharded[ACL_USER.api]!;
    expect(api[api.indexOf("~{actions}:lifecycle-intents:*") + 1]).toBe("~{actions-*}:lifecycle-intents:*");
  });

  it("grants the cluster commands: slot map and READONLY/READWRITE for all, CLUSTER INFO for api and worker, SPUBLISH for the worker only", () => {
    expect(added(users(), users({ cluster: true }))).toEqual({
      [ACL_USER.api]: ["+cluster|slots", "+readonly", "+readwrite", "+cluster|info"],
      [ACL_USER.worker]: ["+spublish", "+cluster|slots", "+readonly", "+readwrite", "+cluster|info"],
      [ACL_USER.runner]: ["+cluster|slots", "+readonly", "+readwrite", "+client|setname"],
    });
  });

  it("still gives the runner no key and no publish on a cluster", () => {
    const runner = users({ cluster: true, shards: 4 })[ACL_USER.runner]!;
    expect(runner.filter((r) => r.startsWith("~") || r.startsWith("%") || /publish|eval|@/.test(r))).toEqual([]);
  });
});
