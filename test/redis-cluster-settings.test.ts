import { spawn } from "node:child_process";
import { describe, expect, it } from "vitest";

// Cluster and shard settings that cannot work stop a process before it connects to
// anything, with a message naming the variable (docs/scaling.md, "Redis Cluster and shards").

const DEADLINE_MS = 50_000;

function runToExit(entry: string, env: Record<string, string>): Promise<{ code: number | null; lines: string[] }> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, ["--import", "tsx", entry], { env: { ...process.env, LOG_PRETTY: "false", ...env }, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    proc.stdout.on("data", (d: Buffer) => (out += d.toString()));
    proc.stderr.on("data", (d: Buffer) => (out += d.toString()));
    const timer = setTimeout(() => {
      proc.kill("SIGKILL");
      reject(new Error(`${entry} still running after ${DEADLINE_MS} ms; output:\n${out.slice(-2000)}`));
    }, DEADLINE_MS);
    proc.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, lines: out.split("\n").filter((l) => l.trim() !== "") });
    });
  });
}

// Port 1 on loopback: nothing answers, so a process that got past its settings would report Redis instead.
const cluster = { REDIS_CLUSTER_NODES: "127.0.0.1:1", DATABASE_URL: "postgresql://postgres@127.0.0.1:1/none" };

describe("cluster and shard settings", () => {
  it.each([
    ["worker/main.ts", { QUEUE_SHARDS: "3", WORKER_SHARDS: "0,3" }, /WORKER_SHARDS: "3" is not a shard of 0\.\.2 \(QUEUE_SHARDS=3\)/],
    ["worker/main.ts", { ...cluster, QUEUE_PREFIX: "actions" }, /QUEUE_PREFIX: QUEUE_PREFIX "actions" has no hash tag; on Redis Cluster wrap it in braces, e.g. "\{actions\}"/],
    ["api/server.ts", { ...cluster, QUEUE_PREFIX: "actions" }, /QUEUE_PREFIX: .*has no hash tag/],
    ["api/server.ts", { REDIS_CLUSTER_NODES: "127.0.0.1:1,nohost" }, /REDIS_CLUSTER_NODES: "nohost" is not host:port/],
    ["runner-sim/main.ts", { REDIS_CLUSTER_NODES: "127.0.0.1:99999", RUNNER_TOKENS: "t".repeat(40) }, /REDIS_CLUSTER_NODES: "127\.0\.0\.1:99999" is not host:port/],
    ["api/server.ts", { QUEUE_SHARDS: "65" }, /QUEUE_SHARDS/],
  ] as const)("%s with %j: exit 2, naming the variable, no stack", async (entry, env, line) => {
    const r = await runToExit(entry, env);
    expect(r.code, r.lines.join("\n")).toBe(2);
    expect(r.lines.join("\n")).toMatch(line);
    expect(r.lines.join("\n")).not.toMatch(/^\s+at /m);
  });
});
