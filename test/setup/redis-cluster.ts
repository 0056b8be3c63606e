import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { randomBytes } from "node:crypto";
import { Redis } from "ioredis";
import { freePort, until } from "../../chaos/infra.ts";
import { ACL_ROLES, ACL_USER, aclUsers, urlForUser, type AclRole } from "../../infra/redis-acl.ts";

// A private Redis Cluster for tests (docs/scaling.md): six redis-server processes on free
// loopback ports, three masters with a replica each, made by `redis-cli --cluster create`.
// The ACL users of infra/redis-acl.ts (cluster rules) are set on every node, since Redis
// keeps ACLs per node; Redis' default user stays open for the test's own assertions.

export interface ClusterNodeProc {
  port: number;
  proc: ChildProcess;
}

export interface PrivateCluster {
  nodes: ClusterNodeProc[];
  /** REDIS_CLUSTER_NODES for the service's processes. */
  spec: string;
  /** A Redis URL per role, with that role's login (its host is not used on a cluster). */
  urls: Record<AclRole, string>;
  /** An admin connection to one node (default user). */
  node(port: number): Redis;
  /** The ports of the current masters, by CLUSTER NODES on a live node. */
  masters(): Promise<{ port: number; id: string }[]>;
  /** The live master that serves `slot`. */
  ownerOf(slot: number): Promise<{ port: number; id: string } | null>;
  /** The replica port of a master (by its node id). */
  replicaOf(masterId: string): Promise<number | null>;
  /** ACL LOG entries of every live node: every command a node refused. */
  denials(): Promise<string[]>;
  kill(port: number): void;
  stop(): Promise<void>;
}

function need(bin: string): void {
  const r = spawnSync(bin, ["--version"], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`${bin} not found: the Redis Cluster tests need redis-server and redis-cli 7 (apt-get install redis-server)`);
}

async function clusterOk(port: number): Promise<boolean> {
  const c = new Redis({ port, host: "127.0.0.1", lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, enableOfflineQueue: false });
  c.on("error", () => {});
  try {
    await c.connect();
    const info = String(await c.call("CLUSTER", "INFO"));
    return /cluster_state:ok/.test(info) && /cluster_known_nodes:6/.test(info);
  } catch {
    return false;
  } finally {
    c.disconnect();
  }
}

