import { Queue } from "bullmq";
import { describe, expect, it } from "vitest";
import * as ops from "../admin/ops.ts";
import { QUEUE_NAME } from "../domain/contracts.ts";
import { TOKEN_TARGET_SQL } from "../domain/data/access.ts";
import { endedMessage } from "../domain/data/steps.ts";
import type { PoolSql, Sql } from "../infra/sql.ts";
import { LOG_BATCH_BYTES, LOG_BATCH_CHUNKS } from "../api/routes/read.ts";
import { fingerprint } from "./setup/fingerprint.ts";
import { worldSuite } from "./setup/suite.ts";
import { call, claimJob, ONE_JOB, registerTestRunner } from "./setup/world.ts";

// docs/security.md, "Bodies, strings and logs": bodies that are not JSON (415), NUL in strings that
// reach SQL (400), log chunks normalised before they are stored and compared, the log limit
// per job (413), and reads that authorize before they read (the same work for a private
// target as for a missing one). The streamed read's memory: trust-io-rss.test.ts.

const LIMIT = 8192;

/** Every plain-SQL statement the API ran while `recording` is set: its text and what it returned. */
let recording: { text: string; rows: number; bytes: number }[] | null = null;
function counting(inner: PoolSql): PoolSql {
  const wrap = (sql: Sql): Sql => ({
    rows: async <T>(text: string, params: readonly unknown[]) => {
      const rows = await sql.rows<T>(text, params);
      recording?.push({ text, rows: rows.length, bytes: Buffer.byteLength(JSON.stringify(rows)) });
      return rows;
    },
  });
  return { ...wrap(inner), tx: (fn, timeoutMs) => inner.tx((sql) => fn(wrap(sql)), timeoutMs) };
}

const s = worldSuite("trust-io", { logMaxBytesPerJob: LIMIT, wrapSql: counting });

let lane = 0;
/** A fresh run on `repo` with one two-step job, claimed by a runner of its own. */
async function claimed(repo = "alice/demo") {
  lane++;
  const label = `tio-lane-${lane}`;
  const run = await ops.createRunFromSource(s.db.prisma, {
    repo, workflowFile: ".shithub/workflows/ci.yml", headSha: `7e57${String(lane).padStart(36, "0")}`,
    source: `jobs:\n  t:\n    runs-on: ${label}\n    steps: [{name: first, run: echo a}, {name: second, run: echo b}]\n`,
  });
  const runner = await registerTestRunner(s.db.prisma, `tio-${lane}`, [label], 4);
  const c = await claimJob(s.stack.url, runner.token, run.job_ids[0]!);
  return { runId: run.run_id, jobId: c.job.id, token: c.token, runnerToken: runner.token, runnerId: runner.id, steps: c.job.steps.map((x) => x.id) };
}

/** A request with exactly these bytes and headers (fetch adds no Content-Type to a byte body). */
async function raw(method: string, path: string, o: { token?: string; type?: string; body?: string } = {}) {
  const headers: Record<string, string> = {};
  if (o.token) headers.authorization = `Bearer ${o.token}`;
  if (o.type) headers["content-type"] = o.type;
  const r = await fetch(s.stack.url + path, { method, headers, body: o.body === undefined ? undefined : new TextEncoder().encode(o.body) });
  const text = await r.text();
  return { status: r.status, body: (r.headers.get("content-type") ?? "").includes("json") ? JSON.parse(text) : text };
}

/** Intents in the queue, in any state (finished ones stay 24 h). */
async function queued(): Promise<number> {
  const conn = s.stack.redis.duplicate();
  const q = new Queue(QUEUE_NAME, { connection: conn, prefix: s.stack.prefix });
  try {
    const counts = await q.getJobCounts("waiting", "active", "completed", "failed", "delayed", "prioritized", "waiting-children");
    return Object.values(counts).reduce((x, y) => x + y, 0);
  } finally {
    await q.close();
    conn.disconnect();
  }
}

