import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as ops from "../admin/ops.ts";
import { cancelChannel } from "../domain/contracts.ts";
import { keySlot, shardOf, shardPrefix } from "../domain/queue-shards.ts";
import { createTestDb, waitFor, type TestDb } from "./setup/db.ts";
import { expectInvariants } from "./setup/invariants.ts";
import { startRedisCluster, type PrivateCluster } from "./setup/redis-cluster.ts";
import { spawnService, type Service } from "./setup/stack.ts";
import { event, events, runEnds } from "./setup/system.ts";
import { buildWorld, call, pushAndRun } from "./setup/world.ts";

// The whole system as processes (api, worker, runner-sim) on a private Redis Cluster of
// three masters with a replica each, QUEUE_SHARDS=3, every process as its ACL user on
// every node (docs/scaling.md, "Redis Cluster and shards").

const SHARDS = 3;
const REG = "registration-secret-for-cluster-tests";
const prefix = `{rc${process.pid}${Math.random().toString(36).slice(2, 6)}}`;
const NOBODY = "jobs:\n  wait:\n    runs-on: nobody-serves-this\n    steps: [{run: echo never}]\n";
const REPOS = 24;

let cluster: PrivateCluster;
let db: TestDb;
let world: Awaited<ReturnType<typeof buildWorld>>;
let api: string;
let sim: Service;
const services: Service[] = [];
const repos: { name: string; id: bigint }[] = [];

function start(entry: string, role: "api" | "worker" | "runner", env: Record<string, string>): Service {
  const svc = spawnService(entry, {
    DATABASE_URL: db.url, REDIS_URL: cluster.urls[role], REDIS_CLUSTER_NODES: cluster.spec, QUEUE_PREFIX: prefix, QUEUE_SHARDS: String(SHARDS),
    RUNNER_REGISTRATION_TOKEN: REG, ...env,
  });
  services.push(svc);
  return svc;
}

beforeAll(async () => {
  cluster = await startRedisCluster(prefix, { shards: SHARDS });
  db = await createTestDb("rcluster");
  world = await buildWorld(db.prisma);
  for (let i = 0; i < REPOS; i++) {
    const r = await ops.createRepo(db.prisma, { owner: "alice", name: `rc-${i}` });
    repos.push({ name: `alice/rc-${i}`, id: BigInt(r.id) });
  }
  const apiProc = start("api/server.ts", "api", { PORT: "0", HOST: "127.0.0.1" });
  const worker = start("worker/main.ts", "worker", { WORKER_PORT: "0" });
  await apiProc.waitForLine(/api listening/);
  api = `http://127.0.0.1:${/"port":(\d+)/.exec(apiProc.output())![1]}`;
  await worker.waitForLine(/worker ready/);
  // A long cancel poll: a cancel that stops a job in time came over the signal.
  sim = start("runner-sim/main.ts", "runner", { API_URL: api, RUNNERS: "2", RUNNER_CAPACITY: "2", RUNNER_NAME_PREFIX: "rc", HEARTBEAT_MS: "100", CANCEL_GRACE_MS: "1000", CANCEL_POLL_MS: "30000" });
  await sim.waitForLine(/fleet ready/);
}, 180_000);

afterAll(async () => {
  if (db) await expectInvariants(db);
  for (const svc of services.reverse()) await svc.kill("SIGTERM");
  await db?.drop();
  if (cluster) {
    const denied = await cluster.denials();
    await cluster.stop();
    expect(denied, "commands a cluster node refused a process of the system").toEqual([]);
  }
});

/** A cancel with an Idempotency-Key, asked again (same key) until it is acknowledged or the deadline passes. */
async function cancelUntilAcknowledged(runId: number, key: string, deadlineMs: number): Promise<{ status: number; tries: number }> {
  const deadline = Date.now() + deadlineMs;
  for (let tries = 1; ; tries++) {
    const r = await call(api, "POST", `/api/v1/runs/${runId}/cancel`, { token: world.tokens.alice, headers: { "Idempotency-Key": key } }).catch(() => ({ status: 0 }));
    if (r.status === 202 || Date.now() > deadline) return { status: r.status, tries };
    // Not a synchronisation: the pace of a client that was told 503 with Retry-After.
    await new Promise((res) => setTimeout(res, 200));
  }
}

async function cancelJobUntilAcknowledged(jobId: number, key: string, deadlineMs: number): Promise<{ status: number }> {
  const deadline = Date.now() + deadlineMs;
  for (;;) {
    const r = await call(api, "POST", `/api/v1/jobs/${jobId}/cancel`, { token: world.tokens.bob, headers: { "Idempotency-Key": key } }).catch(() => ({ status: 0 }));
    if (r.status === 202 || Date.now() > deadline) return r;
    await new Promise((res) => setTimeout(res, 200));
  }
}