export async function startRedisCluster(prefix: string, opts: { shards?: number; timeoutMs?: number } = {}): Promise<PrivateCluster> {
  need("redis-server");
  need("redis-cli");
  const dir = mkdtempSync(path.join(os.tmpdir(), "redis-cluster-"));
  const nodes: ClusterNodeProc[] = [];
  const stop = async () => {
    for (const n of nodes) n.proc.kill("SIGKILL");
    await Promise.all(nodes.map((n) => (n.proc.exitCode !== null || n.proc.signalCode !== null ? null : new Promise((r) => n.proc.once("exit", r)))));
    rmSync(dir, { recursive: true, force: true });
  };
  let passwords = {} as Record<AclRole, string>;
  try {
    for (let i = 0; i < 6; i++) {
      const port = await freePort();
      const args = ["--port", String(port), "--bind", "127.0.0.1", "--cluster-enabled", "yes", "--cluster-config-file", path.join(dir, `nodes-${port}.conf`),
        "--cluster-node-timeout", "1500", "--save", "", "--appendonly", "no", "--dir", dir];
      nodes.push({ port, proc: spawn("redis-server", args, { stdio: "ignore" }) });
    }
    const deadline = opts.timeoutMs ?? 30_000;
    for (const n of nodes) await until(`redis node ${n.port}`, () => ping(n.port), deadline, 50);
    passwords = Object.fromEntries(ACL_ROLES.map((r) => [r, randomBytes(18).toString("hex")])) as Record<AclRole, string>;
    const plan = aclUsers({ prefix, passwords, shards: opts.shards ?? 1, cluster: true });
    if (!plan.ok) throw new Error(`no ACL users for ${prefix}: ${JSON.stringify(plan.problem)}`);
    for (const n of nodes) await admin(n.port, async (c) => {
      for (const u of plan.users) await c.call("ACL", "SETUSER", u.name, ...u.rules);
      await c.call("ACL", "LOG", "RESET");
    });
    const create = spawnSync("redis-cli", ["--cluster", "create", ...nodes.map((n) => `127.0.0.1:${n.port}`), "--cluster-replicas", "1", "--cluster-yes"], { encoding: "utf8", timeout: deadline });
    if (create.status !== 0) throw new Error(`redis-cli --cluster create failed: ${create.stdout}\n${create.stderr}`);
    await until("cluster_state:ok on every node", async () => (await Promise.all(nodes.map((n) => clusterOk(n.port)))).every(Boolean), deadline, 100);
  } catch (e) {
    await stop();
    throw e;
  }
  const base = `redis://127.0.0.1:${nodes[0]!.port}`;
  const killed = new Set<number>();
  const alive = () => nodes.filter((n) => !killed.has(n.port) && n.proc.exitCode === null && n.proc.signalCode === null);
  // Any live node's view (a node may be going away while asked).
  const clusterNodes = async (): Promise<string> => {
    let last: unknown;
    for (const n of alive()) {
      try {
        return String(await admin(n.port, (c) => c.call("CLUSTER", "NODES")));
      } catch (e) {
        last = e;
      }
    }
    throw new Error(`no live cluster node answers CLUSTER NODES: ${String(last)}`);
  };
  const nodesTable = async () => {
    const raw = await clusterNodes();
    return raw.trim().split("\n").map((l) => l.split(" ")).map((f) => ({ id: f[0]!, port: Number(f[1]!.split(":")[1]!.split("@")[0]), flags: f[2]!, master: f[3]!, slots: f.length > 8, ranges: f.slice(8).filter((r) => !r.startsWith("[")).map((r) => r.split("-").map(Number)) }));
  };
  return {
    nodes,
    spec: nodes.map((n) => `127.0.0.1:${n.port}`).join(","),
    urls: Object.fromEntries(ACL_ROLES.map((r) => [r, urlForUser(base, ACL_USER[r], passwords[r])])) as Record<AclRole, string>,
    node: (port) => new Redis({ port, host: "127.0.0.1", maxRetriesPerRequest: 1 }),
    masters: async () => (await nodesTable()).filter((n) => n.flags.includes("master") && n.slots && !/fail/.test(n.flags)).map((n) => ({ port: n.port, id: n.id })),
    ownerOf: async (slot) => {
      const m = (await nodesTable()).find((n) => n.flags.includes("master") && !/fail/.test(n.flags) && n.ranges.some(([lo, hi]) => slot >= lo! && slot <= (hi ?? lo)!));
      return m ? { port: m.port, id: m.id } : null;
    },
    replicaOf: async (id) => (await nodesTable()).find((n) => n.master === id && !/fail/.test(n.flags))?.port ?? null,
    denials: async () => (await Promise.all(alive().map((n) => admin(n.port, (c) => c.call("ACL", "LOG") as Promise<unknown[][]>).then((log) =>
      log.map((e) => `${n.port}: ${Object.entries(Object.fromEntries(Array.from({ length: e.length / 2 }, (_, i) => [String(e[2 * i]), String(e[2 * i + 1])]))).filter(([k]) => ["username", "reason", "object"].includes(k)).map(([, v]) => v).join(" ")}`))))).flat(),
    kill: (port) => {
      killed.add(port);
      nodes.find((n) => n.port === port)?.proc.kill("SIGKILL");
    },
    stop,
  };
}

async function ping(port: number): Promise<boolean> {
  return admin(port, async (c) => (await c.ping()) === "PONG").catch(() => false);
}

async function admin<T>(port: number, f: (c: Redis) => Promise<T>): Promise<T> {
  const c = new Redis({ port, host: "127.0.0.1", lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => null, enableOfflineQueue: false });
  c.on("error", () => {});
  try {
    await c.connect();
    return await f(c);
  } finally {
    c.disconnect();
  }
}