const intents = async () => (await s.db.pool.query<{ n: number }>("SELECT count(*)::int AS n FROM lifecycle_intents")).rows[0]!.n;
const BULK = "/api/v1/repos/alice/demo/actions/runs/cancel";
const UNSUPPORTED = { error: "Content-Type must be application/json" };

describe("bodies that are not JSON (415)", () => {
  it("refuses a form-encoded bulk cancel and cancels nothing (the demonstrated attack)", async () => {
    await ops.createRunFromSource(s.db.prisma, { repo: "alice/demo", workflowFile: ".shithub/workflows/ci.yml", headSha: "f0f0".padEnd(40, "0"), source: ONE_JOB, ref: "refs/heads/feature" });
    const before = [await fingerprint(s.db.pool), await queued()];
    for (const type of ["application/x-www-form-urlencoded", "text/plain", "multipart/form-data; boundary=x", "application/merge-patch+json", undefined]) {
      const r = await raw("POST", BULK, { token: s.world.tokens.alice, type, body: type?.startsWith("application/x-www") ? "head_ref=feature&dry_run=true" : '{"dry_run":true}' });
      expect(r, String(type)).toEqual({ status: 415, body: UNSUPPORTED });
    }
    expect([await fingerprint(s.db.pool), await queued()]).toEqual(before);
    // The same request as JSON is the real bulk cancel, and shows in the queue.
    const real = await call(s.stack.url, "POST", BULK, { token: s.world.tokens.alice, body: { head_ref: "feature" } });
    expect(real).toMatchObject({ status: 202, body: { dry_run: false, matched_runs: [{ head_ref: "refs/heads/feature" }] } });
    expect(await queued()).toBe((before[1] as number) + 1);
  });

  it("refuses a text/plain JSON-looking body on a job cancel, and a bare POST still cancels", async () => {
    const j = await claimed();
    const before = await fingerprint(s.db.pool);
    const r = await raw("POST", `/api/v1/jobs/${j.jobId}/cancel`, { token: s.world.tokens.alice, type: "text/plain", body: '{"reason":"x"}' });
    expect(r).toEqual({ status: 415, body: UNSUPPORTED });
    expect(await fingerprint(s.db.pool)).toBe(before);
    // JSON with a charset parameter is JSON.
    const ok = await raw("POST", `/api/v1/jobs/${j.jobId}/cancel`, { token: s.world.tokens.alice, type: "application/json; charset=utf-8", body: '{"reason":"typed"}' });
    expect(ok.status).toBe(202);
    expect(await s.db.prisma.workflowJob.findUniqueOrThrow({ where: { id: BigInt(j.jobId) } })).toMatchObject({ cancelRequested: true, cancelReason: "typed" });
    const bare = await claimed();
    expect((await raw("POST", `/api/v1/jobs/${bare.jobId}/cancel`, { token: s.world.tokens.alice })).status).toBe(202);
    expect((await raw("POST", `/api/v1/runs/${bare.runId}/cancel`, { token: s.world.tokens.alice, type: "text/plain" })).status).toBe(202);
  });

  it("refuses non-JSON bodies on the runner protocol too, before anything is touched", async () => {
    const j = await claimed();
    const heartbeat = async () => (await s.db.pool.query("SELECT last_heartbeat_at FROM runners WHERE id = $1", [j.runnerId])).rows[0];
    const [before, beat] = [await fingerprint(s.db.pool), await heartbeat()];
    const attempts: [string, string, string, string][] = [
      ["/api/v1/runners/heartbeat", j.runnerToken, "application/x-www-form-urlencoded", "capacity=9"],
      [`/api/v1/jobs/${j.jobId}/status`, j.token, "text/plain", '{"status":"completed","conclusion":"success"}'],
      [`/api/v1/jobs/${j.jobId}/steps/${j.steps[0]}/status`, j.token, "text/plain", '{"status":"running"}'],
      [`/api/v1/jobs/${j.jobId}/logs`, j.token, "application/x-www-form-urlencoded", `step_id=${j.steps[0]}&seq=0&content=x`],
      [`/api/v1/jobs/${j.jobId}/cancel-check`, j.token, "text/plain", "{}"],
      ["/api/v1/runners/register", "some-secret", "application/x-www-form-urlencoded", "name=x"],
    ];
    for (const [path, token, type, body] of attempts) expect(await raw("POST", path, { token, type, body }), path).toEqual({ status: 415, body: UNSUPPORTED });
    expect([await fingerprint(s.db.pool), await heartbeat()]).toEqual([before, beat]);
    expect((await raw("POST", `/api/v1/jobs/${j.jobId}/cancel-check`, { token: j.token })).status).toBe(200);
  });
});

