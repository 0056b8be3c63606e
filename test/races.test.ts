import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { intentUid } from "../api/intents.ts";
import { cancelJob } from "../worker/processors/cancel-job.ts";
import { worldSuite } from "./setup/suite.ts";
import { call, claim, claimJob, ONE_JOB, pushAndRun, registerTestRunner, tokenIdOf } from "./setup/world.ts";

const s = worldSuite("races");

const ROUNDS = 25;

describe("two actors on one job", () => {
  it("cancel racing the runner's success report always ends in one consistent state", async () => {
    const runner = await registerTestRunner(s.db.prisma, "racer", ["ubuntu-latest"], 64);
    const outcomes = new Map<string, number>();
    for (let i = 0; i < ROUNDS; i++) {
      const r = await pushAndRun(s.db.prisma, "alice/demo", ONE_JOB, `beef${String(i).padStart(4, "0")}`);
      const jobId = r.job_ids[0]!;
      const claimed = await claimJob(s.stack.url, runner.token, jobId);
      const [cancel, report] = await Promise.all([
        call(s.stack.url, "POST", `/api/v1/jobs/${jobId}/cancel`, { token: s.world.tokens.bob }),
        call(s.stack.url, "POST", `/api/v1/jobs/${jobId}/status`, { token: claimed.token, body: { status: "completed", conclusion: "success" } }),
      ]);
      expect(cancel.status).toBe(202);
      expect(report.status).toBe(200);
      const job = await s.db.prisma.workflowJob.findUniqueOrThrow({ where: { id: BigInt(jobId) } });
      const run = await s.db.prisma.workflowRun.findUniqueOrThrow({ where: { id: BigInt(r.run_id) } });
      // The runner finished: success stands whichever came first, and never turns cancelled.
      expect(job).toMatchObject({ status: "completed", conclusion: "success" });
      expect(run).toMatchObject({ status: "completed", conclusion: "success" });
      // The cancel changed something only if it came before the report.
      expect(job.cancelRequested).toBe(cancel.body.changed_jobs === 1);
      const key = cancel.body.changed_jobs === 1 ? "cancel first" : "report first";
      outcomes.set(key, (outcomes.get(key) ?? 0) + 1);
    }
    expect([...outcomes.values()].reduce((a, b) => a + b, 0)).toBe(ROUNDS);
  });

  it("cancel racing a claim never leaves a cancelled job held by a runner", async () => {
    const runner = await registerTestRunner(s.db.prisma, "claimer", ["ubuntu-latest"], 64);
    for (let i = 0; i < ROUNDS; i++) {
      const r = await pushAndRun(s.db.prisma, "alice/demo", ONE_JOB, `cafe${String(i).padStart(4, "0")}`);
      const jobId = r.job_ids[0]!;
      const [cancel, hb] = await Promise.all([
        call(s.stack.url, "POST", `/api/v1/jobs/${jobId}/cancel`, { token: s.world.tokens.bob }),
        claim(s.stack.url, runner.token),
      ]);
      expect(cancel.status).toBe(202);
      expect([200, 204]).toContain(hb.status);
      const job = await s.db.prisma.workflowJob.findUniqueOrThrow({ where: { id: BigInt(jobId) } });
      const claimedIt = hb.status === 200 && hb.body.job.id === jobId;
      if (claimedIt) {
        // Claimed first: still running, flagged, and the runner learns of it.
        expect(job).toMatchObject({ status: "running", cancelRequested: true });
        const check = await call(s.stack.url, "POST", `/api/v1/jobs/${jobId}/cancel-check`, { token: hb.body.token });
        expect(check.body).toEqual({ cancelled: true, force: false });
        await call(s.stack.url, "POST", `/api/v1/jobs/${jobId}/status`, { token: hb.body.token, body: { status: "cancelled" } });
      } else {
        expect(job).toMatchObject({ status: "cancelled", conclusion: "cancelled", runnerId: null });
      }
    }
  });

  it("many cancels of one running job: one changes it, the rest are no-ops", async () => {
    const runner = await registerTestRunner(s.db.prisma, "crowd", ["ubuntu-latest"], 64);
    const r = await pushAndRun(s.db.prisma, "alice/demo", ONE_JOB, "d0d0d0d0");
    const jobId = r.job_ids[0]!;
    await claimJob(s.stack.url, runner.token, jobId);
    const answers = await Promise.all(Array.from({ length: 20 }, () => call(s.stack.url, "POST", `/api/v1/jobs/${jobId}/cancel`, { token: s.world.tokens.bob })));
    expect(answers.map((a) => a.status)).toEqual(Array(20).fill(202));
    expect(answers.filter((a) => a.body.changed_jobs === 1)).toHaveLength(1);
    expect(await s.db.prisma.lifecycleIntent.count({ where: { targetId: BigInt(jobId), kind: "cancel_job" } })).toBe(20);
  });
});

describe("one intent delivered twice", () => {
  const deps = () => ({ prisma: s.db.prisma, pool: s.db.pool, publish: async () => 0, queuePrefix: s.stack.prefix, log: pino({ level: "silent" }), holdTxMs: 0 });
  const payload = (jobId: number, actor: bigint, tokenId: number) => ({
    intentUid: intentUid("cancel-job", Number(actor), null), targetId: jobId, actorUserId: Number(actor), tokenId,
    idempotencyKey: null, requestId: null, reason: null, params: null,
  });

  it("applies once and answers the redelivery with the first result (one after the other, and at the same time)", async () => {
    const bob = await s.db.prisma.user.findUniqueOrThrow({ where: { login: "bob" } });
    for (const together of [false, true]) {
      const r = await pushAndRun(s.db.prisma, "alice/demo", ONE_JOB, together ? "dddd0002" : "dddd0001");
      const p = payload(r.job_ids[0]!, bob.id, await tokenIdOf(s.db.prisma, s.world.tokens.bob));
      const [first, second] = together
        ? await Promise.all([cancelJob(deps(), p), cancelJob(deps(), p)])
        : [await cancelJob(deps(), p), await cancelJob(deps(), p)];
      expect(first).toMatchObject({ ok: true, body: { changed_jobs: 1, run_completed: true } });
      expect(second).toEqual(first);
      expect(await s.db.prisma.lifecycleIntent.count({ where: { uid: p.intentUid } })).toBe(1);
      const changes = await s.db.prisma.jobTransition.count({ where: { jobId: BigInt(r.job_ids[0]!), toStatus: "cancelled" } });
      expect(changes).toBe(1);
    }
  });
});
