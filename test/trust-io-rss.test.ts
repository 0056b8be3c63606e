import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import http from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as ops from "../admin/ops.ts";
import { spawnService, type Service } from "./setup/stack.ts";
import { worldSuite } from "./setup/suite.ts";
import { ONE_JOB } from "./setup/world.ts";

// GET /jobs/{id}/logs streams (docs/security.md, "Bodies, strings and logs"). A spawned API process (what production
// runs) serves a 16 MiB log to 30 clients at once while its RSS is sampled: the growth over
// the baseline must stay a small multiple of one log, where reading logs whole held them
// all (334 → 731 MiB before).

const s = worldSuite("trust-io-rss");

/** Reads a whole answer without keeping it: its status, size and digest. */
function consume(url: string, token: string): Promise<{ status: number; bytes: number; sha: string }> {
  return new Promise((resolve, reject) => {
    http.get(url, { headers: { authorization: `Bearer ${token}` }, agent: false }, (res) => {
      const h = createHash("sha256");
      let bytes = 0;
      res.on("data", (d: Buffer) => {
        bytes += d.length;
        h.update(d);
      });
      res.on("end", () => resolve({ status: res.statusCode!, bytes, sha: h.digest("hex") }));
      res.on("error", reject);
    }).on("error", reject);
  });
}

const rssBytes = (pid: number) => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))![1]) * 1024;

describe("streamed log reads in a separate API process", () => {
  const LOG_SIZE = 16 * 1024 * 1024;
  const CHUNK = 64 * 1024;
  let api: Service;
  let base: string;
  beforeAll(async () => {
    api = spawnService("api/server.ts", { DATABASE_URL: s.db.url, REDIS_URL: s.stack.redisUrl, QUEUE_PREFIX: `${s.stack.prefix}rss`, PORT: "0", HOST: "127.0.0.1" });
    await api.waitForLine(/api listening/);
    base = `http://127.0.0.1:${/"port":(\d+)/.exec(api.output())![1]}`;
  });
  afterAll(async () => {
    await api?.kill("SIGTERM");
  });

  it("keeps RSS flat while 30 clients read a 16 MiB log at once, each getting all of it", { timeout: 120_000 }, async () => {
    const run = await ops.createRunFromSource(s.db.prisma, { repo: "alice/demo", workflowFile: ".shithub/workflows/big.yml", headSha: "b16".padEnd(40, "0"), source: ONE_JOB });
    const jobId = run.job_ids[0]!;
    const steps = (await s.db.pool.query<{ id: string; name: string }>("SELECT id::text, name FROM workflow_steps WHERE job_id = $1 ORDER BY step_index", [jobId])).rows;
    // 256 chunks of 64 KiB, each a different letter (so no two batches look alike), in the first step.
    const content = (g: number) => String.fromCharCode(97 + (g % 26)).repeat(CHUNK - 1) + "\n";
    await s.db.pool.query(
      `INSERT INTO step_log_chunks (step_id, seq, content) SELECT $1, g, repeat(chr(97 + g % 26), $2 - 1) || E'\n' FROM generate_series(0, $3 - 1) g`,
      [steps[0]!.id, CHUNK, LOG_SIZE / CHUNK],
    );
    await s.db.pool.query("UPDATE workflow_jobs SET log_bytes = $2 WHERE id = $1", [jobId, LOG_SIZE]);
    const want = createHash("sha256");
    want.update(`##[group]${steps[0]!.name}\n`);
    for (let g = 0; g < LOG_SIZE / CHUNK; g++) want.update(content(g));
    want.update("##[endgroup]\n");
    for (const st of steps.slice(1)) want.update(`##[group]${st.name}\n##[endgroup]\n`);
    const expected = want.digest("hex");

    const url = `${base}/api/v1/jobs/${jobId}/logs`;
    // Warm up (code loaded, connections open), then measure from there.
    expect((await consume(url, s.world.tokens.alice)).sha).toBe(expected);
    const pid = api.proc.pid!;
    const baseline = rssBytes(pid);
    let peak = baseline;
    const sampler = setInterval(() => (peak = Math.max(peak, rssBytes(pid))), 5);
    let reads: Awaited<ReturnType<typeof consume>>[];
    try {
      reads = await Promise.all([...Array(30).keys()].map(() => consume(url, s.world.tokens.alice)));
    } finally {
      clearInterval(sampler);
    }
    peak = Math.max(peak, rssBytes(pid));
    for (const r of reads) expect(r).toEqual({ status: 200, bytes: expect.any(Number), sha: expected });
    expect(reads[0]!.bytes).toBeGreaterThan(LOG_SIZE);
    const growth = peak - baseline;
    console.log(`log reads: RSS baseline ${(baseline / 2 ** 20).toFixed(0)} MiB, peak ${(peak / 2 ** 20).toFixed(0)} MiB, growth ${(growth / 2 ** 20).toFixed(1)} MiB for 30 × ${LOG_SIZE / 2 ** 20} MiB`);
    // Whole-log buffering holds 30 logs (and copies of them) at once: ≥ 30× the log's size
    // (~400 MiB here before). Streaming holds a batch per read, plus what the GC has not
    // collected yet: 10-30 MiB measured, whatever the log's size.
    expect(growth).toBeLessThan(4 * LOG_SIZE);
  });
});
