import { describe, expect, it } from "vitest";
import * as ops from "../admin/ops.ts";
import { worldSuite } from "./setup/suite.ts";
import { call, claim, claimJob, registerTestRunner } from "./setup/world.ts";

// `concurrency:` (docs/lifecycle.md, "Concurrency groups"): the claim query makes a newer run of a group wait for
// the older one; cancel-in-progress cancels the older one at creation; job-level groups.

const s = worldSuite("concurrency");

const source = (concurrency: string, jobConcurrency = "") => `name: Deploy
on: push
${concurrency}jobs:
  only:
${jobConcurrency}    runs-on: ubuntu-latest
    steps:
      - run: sleep 600
`;
let n = 0;
const newRun = (src: string, repo = "alice/demo", ref = "refs/heads/main") =>
  ops.createRunFromSource(s.db.prisma, { repo, workflowFile: ".shithub/workflows/deploy.yml", headSha: (++n).toString(16).padStart(40, "c"), source: src, ref });
const run = (id: number) => s.db.prisma.workflowRun.findUniqueOrThrow({ where: { id: BigInt(id) } });
const job = (id: number) => s.db.prisma.workflowJob.findUniqueOrThrow({ where: { id: BigInt(id) } });
const finish = (jobId: number, token: string) => call(s.stack.url, "POST", `/api/v1/jobs/${jobId}/status`, { token, body: { status: "completed", conclusion: "success" } });

describe("concurrency groups", () => {
  it("stores the resolved group, and a newer run waits until the older run of its group completes", async () => {
    const src = source("concurrency: deploy-${{ github.ref }}-${{ github.workflow }}\n");
    const older = await newRun(src, "alice/secret");
    const newer = await newRun(src, "alice/secret");
    const otherRef = await newRun(src, "alice/secret", "refs/heads/feature");
    expect(await run(older.run_id)).toMatchObject({ concurrencyGroup: "deploy-refs/heads/main-Deploy", cancelInProgress: false });
    expect(await run(otherRef.run_id)).toMatchObject({ concurrencyGroup: "deploy-refs/heads/feature-Deploy" });

    const runner = await registerTestRunner(s.db.prisma, "conc-1", ["ubuntu-latest"], 10);
    const first = await claimJob(s.stack.url, runner.token, older.job_ids[0]!);
    // The newer run of the same group is not claimable; the other ref's run is.
    const second = await claim(s.stack.url, runner.token);
    expect(second.body.job.id).toBe(otherRef.job_ids[0]);
    expect((await claim(s.stack.url, runner.token)).status).toBe(204);
    expect(await job(newer.job_ids[0]!)).toMatchObject({ status: "queued" });

    expect((await finish(older.job_ids[0]!, first.token)).status).toBe(200);
    expect(await run(older.run_id)).toMatchObject({ status: "completed" });
    const third = await claim(s.stack.url, runner.token);
    expect(third.body.job.id).toBe(newer.job_ids[0]);
    await finish(newer.job_ids[0]!, third.body.token);
    await finish(otherRef.job_ids[0]!, second.body.token);
  });

  it("cancel-in-progress cancels the older open runs of the group at creation", async () => {
    const src = source("concurrency:\n  group: ship\n  cancel-in-progress: true\n");
    const queued = await newRun(src, "alice/other");
    const runner = await registerTestRunner(s.db.prisma, "conc-2", ["ubuntu-latest"], 10);
    const running = await newRun(src, "alice/other");
    // `queued` is superseded by `running` at once; then `running` is claimed.
    expect(await run(queued.run_id)).toMatchObject({ status: "completed", conclusion: "cancelled" });
    expect(await job(queued.job_ids[0]!)).toMatchObject({ status: "cancelled", cancelReason: `superseded by run #${running.run_index} (concurrency group "ship")` });
    const c = await claimJob(s.stack.url, runner.token, running.job_ids[0]!);

    const latest = await newRun(src, "alice/other");
    // A running job is asked to stop (its runner learns through cancel-check); the new run waits for it.
    expect(await job(running.job_ids[0]!)).toMatchObject({ status: "running", cancelRequested: true });
    expect((await call(s.stack.url, "POST", `/api/v1/jobs/${running.job_ids[0]}/cancel-check`, { token: c.token })).body).toEqual({ cancelled: true, force: false });
    expect((await claim(s.stack.url, runner.token)).status).toBe(204);
    expect((await call(s.stack.url, "POST", `/api/v1/jobs/${running.job_ids[0]}/status`, { token: c.token, body: { status: "cancelled" } })).status).toBe(200);
    const next = await claim(s.stack.url, runner.token);
    expect(next.body.job.id).toBe(latest.job_ids[0]);
    await finish(latest.job_ids[0]!, next.body.token);
    expect(await run(latest.run_id)).toMatchObject({ status: "completed", conclusion: "success" });
  });

  it("a job in a group is not claimed while another job of the group runs in the repository", async () => {
    const src = source("", "    concurrency: db-migrate\n");
    const a = await newRun(src, "alice/old");
    const b = await newRun(src, "alice/old");
    expect(await job(a.job_ids[0]!)).toMatchObject({ concurrencyGroup: "db-migrate", cancelInProgress: false });
    const runner = await registerTestRunner(s.db.prisma, "conc-3", ["ubuntu-latest"], 10);
    const first = await claimJob(s.stack.url, runner.token, a.job_ids[0]!);
    expect((await claim(s.stack.url, runner.token)).status).toBe(204);
    await finish(a.job_ids[0]!, first.token);
    const second = await claim(s.stack.url, runner.token);
    expect(second.body.job.id).toBe(b.job_ids[0]);

    // Job-level cancel-in-progress cancels the older job of the group.
    const c = await newRun(source("", "    concurrency: {group: db-migrate, cancel-in-progress: true}\n"), "alice/old");
    expect(await job(b.job_ids[0]!)).toMatchObject({ status: "running", cancelRequested: true });
    expect((await call(s.stack.url, "POST", `/api/v1/jobs/${b.job_ids[0]}/status`, { token: second.body.token, body: { status: "cancelled" } })).status).toBe(200);
    const third = await claim(s.stack.url, runner.token);
    expect(third.body.job.id).toBe(c.job_ids[0]);
    await finish(c.job_ids[0]!, third.body.token);
  });

  it("refuses a workflow with an unsupported expression in its group", async () => {
    await expect(newRun(source("concurrency: ${{ github.actor }}\n"))).rejects.toThrow(/unsupported expression/);
  });
});
