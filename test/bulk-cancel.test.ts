import { describe, expect, it } from "vitest";
import * as ops from "../admin/ops.ts";
import { BULK_BODY_REQUIRED } from "../api/routes/bulk.ts";
import { cancelChannel, cancelSignal } from "../domain/contracts.ts";
import { waitFor } from "./setup/db.ts";
import { worldSuite } from "./setup/suite.ts";
import { call, claimJob, ONE_JOB, registerTestRunner } from "./setup/world.ts";

// Bulk cancel (docs/api.md, "Cancel in bulk"): POST /api/v1/repos/{owner}/{repo}/actions/runs/cancel.

const s = worldSuite("bulk-cancel");

const PATH = (repo = "alice/demo") => `/api/v1/repos/${repo}/actions/runs/cancel`;
const bulk = (token: string | undefined, body?: unknown, o: { repo?: string; headers?: Record<string, string> } = {}) =>
  call(s.stack.url, "POST", PATH(o.repo), { token, body, headers: o.headers });

let sha = 0;
/** A run of `file` (a name under .shithub/workflows/) on `ref`. */
async function newRun(file: string, ref = "refs/heads/main", repo = "alice/demo") {
  sha++;
  return ops.createRunFromSource(s.db.prisma, {
    repo, workflowFile: `.shithub/workflows/${file}`, headSha: sha.toString(16).padStart(40, "b"), source: ONE_JOB, ref,
  });
}
const run = (id: number) => s.db.prisma.workflowRun.findUniqueOrThrow({ where: { id: BigInt(id) } });
const jobOf = (runId: number) => s.db.prisma.workflowJob.findFirstOrThrow({ where: { runId: BigInt(runId) } });

