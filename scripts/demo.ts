import { spawn } from "node:child_process";
import { z } from "zod";
import { commonEnv, parseConfig } from "../infra/config.ts";
import { createPrisma } from "../infra/db.ts";
import { demoRun, seedDemo } from "./seed.ts";
import { failClearly, probeRedis } from "../infra/deps.ts";
import { probeServer } from "../prisma/migrate.ts";

failClearly("demo");

// `npm run demo`: a scripted scenario against a running system (started here if none
// answers): trigger a run, cancel its running job, watch the run complete cancelled,
// rerun it, and print each response and the measured cancel propagation.

const cfg = parseConfig(commonEnv.extend({ API_URL: z.url().default("http://127.0.0.1:3000") }));
const api = cfg.API_URL;
const up = () => fetch(`${api}/readyz`).then((r) => r.ok, () => false);

async function until<T>(what: string, probe: () => Promise<T | null | undefined | false>, timeoutMs = 60_000, everyMs = 5): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

async function ensureSystem(): Promise<(() => void) | null> {
  if (await up()) return null;
  console.log(`no system answers at ${api}: starting one (npm start)…`);
  const child = spawn(process.execPath, ["--import", "tsx", "scripts/start.ts"], { stdio: "ignore", env: { ...process.env, LOG_PRETTY: "false" } });
  await until("the system to start", up, 120_000, 200);
  return () => child.kill("SIGTERM");
}

async function main() {
  // Both answer before a system is started here, whose output is not shown (docs/decisions.md, "Failing clearly").
  await Promise.all([probeServer(cfg.DATABASE_URL), probeRedis(cfg.REDIS_URL)]);
  const stop = await ensureSystem();
  const prisma = createPrisma(cfg.DATABASE_URL, 2);
  try {
    const { token } = await seedDemo(prisma);
    const auth = { authorization: `Bearer ${token}` };
    const get = async (path: string) => (await fetch(api + path, { headers: auth })).json() as Promise<Record<string, any>>;
    const post = async (path: string) => {
      const r = await fetch(api + path, { method: "POST", headers: auth });
      return { status: r.status, body: (await r.json()) as Record<string, any>, at: performance.now() };
    };

    const run = await demoRun(prisma);
    const testJob = run.job_ids[1]!;
    console.log(`1. triggered run ${run.run_id} (jobs ${run.job_ids.join(", ")}); waiting for job ${testJob} to run…`);
    await until("the test job to start its long step", async () => {
      const j = await get(`/api/v1/jobs/${testJob}`);
      return j.status === "running" && j.steps[0]?.status === "running";
    });
    console.log(`2. job ${testJob} is running its 'sleep 600' container`);

    const cancel = await post(`/api/v1/jobs/${testJob}/cancel`);
    console.log(`3. POST /api/v1/jobs/${testJob}/cancel → ${cancel.status}`, JSON.stringify(cancel.body));
    const ended = await until("the job to end", async () => {
      const j = await get(`/api/v1/jobs/${testJob}`);
      return j.status === "cancelled" ? j : null;
    }, 30_000, 1);
    const propagation = performance.now() - cancel.at;
    console.log(`4. job ${testJob} is ${ended.status}/${ended.conclusion}, steps: ${ended.steps.map((s: any) => `${s.name}=${s.status}`).join(", ")}`);
    console.log(`   cancel propagation (202 → container stopped → terminal status visible through the API): ${propagation.toFixed(1)} ms`);
    const finished = await get(`/api/v1/runs/${run.run_id}`);
    console.log(`5. run ${run.run_id} is ${finished.status}/${finished.conclusion}`);

    const rerun = await post(`/api/v1/runs/${run.run_id}/rerun`);
    console.log(`6. POST /api/v1/runs/${run.run_id}/rerun → ${rerun.status}`, JSON.stringify(rerun.body));
    const again = await until("the rerun's build job to succeed", async () => {
      const r = await get(`/api/v1/runs/${rerun.body.run_id}`);
      return r.jobs[0]?.conclusion === "success" ? r : null;
    }, 60_000, 50);
    console.log(`7. rerun ${again.id} (run_index ${again.run_index}): build ${again.jobs[0].conclusion}; cancelling its long test job to clean up`);
    await post(`/api/v1/jobs/${again.jobs[1].id}/cancel`);
  } finally {
    await prisma.$disconnect();
    stop?.();
  }
}

await main();
