import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { inject } from "vitest";
import { expectInvariants } from "./setup/invariants.ts";
import { startAclRedis, type AclRedis } from "./setup/acl-redis.ts";
import { createTestDb, waitFor, type TestDb } from "./setup/db.ts";
import { fingerprint } from "./setup/fingerprint.ts";
import { spawnService, startStack, type Service, type Stack } from "./setup/stack.ts";
import { buildWorld, call, ONE_JOB, pushAndRun } from "./setup/world.ts";

// Real api and worker processes, as `npm run start:api` / `start:worker` run them.

let db: TestDb;
let world: Awaited<ReturnType<typeof buildWorld>>;
/** A Redis with ACLs on, for the processes not tied to startStack's in-process API (shared Redis). */
let acl: AclRedis;
const services: Service[] = [];
const prefix = `p${process.pid}${Math.random().toString(36).slice(2, 7)}`;

function env(extra: Record<string, string> = {}) {
  return { DATABASE_URL: db.url, REDIS_URL: inject("redisUrl"), QUEUE_PREFIX: prefix, ...extra };
}

function start(entry: string, extra: Record<string, string> = {}): Service {
  const s = spawnService(entry, env(extra));
  services.push(s);
  return s;
}

async function startApi(extra: Record<string, string>): Promise<string> {
  const api = start("api/server.ts", { PORT: "0", HOST: "127.0.0.1", ...extra });
  await api.waitForLine(/api listening/);
  const port = /"port":(\d+)/.exec(api.output())![1];
  return `http://127.0.0.1:${port}`;
}

beforeAll(async () => {
  db = await createTestDb("procs");
  world = await buildWorld(db.prisma);
  acl = await startAclRedis(prefix);
});
afterAll(async () => {
  // Whatever the tests did, the database must still satisfy every invariant.
  if (db) await expectInvariants(db);
  for (const s of services) await s.kill("SIGKILL");
  await acl?.stop();
  await db?.drop();
});

describe("the worker tier applies intents, not the API", () => {
  it("answers 503 after the bounded wait with no worker, then applies the intent once a worker starts", async () => {
    const url = await startApi({ RESULT_TIMEOUT_MS: "1500", REDIS_URL: acl.urls.api });
    expect(await call(url, "GET", "/healthz")).toMatchObject({ status: 200, body: { status: "ok" } });
    expect(await call(url, "GET", "/readyz")).toMatchObject({ status: 200, body: { status: "ready" } });
    const r = await pushAndRun(db.prisma, "alice/demo", ONE_JOB, "abcd0001");
    const jobId = r.job_ids[0]!;
    const before = await fingerprint(db.pool);
    const started = Date.now();
    const res = await call(url, "POST", `/api/v1/jobs/${jobId}/cancel`, { token: world.tokens.bob });
    const waited = Date.now() - started;
    expect(res.status).toBe(503);
    expect(Number(res.headers.get("retry-after"))).toBeGreaterThan(0);
    expect(res.body.error).toMatch(/queued/);
    expect(waited).toBeGreaterThanOrEqual(1400);
    expect(await fingerprint(db.pool)).toBe(before);

    const worker = start("worker/main.ts", { REDIS_URL: acl.urls.worker });
    await worker.waitForLine(/worker ready/);
    await waitFor("the queued intent to be applied", async () => {
      const j = await db.prisma.workflowJob.findUniqueOrThrow({ where: { id: BigInt(jobId) } });
      return j.status === "cancelled";
    });
    expect(await db.prisma.lifecycleIntent.count({ where: { targetId: BigInt(jobId) } })).toBe(1);
    await worker.waitForLine(/"msg":"intent applied"/);
    expect(await worker.kill("SIGTERM")).toBe(0);
  });
});

describe("a worker killed in the middle of an intent", () => {
  let stack: Stack;
  afterAll(async () => stack?.stop());

  it("leaves nothing half applied, and another worker applies the intent exactly once", async () => {
    stack = await startStack(db, { withWorker: false, resultTimeoutMs: 30_000 });
    const fast = { WORKER_LOCK_DURATION_MS: "2000", WORKER_STALLED_INTERVAL_MS: "1000", QUEUE_PREFIX: stack.prefix };
    const r = await pushAndRun(db.prisma, "alice/demo", ONE_JOB, "abcd0002");
    const jobId = r.job_ids[0]!;
    const doomed = start("worker/main.ts", { ...fast, FAULT_HOLD_TX_MS: "60000" });
    await doomed.waitForLine(/worker ready/);
    const before = await fingerprint(db.pool);

    const pending = call(stack.url, "POST", `/api/v1/jobs/${jobId}/cancel`, { token: world.tokens.bob });
    await doomed.waitForLine(/holding transaction before commit/);
    // Written but not committed: nothing is visible yet.
    expect(await fingerprint(db.pool)).toBe(before);
    await doomed.kill("SIGKILL");
    // The database drops the dead worker's transaction.
    await waitFor("the dead worker's session to end", async () => {
      const q = await db.pool.query("SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1 AND state LIKE 'idle in transaction%'", [db.name]);
      return q.rows[0].n === 0;
    });
    expect(await fingerprint(db.pool)).toBe(before);

    const rescuer = start("worker/main.ts", fast);
    await rescuer.waitForLine(/worker ready/);
    const res = await pending;
    expect(res.status).toBe(202);
    expect(res.body).toMatchObject({ job_id: jobId, changed_jobs: 1, run_completed: true, run_conclusion: "cancelled" });
    expect(await db.prisma.lifecycleIntent.count({ where: { targetId: BigInt(jobId) } })).toBe(1);
    expect(await db.prisma.workflowJob.findUniqueOrThrow({ where: { id: BigInt(jobId) } })).toMatchObject({ status: "cancelled" });
    expect(await rescuer.kill("SIGTERM")).toBe(0);
  });
});

describe("a worker stopped with SIGTERM under load", () => {
  let stack: Stack;
  afterAll(async () => stack?.stop());

  it("finishes what it holds, exits 0, and loses no intent", async () => {
    stack = await startStack(db, { withWorker: false, resultTimeoutMs: 60_000 });
    const env = { QUEUE_PREFIX: stack.prefix, WORKER_CONCURRENCY: "4" };
    const first = start("worker/main.ts", env);
    await first.waitForLine(/worker ready/);
    const jobs: number[] = [];
    for (let i = 0; i < 120; i++) jobs.push((await pushAndRun(db.prisma, "alice/demo", ONE_JOB, `5e${String(i).padStart(6, "0")}`)).job_ids[0]!);
    const answers = Promise.all(jobs.map((id) => call(stack.url, "POST", `/api/v1/jobs/${id}/cancel`, { token: world.tokens.bob })));
    await first.waitForLine(/"msg":"intent applied"/);
    expect(await first.kill("SIGTERM")).toBe(0);
    expect(first.output()).toMatch(/"phase":"drain in-flight intents","msg":"shutdown phase done"/);
    const second = start("worker/main.ts", env);
    const results = await answers;
    expect(results.map((r) => r.status)).toEqual(Array(jobs.length).fill(202));
    expect(results.every((r) => r.body.changed_jobs === 1)).toBe(true);
    const applied = await db.prisma.lifecycleIntent.groupBy({ by: ["targetId"], where: { targetId: { in: jobs.map(BigInt) } }, _count: true });
    expect(applied).toHaveLength(jobs.length);
    expect(applied.every((a) => a._count === 1)).toBe(true);
    expect(await second.kill("SIGTERM")).toBe(0);
  });
});
