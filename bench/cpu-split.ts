import { readFileSync, readdirSync } from "node:fs";
import { closedLoop } from "./lib/load.ts";
import { withStack } from "./lib/stack.ts";
import { ensureSigningKey } from "../infra/signing.ts";
import { cancelFire, seedQueued } from "./scenarios/cancel.ts";

// Where a cancel's CPU goes: a closed loop of cancels through real api and worker
// processes, with the CPU time each process group (api, worker, postgres, redis, this
// load generator, anything else on the machine) spent per request, from /proc.
// `npm run bench:cpu [-- CONCURRENCY [PROFILE_DIR]]`; with PROFILE_DIR, the api and
// worker also write V8 CPU profiles there (read them with `npx tsx bench/lib/profile.ts FILE`).
ensureSigningKey();
const conc = Number(process.argv[2] ?? 16);
const prof = process.argv[3];
function cpuByComm(): Map<string, number> {
  const m = new Map<string, number>();
  for (const pid of readdirSync("/proc").filter((d) => /^\d+$/.test(d))) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      const comm = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
      const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      const ticks = Number(f[11]) + Number(f[12]);
      const cmd = readFileSync(`/proc/${pid}/cmdline`, "utf8").replace(/\0/g, " ");
      const key = cmd.includes("api/server.ts") ? "api" : cmd.includes("worker/main.ts") ? "worker" : Number(pid) === process.pid ? "bench" : comm.startsWith("postgres") ? "postgres" : comm.startsWith("redis") ? "redis" : "other";
      m.set(`${key}:${pid}`, ticks);
    } catch {
      // The process exited between the listing and the read.
    }
  }
  return m;
}
await withStack("prof", prof ? { nodeArgs: ["--cpu-prof", `--cpu-prof-dir=${prof}`] } : {}, async (stack) => {
  const l = { stack, jobs: await seedQueued(stack, 4000), next: 0 };
  const fire = cancelFire(l);
  await closedLoop({ concurrency: conc, total: 300, fire });
  const a = cpuByComm();
  const r = await closedLoop({ concurrency: conc, total: 3000, fire });
  const b = cpuByComm();
  const per = new Map<string, number>();
  for (const [k, v] of b) { const d = v - (a.get(k) ?? 0); const g = k.split(":")[0]!; per.set(g, (per.get(g) ?? 0) + d); }
  console.log(`c=${conc}: ${r.rps} req/s p50 ${r.latency.p50} p99 ${r.latency.p99}; wall ${r.seconds}s`);
  for (const [g, t] of [...per].sort((x, y) => y[1] - x[1])) console.log(`  ${g.padEnd(9)} ${(t * 10 / r.requests).toFixed(3)} ms CPU/request  (${((t / 100 / r.seconds) * 100).toFixed(0)}% of a core)`);
});