describe("bulk cancel", () => {
  it("flags running runs, ends queued ones, signals runners after commit, stores the reason", async () => {
    const running = await newRun("signal.yml");
    const queued = await newRun("signal.yml");
    const runner = await registerTestRunner(s.db.prisma, "bulk-runner");
    await claimJob(s.stack.url, runner.token, running.job_ids[0]!);

    const sub = s.stack.redis.duplicate();
    const messages: string[] = [];
    await sub.subscribe(cancelChannel(s.stack.prefix));
    sub.on("message", (_c, m) => messages.push(m));

    const res = await bulk(s.world.tokens.bob, { workflow_file: "signal.yml", reason: "superseded" });
    expect(res.status).toBe(202);
    expect(res.body).toEqual({
      repo_id: s.world.repos.pub.id,
      dry_run: false,
      matched_runs: [
        { id: running.run_id, run_index: running.run_index, status: "running", workflow_file: ".shithub/workflows/signal.yml", head_ref: "refs/heads/main" },
        { id: queued.run_id, run_index: queued.run_index, status: "queued", workflow_file: ".shithub/workflows/signal.yml", head_ref: "refs/heads/main" },
      ],
      changed_jobs: 2,
    });
    expect(await jobOf(running.run_id)).toMatchObject({ status: "running", cancelRequested: true, cancelReason: "superseded" });
    expect(await jobOf(queued.run_id)).toMatchObject({ status: "cancelled", conclusion: "cancelled", cancelReason: "superseded" });
    expect(await run(queued.run_id)).toMatchObject({ status: "completed", conclusion: "cancelled" });
    const msg = cancelSignal.parse(JSON.parse(await waitFor("cancel signal", async () => messages[0])));
    expect(msg).toMatchObject({ job_id: running.job_ids[0], run_id: running.run_id, runner_id: runner.id });
    sub.disconnect();

    const intents = await s.db.prisma.lifecycleIntent.findMany({ where: { kind: "bulk_cancel" } });
    expect(intents).toHaveLength(1);
    expect(intents[0]).toMatchObject({ targetId: BigInt(s.world.repos.pub.id), state: "applied", reason: "superseded" });

    // Again: the running run still matches (it is still running), nothing changes.
    const again = await bulk(s.world.tokens.bob, { workflow_file: "signal.yml" });
    expect(again.body).toMatchObject({ matched_runs: [{ id: running.run_id, status: "running" }], changed_jobs: 0 });
  });

  it("dry_run answers 200 with the matches and changes nothing", async () => {
    const a = await newRun("dry.yml");
    const b = await newRun("dry.yml");
    const before = await s.db.prisma.lifecycleIntent.count();
    const res = await bulk(s.world.tokens.alice, { workflow_file: ".shithub/workflows/dry.yml", dry_run: true });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ repo_id: s.world.repos.pub.id, dry_run: true, changed_jobs: 0 });
    expect(res.body.matched_runs.map((r: { id: number }) => r.id)).toEqual([a.run_id, b.run_id]);
    expect(await run(a.run_id)).toMatchObject({ status: "queued" });
    expect(await jobOf(b.run_id)).toMatchObject({ status: "queued", cancelRequested: false });
    expect(await s.db.prisma.lifecycleIntent.count()).toBe(before);
  });

  it("filters by head_ref, status and created_before, and honours limit oldest first", async () => {
    const main1 = await newRun("filters.yml");
    const feat = await newRun("filters.yml", "refs/heads/feature");
    const main2 = await newRun("filters.yml");
    const main3 = await newRun("filters.yml");
    const ids = (r: { body: { matched_runs: { id: number }[] } }) => r.body.matched_runs.map((m) => m.id);

    expect(ids(await bulk(s.world.tokens.bob, { workflow_file: "filters.yml", head_ref: "feature", dry_run: true }))).toEqual([feat.run_id]);
    expect(ids(await bulk(s.world.tokens.bob, { workflow_file: "filters.yml", status: "running", dry_run: true }))).toEqual([]);
    expect(ids(await bulk(s.world.tokens.bob, { workflow_file: "filters.yml", limit: 2, dry_run: true }))).toEqual([main1.run_id, feat.run_id]);

    const cut = new Date(Date.now() + 1000).toISOString();
    expect(ids(await bulk(s.world.tokens.bob, { workflow_file: "filters.yml", created_before: cut, dry_run: true }))).toHaveLength(4);
    expect(ids(await bulk(s.world.tokens.bob, { workflow_file: "filters.yml", created_before: "2000-01-01T00:00:00+02:00", dry_run: true }))).toEqual([]);

    const res = await bulk(s.world.tokens.bob, { workflow_file: "filters.yml", head_ref: "refs/heads/main", limit: 2 });
    expect(res.status).toBe(202);
    expect(ids(res)).toEqual([main1.run_id, main2.run_id]);
    expect(res.body.changed_jobs).toBe(2);
    expect(await run(main1.run_id)).toMatchObject({ status: "completed", conclusion: "cancelled" });
    expect(await run(main2.run_id)).toMatchObject({ status: "completed", conclusion: "cancelled" });
    expect(await run(main3.run_id)).toMatchObject({ status: "queued" });
    expect(await run(feat.run_id)).toMatchObject({ status: "queued" });
  });

  it("an Idempotency-Key repeat answers the first answer and records one intent", async () => {
    const r1 = await newRun("idem.yml");
    const headers = { "Idempotency-Key": "bulk-idem-1" };
    const first = await bulk(s.world.tokens.bob, { workflow_file: "idem.yml" }, { headers });
    expect(first.status).toBe(202);
    expect(first.body).toMatchObject({ matched_runs: [{ id: r1.run_id, status: "queued" }], changed_jobs: 1 });
    const r2 = await newRun("idem.yml");
    const again = await bulk(s.world.tokens.bob, { workflow_file: "idem.yml" }, { headers });
    expect(again).toMatchObject({ status: 202, body: first.body });
    expect(await run(r2.run_id)).toMatchObject({ status: "queued" });
    expect(await s.db.prisma.lifecycleIntent.count({ where: { idempotencyKey: "bulk-idem-1" } })).toBe(1);
    // The same key for another repository is refused.
    const other = await bulk(s.world.tokens.alice, {}, { repo: "alice/other", headers: { "Idempotency-Key": "bulk-idem-2" } });
    expect(other.status).toBe(202);
    const conflict = await bulk(s.world.tokens.alice, {}, { headers: { "Idempotency-Key": "bulk-idem-2" } });
    expect(conflict.status).toBe(422);
    // Without a key, a repeat is applied again, and changes nothing.
    const plain = await bulk(s.world.tokens.bob, { workflow_file: "idem.yml", status: "queued" });
    expect(plain.body).toMatchObject({ matched_runs: [{ id: r2.run_id }], changed_jobs: 1 });
    expect((await bulk(s.world.tokens.bob, { workflow_file: "idem.yml" })).body).toMatchObject({ matched_runs: [], changed_jobs: 0 });
  });

  it("follows the permission matrix", async () => {
    const r = await newRun("perm.yml");
    const body = { workflow_file: "perm.yml", dry_run: true };
    expect((await bulk(undefined, body)).status).toBe(401);
    const scope = await bulk(s.world.tokens.bobRead, body);
    expect(scope).toMatchObject({ status: 403, body: { error: "token lacks required scope: repo:write" } });
    // Read role, and no role on a public repository: 403.
    expect(await bulk(s.world.tokens.carol, body)).toMatchObject({ status: 403, body: { error: "write permission required" } });
    expect(await bulk(s.world.tokens.dave, body)).toMatchObject({ status: 403, body: { error: "write permission required" } });
    // Private without a role, token bound to another repository, unknown repository or owner: 404.
    expect(await bulk(s.world.tokens.dave, body, { repo: "alice/secret" })).toMatchObject({ status: 404, body: { error: "repository not found" } });
    expect(await bulk(s.world.tokens.aliceBoundOther, body)).toMatchObject({ status: 404, body: { error: "repository not found" } });
    expect((await bulk(s.world.tokens.alice, body, { repo: "alice/nope" })).status).toBe(404);
    expect((await bulk(s.world.tokens.alice, body, { repo: "nobody/demo" })).status).toBe(404);
    // Archived: write role, but nothing may change.
    await s.db.prisma.repo.update({ where: { id: BigInt(s.world.repos.archived.id) }, data: { isArchived: true } });
    expect(await bulk(s.world.tokens.bob, {}, { repo: "alice/old" })).toMatchObject({ status: 403, body: { error: "write permission required" } });
    // Owner and write collaborator may; the run is untouched by every refusal above.
    expect(await run(r.run_id)).toMatchObject({ status: "queued" });
    expect((await bulk(s.world.tokens.alice, body)).status).toBe(200);
    expect((await bulk(s.world.tokens.bob, { workflow_file: "perm.yml" })).status).toBe(202);
    expect(await run(r.run_id)).toMatchObject({ status: "completed", conclusion: "cancelled" });
  });

  it("refuses bad bodies with 400", async () => {
    const bad = [
      { nope: 1 },
      { limit: 0 },
      { limit: 501 },
      { limit: 1.5 },
      { status: "completed" },
      { status: "cancelled" },
      { created_before: "yesterday" },
      { created_before: "2026-01-01" },
      { dry_run: "yes" },
      { reason: "x".repeat(501) },
      { workflow_file: "" },
    ];
    for (const body of bad) {
      const res = await bulk(s.world.tokens.bob, body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.body.error).toEqual(expect.any(String));
    }
    expect((await bulk(s.world.tokens.bob, { nope: 1 })).body).toEqual({ error: "unknown field: nope" });
    expect((await call(s.stack.url, "POST", PATH(), { token: s.world.tokens.bob, body: [1] })).status).toBe(400);
    expect((await bulk(s.world.tokens.bob, {}, { headers: { "Idempotency-Key": "bad key" } })).status).toBe(400);
  });

  it("refuses a bulk cancel without a body (400, nothing changed); {} explicitly cancels every open run", async () => {
    const a = await newRun("nobody.yml", "refs/heads/main", "alice/other");
    const before = await s.db.prisma.lifecycleIntent.count();
    const refusal = { status: 400, body: { error: BULK_BODY_REQUIRED } };
    // A bare POST, and an empty body that says it is JSON, for real and as a dry run.
    expect(await call(s.stack.url, "POST", PATH("alice/other"), { token: s.world.tokens.alice })).toMatchObject(refusal);
    expect(await call(s.stack.url, "POST", PATH("alice/other"), { token: s.world.tokens.alice, raw: "" })).toMatchObject(refusal);
    expect(await call(s.stack.url, "POST", PATH("alice/other"), { token: s.world.tokens.alice, headers: { "Idempotency-Key": "bulk-nobody" } })).toMatchObject(refusal);
    expect(BULK_BODY_REQUIRED).toContain("{}");
    expect(await run(a.run_id)).toMatchObject({ status: "queued" });
    expect(await s.db.prisma.lifecycleIntent.count()).toBe(before);
    // `{}` is the default filter set (limit 100, every open run).
    const all = await bulk(s.world.tokens.alice, {}, { repo: "alice/other" });
    expect(all).toMatchObject({ status: 202, body: { matched_runs: [{ id: a.run_id }], changed_jobs: 1 } });
    expect(await run(a.run_id)).toMatchObject({ status: "completed", conclusion: "cancelled" });
  });
});
