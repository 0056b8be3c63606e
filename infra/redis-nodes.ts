// REDIS_CLUSTER_NODES parsing, apart from infra/redis.ts so that the config schema
// (infra/config.ts) does not load ioredis.

export interface ClusterNode {
  host: string;
  port: number;
}

/** "host:port,host:port" (IPv6 hosts in brackets), parsed; throws naming the bad entry. */
export function parseClusterNodes(spec: string): ClusterNode[] {
  const nodes = spec.split(",").map((s) => s.trim()).filter((s) => s !== "").map((s) => {
    const m = /^(\[[^\]]+\]|[^:\s[\]]+):(\d{1,5})$/.exec(s);
    if (!m || Number(m[2]) < 1 || Number(m[2]) > 65535) throw new Error(`REDIS_CLUSTER_NODES: "${s}" is not host:port`);
    return { host: m[1]!.replace(/^\[|\]$/g, ""), port: Number(m[2]) };
  });
  if (nodes.length === 0) throw new Error("REDIS_CLUSTER_NODES: no host:port given");
  return nodes;
}
