import { describe, expect, it } from "vitest";
import * as ops from "../admin/ops.ts";
import { waitFor } from "./setup/db.ts";
import { systemSuite } from "./setup/system.ts";
import { describeOf, runOf, startReceiver, type Received, type Receiver } from "./setup/receiver.ts";
import { expectWebhookShape } from "./setup/webhook-schema.ts";
import { call, ONE_JOB, TWO_JOBS } from "./setup/world.ts";

// Webhooks end to end (docs/events.md): api, worker and a runner-sim fleet as processes, a
// receiver on 127.0.0.1 that checks signatures with Octokit. For a run that succeeds, one
// that fails and one cancelled while running, the receiver hears every workflow_job and
// workflow_run action of the run, in order, exactly once per transition the outbox holds.

const SECRET = "e2e-hook-secret-0b8f";
const FAILS = `name: Fails
on: push
jobs:
  broken:
    runs-on: ubuntu-latest
    steps:
      - run: exit 3
  after:
    needs: [broken]
    runs-on: ubuntu-latest
    steps:
      - run: echo never
`;

const s = systemSuite("webhooks", {}, { WEBHOOK_ALLOW_PRIVATE: "true", WEBHOOK_BACKOFF_MS: "50", WEBHOOK_TIMEOUT_MS: "2000", EVENTS_POLL_MS: "20" });
let sha = 0;
const run = async (source: string) => ops.createRunFromSource(s.db.prisma, { repo: "alice/demo", workflowFile: ".shithub/workflows/ci.yml", headSha: (++sha).toString(16).padStart(40, "a"), source });

async function hookToken() {
  return (await ops.createToken(s.db.prisma, { user: "alice", scopes: ["repo:write", "admin:repo_hook"] })).token;
}

async function addHook(token: string, url: string) {
  const r = await call(s.api, "POST", "/api/v1/repos/alice/demo/hooks", { token, body: { url, secret: SECRET, events: ["workflow_job", "workflow_run"] } });
  expect(r.status, JSON.stringify(r.body)).toBe(201);
  return r.body.id as number;
}


