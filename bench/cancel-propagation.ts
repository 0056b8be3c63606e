import os from "node:os";
import * as ops from "../admin/ops.ts";
import { stats, wallClock, withBench } from "./harness.ts";

// Cancel propagation on running jobs held by the runner simulator: from the 202 to
// (a) the container process gone and (b) the job's terminal status committed, one
// cancel at a time. `npm run bench:cancel [-- N]` (default 200).

const N = Number(process.argv[2] ?? 200);
const BATCH = 20;
const WARMUP = 10;

type Event = { msg: string; job_id?: number; at?: number };

await withBench("cancel", async (b) => {
  const sim = await b.start("sim", "runner-sim/main.ts", {
    API_URL: b.api, RUNNERS: "4", RUNNER_CAPACITY: String(BATCH), HEARTBEAT_MS: "50", CANCEL_GRACE_MS: "5000", LOG_LEVEL: "info",
  }, /fleet ready/);
  const events = new Map<string, Event>();
  let seen = 0;
  const scan = () => {
    const lines = sim.output().split("\n");
    for (; seen < lines.length - 1; seen++) {
      const l = lines[seen]!;
      if (!l.startsWith("{")) continue;
      const e = JSON.parse(l) as Event;
      if (e.job_id !== undefined) events.set(`${e.msg}:${e.job_id}`, e);
    }
  };
  const waitEvent = async (msg: string, jobId: number): Promise<Event> => {
    for (const deadline = Date.now() + 30_000; Date.now() < deadline; ) {
      scan();
      const e = events.get(`${msg}:${jobId}`);
      if (e) return e;
      await new Promise((r) => setTimeout(r, 2));
    }
    throw new Error(`no "${msg}" for job ${jobId}`);
  };
  const wf = "jobs:\n" + Array.from({ length: BATCH }, (_, i) => `  j${i}:\n    steps: [{run: sleep 600}]\n`).join("");
  const gone: number[] = [];
  const committed: number[] = [];
  const fromSend: number[] = [];
  let batchNo = 0;
  while (gone.length < N) {
    const run = await ops.createRunFromSource(b.prisma, { repo: "bench/repo", workflowFile: ".shithub/workflows/c.yml", headSha: `c${String(batchNo++).padStart(7, "0")}`, source: wf });
    for (const id of run.job_ids) await waitEvent("container started", id);
    for (const id of run.job_ids) {
      const sent = wallClock();
      const r = await fetch(`${b.api}/api/v1/jobs/${id}/cancel`, { method: "POST", headers: { authorization: `Bearer ${b.token}` } });
      const answered = wallClock();
      if (r.status !== 202) throw new Error(`cancel answered ${r.status}`);
      const stopped = await waitEvent("container stopped", id);
      const finished = await waitEvent("job finished", id);
      if (batchNo === 1 && run.job_ids.indexOf(id) < WARMUP) continue;
      gone.push(stopped.at! - answered);
      committed.push(finished.at! - answered);
      fromSend.push(stopped.at! - sent);
    }
  }
  console.log(JSON.stringify({ machine: { cpus: os.cpus().length, node: process.version } }));
  console.table({
    "202 → container gone (ms)": stats(gone),
    "202 → terminal status committed (ms)": stats(committed),
    "request sent → container gone (ms)": stats(fromSend),
  });
});