/** Job keys of the intent queue on each master: which shards' intents each master holds. */
async function intentJobsByMaster(): Promise<Map<number, Map<string, number>>> {
  const out = new Map<number, Map<string, number>>();
  for (const m of await cluster.masters()) {
    const c = cluster.node(m.port);
    const byShard = new Map<string, number>();
    try {
      for await (const keys of c.scanStream({ match: "*:lifecycle-intents:cancel-run-*", count: 1000 }) as AsyncIterable<string[]>) {
        for (const k of keys) {
          const mm = /^(.*):lifecycle-intents:cancel-run-[^:]+$/.exec(k);
          if (mm) byShard.set(mm[1]!, (byShard.get(mm[1]!) ?? 0) + 1);
        }
      }
    } finally {
      c.disconnect();
    }
    out.set(m.port, byShard);
  }
  return out;
}

describe("Redis Cluster with three queue shards", () => {
  it("cancels a running job, and the runner hears it over sharded pub/sub", async () => {
    const r = await pushAndRun(db.prisma, "alice/demo", "jobs:\n  slow:\n    runs-on: ubuntu-latest\n    steps: [{run: echo start; sleep 600}]\n", "c1000001");
    const jobId = r.job_ids[0]!;
    await event(sim, "container started", jobId);
    const asked = Date.now();
    const res = await call(api, "POST", `/api/v1/jobs/${jobId}/cancel`, { token: world.tokens.bob });
    expect(res).toMatchObject({ status: 202, body: { changed_jobs: 1 } });
    const done = await runEnds(db, r.run_id);
    expect(done.jobs[0]).toMatchObject({ status: "cancelled", conclusion: "cancelled" });
    expect((await event(sim, "cancel received", jobId)).via).toBe("signal");
    // Well inside the 30 s cancel poll: the signal carried it.
    expect(Date.now() - asked).toBeLessThan(10_000);
  });

  it("reruns a cancelled run on the fleet to completion", async () => {
    const wf = "jobs:\n  build:\n    runs-on: ubuntu-latest\n    steps: [{run: echo building; sleep 2}]\n  test:\n    needs: build\n    runs-on: ubuntu-latest\n    steps: [{run: echo testing}]\n";
    const r = await pushAndRun(db.prisma, "alice/demo", wf, "c1000002");
    await event(sim, "container started", r.job_ids[0]!);
    expect((await call(api, "POST", `/api/v1/jobs/${r.job_ids[0]}/cancel`, { token: world.tokens.bob })).status).toBe(202);
    expect((await runEnds(db, r.run_id)).conclusion).toBe("cancelled");
    const rerun = await call(api, "POST", `/api/v1/runs/${r.run_id}/rerun`, { token: world.tokens.bob });
    expect(rerun.status).toBe(201);
    const done = await runEnds(db, rerun.body.run_id);
    expect(done.conclusion).toBe("success");
  });

  it("puts each repository's intents in its shard, and the three shards on the three masters", async () => {
    const runs = [];
    for (const [i, repo] of repos.entries()) runs.push({ repo, run: await pushAndRun(db.prisma, repo.name, NOBODY, `d${String(i).padStart(7, "0")}`) });
    for (const { run } of runs) expect((await call(api, "POST", `/api/v1/runs/${run.run_id}/cancel`, { token: world.tokens.alice })).status).toBe(202);
    const want = new Map<string, number>();
    for (const { repo } of runs) {
      const p = shardPrefix(prefix, shardOf(repo.id, SHARDS), SHARDS);
      want.set(p, (want.get(p) ?? 0) + 1);
    }
    expect(want.size).toBe(SHARDS);
    const byMaster = await intentJobsByMaster();
    expect(byMaster.size).toBe(3);
    // Every master holds exactly one shard's intents, and each shard has exactly its repositories' cancels.
    const seen = new Map<string, number>();
    for (const shards of byMaster.values()) {
      expect([...shards.keys()]).toHaveLength(1);
      for (const [p, n] of shards) seen.set(p, n);
    }
    expect(new Map([...seen].sort())).toEqual(new Map([...want].sort()));
  });

  it("reads the queue gauges across every shard", async () => {
    const text = await (await fetch(`${api}/metrics`)).text();
    expect(text).toMatch(/^actions_metrics_collector_up\{collector="queue"\} 1$/m);
    // The runs of the test above wait for a runner nobody has; their cancels are done: nothing waits.
    expect(text).toMatch(/^actions_queue_waiting_intents 0$/m);
    expect(text).toMatch(/^actions_queue_oldest_waiting_seconds 0$/m);
  });

  it("keeps cancel signals coming after the signal channel's master fails over", async () => {
    const slot = keySlot(cancelChannel(prefix));
    const owner = await cluster.ownerOf(slot);
    const replica = owner && (await cluster.replicaOf(owner.id));
    expect(replica).toEqual(expect.any(Number));
    const r = await pushAndRun(db.prisma, "alice/demo", "jobs:\n  slow:\n    runs-on: ubuntu-latest\n    steps: [{run: echo start; sleep 600}]\n", "c1000003");
    const jobId = r.job_ids[0]!;
    await event(sim, "container started", jobId);
    const checks = () => events(sim).filter((e) => e.msg === "signal subscription ready; checking held jobs").length;
    const before = checks();
    cluster.kill(owner!.port);
    await waitFor("the replica to serve the channel's slot", async () => (await cluster.ownerOf(slot))?.port === replica, 20_000, 100);
    // The sharded subscriber moved to the new master and said so: the fleet checked what it holds.
    await waitFor("the fleet to resubscribe and check its held jobs", async () => checks() > before, 20_000, 50);
    const asked = Date.now();
    expect((await cancelJobUntilAcknowledged(jobId, `chan-${jobId}`, 30_000)).status).toBe(202);
    const done = await runEnds(db, r.run_id);
    expect(done.jobs[0]).toMatchObject({ status: "cancelled", conclusion: "cancelled" });
    // The signal, or the check the fleet makes each time its sharded subscription settles on
    // a new master (it may settle more than once while the slots move); not the 30 s poll.
    const via = (await event(sim, "cancel received", jobId)).via;
    expect(["signal", "reconnect"]).toContain(via);
    expect(Date.now() - asked).toBeLessThan(10_000);
    console.log(`channel failover: cancel received via ${via} after ${Date.now() - asked} ms`);
  }, 90_000);

  it("loses and doubles no acknowledged intent when a master is killed under load", async () => {
    const runs: number[] = [];
    for (let i = 0; i < 90; i++) runs.push((await pushAndRun(db.prisma, repos[i % REPOS]!.name, NOBODY, `f${String(i).padStart(7, "0")}`)).run_id);
    // A master that still has a replica (the test above used one up).
    let victim: { port: number; id: string } | undefined;
    let replica: number | null = null;
    for (const m of await cluster.masters()) {
      replica = await cluster.replicaOf(m.id);
      if (replica !== null) {
        victim = m;
        break;
      }
    }
    expect(victim).toBeDefined();
    let next = 0;
    let killed = false;
    const answers = new Map<number, { status: number; tries: number }>();
    const client = async () => {
      while (next < runs.length) {
        const id = runs[next++]!;
        // A third of the way in, with requests in flight on every shard.
        if (!killed && next >= runs.length / 3) {
          killed = true;
          cluster.kill(victim!.port);
        }
        answers.set(id, await cancelUntilAcknowledged(id, `failover-${id}`, 60_000));
      }
    };
    await Promise.all(Array.from({ length: 8 }, client));
    expect(killed).toBe(true);
    // The replica took over the victim's slots.
    await waitFor("the replica to be a master", async () => (await cluster.masters()).some((m) => m.port === replica), 20_000, 100);
    expect([...answers.values()].filter((a) => a.status !== 202)).toEqual([]);
    const retried = [...answers.values()].filter((a) => a.tries > 1).length;
    // Exactly once in Postgres: one intent row per run, applied; every job cancelled by one transition.
    const rows = await db.pool.query<{ target_id: string; n: string; keys: string }>(
      `SELECT target_id::text, count(*)::text AS n, count(DISTINCT idempotency_key)::text AS keys FROM lifecycle_intents
        WHERE kind = 'cancel_run' AND target_id = ANY($1::bigint[]) AND state = 'applied' GROUP BY target_id`, [runs]);
    expect(rows.rows).toHaveLength(runs.length);
    expect(rows.rows.filter((r) => r.n !== "1" || r.keys !== "1")).toEqual([]);
    const transitions = await db.pool.query<{ job_id: string; n: string }>(
      `SELECT t.job_id::text, count(*)::text AS n FROM job_transitions t JOIN workflow_jobs j ON j.id = t.job_id
        WHERE j.run_id = ANY($1::bigint[]) AND t.to_status = 'cancelled' GROUP BY t.job_id`, [runs]);
    expect(transitions.rows).toHaveLength(runs.length);
    expect(transitions.rows.filter((r) => r.n !== "1")).toEqual([]);
    console.log(`failover: ${runs.length} cancels acknowledged, ${retried} after a retry with the same key`);
  }, 120_000);
});