/** What the outbox holds for the run, in event order, as the receiver should have heard it. */
async function transitions(runId: number): Promise<string[]> {
  const { rows } = await s.db.pool.query<{ type: string; action: string; job_id: string | null }>(
    `SELECT type::text, action, job_id::text FROM events WHERE run_id = $1 AND type <> 'intent' ORDER BY id`, [runId]);
  return rows.map((e) => `${e.type}.${e.action}${e.type === "workflow_job" ? `#${e.job_id}` : ""}`);
}

async function heardWholeRun(rec: Receiver, runId: number): Promise<Received[]> {
  await waitFor(`run ${runId}'s workflow_run.completed delivered`, async () =>
    rec.accepted().some((r) => r.event === "workflow_run" && r.payload.action === "completed" && runOf(r) === runId), 60_000);
  const want = await transitions(runId);
  // Every transition was dispatched (the run's completion is its last): now each is heard.
  await waitFor(`all ${want.length} deliveries of run ${runId}`, async () => rec.accepted().filter((r) => runOf(r) === runId).length >= want.length, 20_000);
  const heard = rec.accepted().filter((r) => runOf(r) === runId);
  expect(heard.map(describeOf)).toEqual(want);
  // GitHub's order: the run is requested first and completes last; a job queues, starts, completes.
  expect(describeOf(heard[0]!)).toBe("workflow_run.requested");
  expect(describeOf(heard.at(-1)!)).toBe("workflow_run.completed");
  for (const id of new Set(heard.filter((r) => r.event === "workflow_job").map((r) => r.payload.workflow_job.id))) {
    const actions = heard.filter((r) => r.event === "workflow_job" && r.payload.workflow_job.id === id).map((r) => r.payload.action);
    expect(["queued,in_progress,completed", "queued,completed"]).toContain(actions.join(","));
  }
  return heard;
}

function expectGitHubDeliveries(heard: Received[], hookId: number) {
  for (const r of heard) {
    expect(r.verified, `signature of ${describeOf(r)}`).toBe(true);
    expect(r.hookId).toBe(String(hookId));
    expect(r.headers["user-agent"]).toMatch(/^GitHub-Hookshot\//);
    expect(r.headers["content-type"]).toBe("application/json");
    expectWebhookShape(`${r.event.replace("_", "-")}-${r.payload.action.replace("_", "-")}`, r.payload);
  }
  expect(new Set(heard.map((r) => r.guid)).size).toBe(heard.length);
}

describe("webhooks from a real fleet", () => {
  it("a run that succeeds, one that fails and one cancelled while running: every action, in order, once each", async () => {
    const token = await hookToken();
    const rec = await startReceiver(SECRET);
    const hookId = await addHook(token, rec.url);
    try {
      const ok = await run(TWO_JOBS);
      const failed = await run(FAILS);
      const cancelled = await run(ONE_JOB);
      await waitFor("the long job to start", async () =>
        rec.accepted().some((r) => r.event === "workflow_job" && r.payload.action === "in_progress" && r.payload.workflow_job.id === cancelled.job_ids[0]), 30_000);
      const c = await call(s.api, "POST", `/api/v1/jobs/${cancelled.job_ids[0]}/cancel`, { token, body: { reason: "webhook e2e" } });
      expect(c.status).toBe(202);

      const okHeard = await heardWholeRun(rec, ok.run_id);
      expect(okHeard.at(-1)!.payload.workflow_run.conclusion).toBe("success");
      expect(okHeard.map((r) => r.payload.action).slice(0, 1)).toEqual(["requested"]);
      const failedHeard = await heardWholeRun(rec, failed.run_id);
      expect(failedHeard.at(-1)!.payload.workflow_run.conclusion).toBe("failure");
      // The failure is heard before the dependent it skips, which never ran: queued, then completed as skipped.
      const order = failedHeard.filter((r) => r.event === "workflow_job" && r.payload.action === "completed").map((r) => r.payload.workflow_job.name);
      expect(order).toEqual(["broken", "after"]);
      expect(failedHeard.filter((r) => r.event === "workflow_job" && r.payload.workflow_job.name === "after").map((r) => [r.payload.action, r.payload.workflow_job.conclusion]))
        .toEqual([["queued", null], ["completed", "skipped"]]);
      const cancelledHeard = await heardWholeRun(rec, cancelled.run_id);
      expect(cancelledHeard.at(-1)!.payload.workflow_run.conclusion).toBe("cancelled");
      for (const heard of [okHeard, failedHeard, cancelledHeard]) expectGitHubDeliveries(heard, hookId);
      // Each receiver answer was a first attempt: nothing retried, nothing sent twice.
      expect(rec.received.length).toBe(rec.accepted().length);
    } finally {
      await call(s.api, "PATCH", `/api/v1/repos/alice/demo/hooks/${hookId}`, { token, body: { active: false } });
      await rec.close();
    }
  }, 120_000);

  it("the delivery log shows what was sent and what came back, and a redelivery keeps the guid", async () => {
    const token = await hookToken();
    const rec = await startReceiver(SECRET);
    const hookId = await addHook(token, rec.url);
    try {
      const r = await run(ONE_JOB);
      await waitFor("the run's requested delivery", async () => rec.accepted().find((x) => x.event === "workflow_run" && runOf(x) === r.run_id), 30_000);
      const list = await waitFor("the delivery log to show it", async () => {
        const l = await call(s.api, "GET", `/api/v1/repos/alice/demo/hooks/${hookId}/deliveries`, { token });
        return l.body.find?.((d: any) => d.event === "workflow_run" && d.action === "requested" && d.state === "delivered");
      }, 10_000);
      const detail = await call(s.api, "GET", `/api/v1/repos/alice/demo/hooks/${hookId}/deliveries/${list.id}`, { token });
      expect(detail.status).toBe(200);
      expect(detail.body).toMatchObject({ guid: list.guid, attempts: 1, status_code: 200, request: { headers: { "X-GitHub-Event": "workflow_run" } }, response: { payload: "ok" } });
      expect(detail.body.request.payload.workflow_run.id).toBe(r.run_id);
      const again = await call(s.api, "POST", `/api/v1/repos/alice/demo/hooks/${hookId}/deliveries/${list.id}/attempts`, { token });
      expect(again.status).toBe(202);
      const twice = await waitFor("the redelivery", async () => {
        const same = rec.received.filter((x) => x.guid === list.guid);
        return same.length === 2 ? same : null;
      }, 10_000);
      expect(twice[1]!.body).toBe(twice[0]!.body);
      await call(s.api, "POST", `/api/v1/runs/${r.run_id}/force-cancel`, { token, body: {} });
    } finally {
      await call(s.api, "PATCH", `/api/v1/repos/alice/demo/hooks/${hookId}`, { token, body: { active: false } });
      await rec.close();
    }
  }, 60_000);
});