describe("NUL in strings that reach SQL (400)", () => {
  it("refuses a NUL in a bulk-cancel filter, dry run and real: nothing queued, no intent", async () => {
    const before = [await fingerprint(s.db.pool), await queued(), await intents()];
    for (const dry_run of [true, false]) {
      for (const [field, value] of [["head_ref", "fea\u0000ture"], ["workflow_file", "\u0000"], ["reason", "a\u0000"]] as const) {
        const r = await call(s.stack.url, "POST", BULK, { token: s.world.tokens.alice, body: { [field]: value, dry_run } });
        expect(r.status, `${field} dry_run=${dry_run}`).toBe(400);
        expect(r.body.error).toBe(`invalid body: ${field}: must not contain NUL characters`);
      }
    }
    const path = await call(s.stack.url, "POST", "/api/v1/repos/alice%00/demo/actions/runs/cancel", { token: s.world.tokens.alice, body: {} });
    expect(path).toMatchObject({ status: 400, body: { error: "invalid path: owner: must not contain NUL characters" } });
    expect([await fingerprint(s.db.pool), await queued(), await intents()]).toEqual(before);
  });
});

describe("log chunks", () => {
  const post = (j: { jobId: number; token: string }, body: unknown) => call(s.stack.url, "POST", `/api/v1/jobs/${j.jobId}/logs`, { token: j.token, body });
  const stored = async (jobId: number) => (await s.db.pool.query<{ bytes: string; sum: string | null; n: number }>(
    `SELECT j.log_bytes::text AS bytes, (SELECT sum(octet_length(c.content)) FROM step_log_chunks c JOIN workflow_steps st ON st.id = c.step_id WHERE st.job_id = j.id)::text AS sum,
       (SELECT count(*)::int FROM step_log_chunks c JOIN workflow_steps st ON st.id = c.step_id WHERE st.job_id = j.id) AS n
     FROM workflow_jobs j WHERE j.id = $1`, [jobId])).rows[0]!;

  it("takes a retried chunk with an unpaired surrogate as the retry it is (200, changed:false), stored once and well-formed", async () => {
    const j = await claimed();
    const chunk = { step_id: j.steps[0], seq: 0, content: "half \ud800 pair\u0000" };
    expect(await post(j, chunk)).toMatchObject({ status: 200, body: { changed: true } });
    expect(await post(j, chunk)).toMatchObject({ status: 200, body: { changed: false } });
    const rows = (await s.db.pool.query("SELECT content FROM step_log_chunks WHERE step_id = $1", [j.steps[0]])).rows;
    expect(rows).toEqual([{ content: "half \uFFFD pair\uFFFD" }]);
    expect(await stored(j.jobId)).toEqual({ bytes: String(Buffer.byteLength("half \uFFFD pair\uFFFD")), sum: String(Buffer.byteLength("half \uFFFD pair\uFFFD")), n: 1 });
    // Other content under the same seq is still a conflict.
    expect((await post(j, { ...chunk, content: "other" })).status).toBe(409);
  });

  it("after a step or its job ended, takes no new chunk (409, nothing stored) but still answers a retry of a stored one (200 changed:false)", async () => {
    const j = await claimed();
    const step = (id: number, body: unknown) => call(s.stack.url, "POST", `/api/v1/jobs/${j.jobId}/steps/${id}/status`, { token: j.token, body });
    const chunk = (stepId: number, seq: number) => ({ step_id: stepId, seq, content: `line ${stepId}.${seq}` });
    expect((await step(j.steps[0]!, { status: "running" })).status).toBe(200);
    expect((await post(j, chunk(j.steps[0]!, 0))).body).toEqual({ changed: true });
    expect((await step(j.steps[0]!, { status: "completed", conclusion: "success" })).status).toBe(200);
    // The first step is over: its stored chunk is a retry, a new one is refused; the second step is open.
    expect(await post(j, chunk(j.steps[0]!, 0))).toMatchObject({ status: 200, body: { changed: false } });
    expect(await post(j, chunk(j.steps[0]!, 1))).toMatchObject({ status: 409, body: { error: endedMessage("step") } });
    expect((await post(j, chunk(j.steps[1]!, 0))).body).toEqual({ changed: true });
    const ended = await call(s.stack.url, "POST", `/api/v1/jobs/${j.jobId}/status`, { token: j.token, body: { status: "completed", conclusion: "success" } });
    expect(ended.status).toBe(200);
    // The job token still works (late end reports), but the log is closed to new chunks.
    expect(await post(j, chunk(j.steps[1]!, 0))).toMatchObject({ status: 200, body: { changed: false } });
    expect(await post(j, chunk(j.steps[1]!, 1))).toMatchObject({ status: 409, body: { error: endedMessage("job") } });
    expect(await post(j, { ...chunk(j.steps[1]!, 0), content: "other" })).toMatchObject({ status: 409, body: { error: "log chunk 0 already written" } });
    const bytes = Buffer.byteLength(`line ${j.steps[0]}.0`) + Buffer.byteLength(`line ${j.steps[1]}.0`);
    expect(await stored(j.jobId)).toEqual({ bytes: String(bytes), sum: String(bytes), n: 2 });
  });

  it("stores up to LOG_MAX_BYTES_PER_JOB UTF-8 bytes per job, all steps together, then answers 413 and stores nothing", async () => {
    const j = await claimed();
    const kilo = "x".repeat(999) + "\n";
    for (let seq = 0; seq < 4; seq++) expect((await post(j, { step_id: j.steps[0], seq, content: kilo })).status).toBe(200);
    // Counted in UTF-8 bytes: 1500 × "é" is 3000 bytes, on the other step of the same job.
    expect((await post(j, { step_id: j.steps[1], seq: 0, content: "é".repeat(1500) })).status).toBe(200);
    expect((await post(j, { step_id: j.steps[0], seq: 4, content: kilo })).status).toBe(200);
    expect(await stored(j.jobId)).toEqual({ bytes: "8000", sum: "8000", n: 6 });

    const over = await post(j, { step_id: j.steps[0], seq: 5, content: kilo });
    expect(over).toMatchObject({ status: 413, body: { error: "log limit reached" } });
    expect(await stored(j.jobId)).toEqual({ bytes: "8000", sum: "8000", n: 6 });
    // What still fits is taken, up to the limit exactly; one byte more is not.
    expect((await post(j, { step_id: j.steps[0], seq: 5, content: "y".repeat(LIMIT - 8000) })).body).toEqual({ changed: true });
    expect((await post(j, { step_id: j.steps[1], seq: 1, content: "z" })).status).toBe(413);
    // A retry of a stored chunk is still the no-op it was, full or not, and counts nothing.
    expect(await post(j, { step_id: j.steps[0], seq: 0, content: kilo })).toMatchObject({ status: 200, body: { changed: false } });
    expect(await stored(j.jobId)).toEqual({ bytes: String(LIMIT), sum: String(LIMIT), n: 7 });
  });

  it("never passes the limit under concurrent appends, retries included, and counts each stored chunk once", async () => {
    const j = await claimed();
    const chunk = (i: number) => ({ step_id: j.steps[i % 2], seq: Math.floor(i / 2), content: `${i}`.padEnd(499, ".") + "\n" });
    // 40 chunks of 500 bytes, each sent twice at once: 16 of them fit in 8192 bytes.
    const answers = await Promise.all([...Array(80).keys()].map((k) => post(j, chunk(k % 40))));
    expect(new Set(answers.map((a) => a.status))).toEqual(new Set([200, 413]));
    const changed = answers.filter((a) => a.status === 200 && a.body.changed === true).length;
    const after = await stored(j.jobId);
    expect(after.n).toBe(Math.floor(LIMIT / 500));
    expect(changed).toBe(after.n);
    expect(after.bytes).toBe(after.sum);
    expect(Number(after.bytes)).toBe(after.n * 500);
    expect(Number(after.bytes)).toBeLessThanOrEqual(LIMIT);
  });
});

