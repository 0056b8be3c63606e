import { startRedisCluster, type PrivateCluster } from "../test/setup/redis-cluster.ts";
import { runScenario, type Ctx } from "./harness.ts";
import { until } from "./infra.ts";
import { emptyTally } from "./reconcile.ts";
import type { Scenario } from "./scenarios.ts";

// cluster-failover (docs/scaling.md, "Redis Cluster and shards"): the system on a private
// Redis Cluster (three masters, a replica each) with QUEUE_SHARDS=3; the master holding the
// most keys (the busy shard's) is SIGKILLed a third of the way into a burst of intents and
// its replica takes over. The reconciliation table says whether any answer was a lie.

const size = (short: boolean, s: number, full: number) => (short ? s : full);

/** The live master with the most keys: the one the load is writing to. */
async function busiestMaster(cluster: PrivateCluster): Promise<{ port: number; id: string; keys: number }> {
  const sized = await Promise.all((await cluster.masters()).map(async (m) => {
    const c = cluster.node(m.port);
    try {
      return { ...m, keys: await c.dbsize() };
    } finally {
      c.disconnect();
    }
  }));
  return sized.sort((a, b) => b.keys - a.keys)[0]!;
}

async function killBusiest(ctx: Ctx, cluster: PrivateCluster): Promise<void> {
  await ctx.load.reached(0.3);
  const victim = await busiestMaster(cluster);
  const replica = await cluster.replicaOf(victim.id);
  if (replica === null) {
    ctx.problems.push(`master ${victim.port} has no replica to promote: the scenario proved nothing`);
    return;
  }
  const at = ctx.load.answered;
  const t0 = Date.now();
  cluster.kill(victim.port);
  await until(`replica ${replica} to be promoted`, async () => (await cluster.masters()).some((m) => m.port === replica), 30_000, 50);
  ctx.notes.push(`master ${victim.port} (${victim.keys} keys) killed with SIGKILL at ${at} answered; replica ${replica} promoted after ${Date.now() - t0} ms`);
}

export const clusterFailover: Scenario = {
  name: "cluster-failover",
  summary: "kill -9 the busiest master of a 3-master Redis Cluster (QUEUE_SHARDS=3) in the middle of a burst of intents; its replica takes over",
  async run(env) {
    const prefix = `{chaosc${Date.now().toString(36)}${Math.random().toString(36).slice(2, 5)}}`;
    let cluster: PrivateCluster;
    try {
      cluster = await startRedisCluster(prefix, { shards: 3 });
    } catch (e) {
      return { tally: { ...emptyTally(), errors: 1 }, problems: [`no cluster: ${(e as Error).message.split("\n")[0]}`], notes: [] };
    }
    try {
      // The processes log in as Redis' default user of the cluster's nodes (open there); the ACL users are tested in test/redis-cluster.test.ts.
      return await runScenario({ ...env, redisUrl: `redis://127.0.0.1:${cluster.nodes[0]!.port}` }, {
        name: "cluster-failover",
        world: { queued: size(env.short, 80, 600), long: size(env.short, 4, 10), steppy: 0, sources: size(env.short, 4, 20) },
        cancelLong: size(env.short, 4, 10),
        rerunsPerSource: size(env.short, 8, 14),
        system: {
          workers: 2, resultTimeoutMs: 10_000, lockMs: 2_000, reaper: { intervalMs: 500, windowMs: 5_000 }, sim: { runners: 2, capacity: 5 },
          env: { REDIS_CLUSTER_NODES: cluster.spec, QUEUE_SHARDS: "3", QUEUE_PREFIX: prefix },
        },
        concurrency: 24,
        fault: (ctx) => killBusiest(ctx, cluster),
      });
    } finally {
      await cluster.stop();
    }
  },
};
