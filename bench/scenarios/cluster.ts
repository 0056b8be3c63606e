import * as ops from "../../admin/ops.ts";
import { startRedisCluster, type PrivateCluster } from "../../test/setup/redis-cluster.ts";
import { closedLoop, type LoadResult } from "../lib/load.ts";
import { httpClient } from "../lib/http.ts";
import { seedRuns, withPg } from "../lib/data.ts";
import { withStack, type Stack } from "../lib/stack.ts";
import { ms, type BenchContext, type Scenario, type ScenarioResult } from "../lib/types.ts";

// Cancel throughput on a private Redis Cluster (three masters with a replica each, started
// here on free loopback ports) with one and three queue shards, beside the single Redis of
// REDIS_URL, in the same run (docs/scaling.md, "Redis Cluster and shards"). The cancels are
// spread over 12 repositories so that three shards all get work.

const REPOS = 12;
const CONCURRENCY = [16, 64];

interface Variant {
  label: string;
  env: (cluster: PrivateCluster | null) => Record<string, string>;
  cluster: boolean;
}

const tag = () => `{bc${Date.now().toString(36)}${Math.random().toString(36).slice(2, 5)}}`;

const VARIANTS: Variant[] = [
  { label: "single Redis", cluster: false, env: () => ({}) },
  { label: "cluster, 1 shard", cluster: true, env: (c) => ({ REDIS_CLUSTER_NODES: c!.spec, QUEUE_PREFIX: tag(), QUEUE_SHARDS: "1" }) },
  { label: "cluster, 3 shards", cluster: true, env: (c) => ({ REDIS_CLUSTER_NODES: c!.spec, QUEUE_PREFIX: tag(), QUEUE_SHARDS: "3" }) },
];

/** Queued jobs over REPOS repositories of the bench user, interleaved so consecutive cancels hit different repositories. */
async function seedSpread(stack: Stack, perRepo: number): Promise<number[]> {
  const byRepo: number[][] = [];
  for (let i = 0; i < REPOS; i++) {
    const repo = i === 0 ? { id: stack.repoId } : await ops.createRepo(stack.prisma, { owner: "bench", name: `spread-${i}` });
    byRepo.push(await withPg(stack.dbUrl, async (c) => (await seedRuns(c, { repoId: BigInt(repo.id), runs: perRepo, jobsPerRun: 1, stepsPerJob: 3, state: "queued" })).jobIds));
  }
  return Array.from({ length: perRepo }, (_, k) => byRepo.map((ids) => ids[k]!)).flat();
}

async function measure(stack: Stack, total: number, log: (m: string) => void, label: string): Promise<Record<number, LoadResult>> {
  const jobs = await seedSpread(stack, Math.ceil((total * CONCURRENCY.length) / REPOS) + 10);
  let next = 0;
  const client = httpClient(256);
  const headers = { authorization: `Bearer ${stack.token}` };
  const fire = async () => {
    const id = jobs[next++];
    if (id === undefined) throw new Error("ran out of seeded jobs");
    return (await client.request("POST", `${stack.apis[0]}/api/v1/jobs/${id}/cancel`, headers)).status === 202;
  };
  const out: Record<number, LoadResult> = {};
  for (const c of CONCURRENCY) {
    log(`cluster bench: ${label}, closed loop c=${c}`);
    out[c] = await closedLoop({ concurrency: c, total, warmup: Math.min(200, total / 10), fire });
  }
  return out;
}

export const clusterScenario: Scenario = {
  id: "cluster",
  title: "Cancel throughput on Redis Cluster, 1 and 3 shards, beside one Redis",
  async run(ctx: BenchContext): Promise<ScenarioResult> {
    const total = ctx.quick ? 400 : 3000;
    let cluster: PrivateCluster | null = null;
    const results: Record<string, Record<number, LoadResult>> = {};
    try {
      for (const v of VARIANTS) {
        if (v.cluster && !cluster) cluster = await startRedisCluster("{bench}", { shards: 3 });
        // The cluster's processes log in as Redis' default user (open on the private cluster's nodes).
        const env = { ...v.env(cluster), ...(v.cluster ? { REDIS_URL: `redis://127.0.0.1:${cluster!.nodes[0]!.port}` } : {}) };
        results[v.label] = await withStack(`cluster${Object.keys(results).length}`, { env }, (stack) => measure(stack, total, ctx.log, v.label));
      }
    } finally {
      await cluster?.stop();
    }
    const strip = ({ samples: _s, ...r }: LoadResult) => r;
    return {
      id: "cluster",
      title: "Cancel throughput on Redis Cluster, 1 and 3 shards, beside one Redis",
      tables: [{
        title: `POST /jobs/{id}/cancel over ${REPOS} repositories, one api and one worker (WORKER_CONCURRENCY 8 per shard), closed loop (ms)`,
        columns: ["redis", "concurrency", "requests", "errors", "req/s", "p50", "p99"],
        rows: Object.entries(results).flatMap(([label, byC]) =>
          CONCURRENCY.map((c) => [label, c, byC[c]!.requests, byC[c]!.errors, byC[c]!.rps, ms(byC[c]!.latency.p50), ms(byC[c]!.latency.p99)])),
      }],
      data: Object.fromEntries(Object.entries(results).map(([label, byC]) => [label, Object.fromEntries(Object.entries(byC).map(([c, r]) => [c, strip(r)]))])),
    };
  },
};