/** The text GET /jobs/{id}/logs must produce (decision 12). */
const expectedLog = (steps: { name: string; chunks: string[] }[]) =>
  steps.map((st) => `##[group]${st.name}\n${st.chunks.map((c) => (c.endsWith("\n") ? c : `${c}\n`)).join("")}##[endgroup]\n`).join("");

describe("streamed log reads", () => {
  it("serves a log of many batches in decision 12's format, in (step, seq) order", async () => {
    const j = await claimed();
    // Step one: more chunks than a batch holds; step two: more bytes than a batch holds.
    const first = [...Array(LOG_BATCH_CHUNKS * 2 + 7).keys()].map((i) => (i % 3 === 0 ? `line ${i}\n` : `line ${i}`));
    const second = [...Array(5).keys()].map((i) => `${i}:`.padEnd(LOG_BATCH_BYTES / 2, String.fromCharCode(97 + i)));
    for (const [stepId, chunks] of [[j.steps[0], first], [j.steps[1], second]] as const) {
      // Seqs with gaps, inserted out of order: the read orders them.
      await s.db.pool.query(
        `INSERT INTO step_log_chunks (step_id, seq, content) SELECT $1, i * 3, c FROM unnest($2::text[]) WITH ORDINALITY AS u(c, i) ORDER BY random()`,
        [stepId, chunks],
      );
    }
    recording = [];
    const r = await call(s.stack.url, "GET", `/api/v1/jobs/${j.jobId}/logs`, { token: s.world.tokens.alice });
    const statements = recording;
    recording = null;
    expect(r.status).toBe(200);
    expect(r.headers.get("content-type")).toBe("text/plain; charset=utf-8");
    expect(r.body).toBe(expectedLog([{ name: "first", chunks: first }, { name: "second", chunks: second }]));
    // Bounded batches: no statement returned more than a batch.
    const batches = statements.filter((x) => x.text.includes("step_log_chunks"));
    expect(batches.length).toBeGreaterThanOrEqual(3 + 3);
    for (const b of batches) {
      expect(b.rows).toBeLessThanOrEqual(LOG_BATCH_CHUNKS);
      expect(b.bytes).toBeLessThan(LOG_BATCH_BYTES * 2 + 4096);
    }
  });
});

describe("reads authorize before they read", () => {
  const ROUTES = [
    ["run", (id: number) => `/api/v1/runs/${id}`],
    ["run", (id: number) => `/api/v1/runs/${id}/timeline`],
    ["job", (id: number) => `/api/v1/jobs/${id}`],
    ["job", (id: number) => `/api/v1/jobs/${id}/logs`],
  ] as const;

  async function work(path: string, token: string) {
    recording = [];
    const r = await call(s.stack.url, "GET", path, { token });
    const done = recording;
    recording = null;
    return { status: r.status, body: r.body, statements: done };
  }

  it("does the same work for a private target the caller cannot see as for a missing one: one statement, no row of the target", async () => {
    const priv = await claimed("alice/secret");
    await s.db.pool.query(`INSERT INTO step_log_chunks (step_id, seq, content) SELECT $1, g, repeat('s', 60000) FROM generate_series(0, 99) g`, [priv.steps[0]]);
    for (const [kind, route] of ROUTES) {
      const target = kind === "run" ? priv.runId : priv.jobId;
      const hidden = await work(route(target), s.world.tokens.dave);
      const missing = await work(route(987654321), s.world.tokens.dave);
      expect(hidden.status, route(target)).toBe(404);
      expect(hidden.body).toEqual(missing.body);
      expect(hidden.body).toEqual({ error: `${kind} not found` });
      // The same statements, returning the same number of rows: the token with its access
      // to the target's repository, in one statement, and nothing of the target after it.
      expect(hidden.statements.map((x) => [x.text, x.rows])).toEqual(missing.statements.map((x) => [x.text, x.rows]));
      expect(hidden.statements.map((x) => x.text)).toEqual([TOKEN_TARGET_SQL(kind)]);
      // The counter does see reads: the owner's answer reads the target after the check.
      const seen = await work(route(target), s.world.tokens.alice);
      expect(seen.status).toBe(200);
      expect(seen.statements[0]!.text).toBe(TOKEN_TARGET_SQL(kind));
      expect(seen.statements.length).toBeGreaterThan(1);
    }
  });

  it("bulk cancel by owner/name: a private repository the caller cannot see runs the same one statement as a missing one", async () => {
    const post = async (repo: string, token: string) => {
      recording = [];
      const r = await call(s.stack.url, "POST", `/api/v1/repos/${repo}/actions/runs/cancel`, { token, body: { dry_run: true } });
      const done = recording;
      recording = null;
      return { status: r.status, body: r.body, statements: done };
    };
    for (const token of [s.world.tokens.dave, s.world.tokens.aliceBoundOther]) {
      const hidden = await post("alice/secret", token);
      for (const missing of [await post("alice/no-such-repo", token), await post("no-such-owner/secret", token)]) {
        expect(hidden).toMatchObject({ status: 404, body: { error: "repository not found" } });
        expect(missing.body).toEqual(hidden.body);
        expect(hidden.statements.map((x) => [x.text, x.rows])).toEqual(missing.statements.map((x) => [x.text, x.rows]));
        // The name is found and judged in the token statement itself: nothing before or after it.
        expect(hidden.statements.map((x) => x.text)).toEqual([TOKEN_TARGET_SQL("repoName")]);
      }
    }
    // The owner sees it: same first statement, then the dry run's read.
    const seen = await post("alice/secret", s.world.tokens.alice);
    expect(seen).toMatchObject({ status: 200, body: { repo_id: s.world.repos.priv.id, dry_run: true } });
    expect(seen.statements[0]!.text).toBe(TOKEN_TARGET_SQL("repoName"));
  });

  it("keeps the read views exactly as they were", async () => {
    const j = await claimed();
    await call(s.stack.url, "POST", `/api/v1/jobs/${j.jobId}/cancel`, { token: s.world.tokens.bob, body: { reason: "kept" } });
    const run = await call(s.stack.url, "GET", `/api/v1/runs/${j.runId}`, { token: s.world.tokens.alice });
    expect(run.body).toMatchObject({
      id: j.runId, repo_id: s.world.repos.pub.id, workflow_file: ".shithub/workflows/ci.yml", status: "running", attempt: 1, original_run_id: j.runId,
      parent_run_id: null, actor: null,
      jobs: [{ id: j.jobId, run_id: j.runId, job_key: "t", cancel_requested: true, cancel_reason: "kept", cancel_requested_by: { login: "bob" }, needs: [], reused: false }],
    });
    const job = await call(s.stack.url, "GET", `/api/v1/jobs/${j.jobId}`, { token: s.world.tokens.alice });
    expect(job.body).toEqual({ ...run.body.jobs[0], steps: [expect.objectContaining({ id: j.steps[0], index: 0, name: "first" }), expect.objectContaining({ id: j.steps[1], index: 1, name: "second" })] });
    const timeline = await call(s.stack.url, "GET", `/api/v1/runs/${j.runId}/timeline`, { token: s.world.tokens.alice });
    expect(timeline.body.events.map((e: { action: string }) => e.action)).toEqual(["job created", "job running", "cancel_job"]);
    expect(timeline.body.events[2]).toMatchObject({ actor: { login: "bob" }, job_id: j.jobId, detail: { outcome: "applied", reason: "kept", changed_jobs: 1 } });
  });
});

