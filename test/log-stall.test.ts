import net from "node:net";
import type { RequestHandler } from "express";
import { describe, expect, it } from "vitest";
import * as ops from "../admin/ops.ts";
import { waitFor } from "./setup/db.ts";
import { worldSuite } from "./setup/suite.ts";
import { call, ONE_JOB } from "./setup/world.ts";

// A log stream has a stall limit (LOG_STREAM_STALL_MS): a client that connects and then
// reads nothing is cut, instead of holding the request, its socket and the buffered log
// forever. A reader that keeps reading gets the whole log.

const STALL_MS = 1000;

/** How each log stream ended, seen from the server: all of it flushed, or cut. */
const ends: { finished: boolean }[] = [];
const watch: RequestHandler = (req, res, next) => {
  if (req.method === "GET" && req.path.endsWith("/logs")) res.on("close", () => ends.push({ finished: res.writableFinished }));
  next();
};

const s = worldSuite("log-stall", { logStallMs: STALL_MS, before: [watch] });

/** A job whose log is far bigger than what the kernel buffers between the two sockets. */
async function bigLog(): Promise<{ jobId: number; bytes: number }> {
  const run = await ops.createRunFromSource(s.db.prisma, { repo: "alice/demo", workflowFile: ".shithub/workflows/stall.yml", headSha: "5a11".padEnd(40, "0"), source: ONE_JOB });
  const jobId = run.job_ids[0]!;
  const [step] = (await s.db.pool.query<{ id: string }>("SELECT id::text FROM workflow_steps WHERE job_id = $1 ORDER BY step_index LIMIT 1", [jobId])).rows;
  await s.db.pool.query(`INSERT INTO step_log_chunks (step_id, seq, content) SELECT $1, g, repeat('x', 65535) || chr(10) FROM generate_series(0, 511) g`, [step!.id]);
  return { jobId, bytes: 512 * 65536 };
}

describe("log streams with a client that stops reading", () => {
  it("cut a client that connects and never reads, and free the database connections", async () => {
    const { jobId, bytes } = await bigLog();
    const port = Number(new URL(s.stack.url).port);
    const sock = net.connect(port, "127.0.0.1");
    await new Promise((r) => sock.once("connect", r));
    let closed = false;
    sock.once("close", () => (closed = true));
    sock.on("error", () => {});
    sock.write(`GET /api/v1/jobs/${jobId}/logs HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${s.world.tokens.alice}\r\n\r\n`);
    sock.pause();

    // The server gives up on it, before sending the whole log.
    const [end] = await waitFor("the stalled stream to be cut", async () => (ends.length > 0 ? ends : null), 20_000);
    expect(end).toEqual({ finished: false });
    // No statement of the stream is left running or holding a pooled connection.
    expect(s.db.pool.totalCount - s.db.pool.idleCount).toBe(0);
    const active = await s.db.pool.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND state = 'active' AND query LIKE '%step_log_chunks%' AND pid <> pg_backend_pid()");
    expect(active.rows[0]!.n).toBe(0);

    // What the client finds when it does read at last: less than the log, then the end.
    let got = 0;
    sock.on("data", (d: Buffer) => (got += d.length));
    sock.resume();
    await waitFor("the cut connection to close", async () => closed, 20_000);
    expect(got).toBeLessThan(bytes);

    // A client that reads gets all of it from the same server.
    const whole = await call(s.stack.url, "GET", `/api/v1/jobs/${jobId}/logs`, { token: s.world.tokens.alice });
    expect(whole.status).toBe(200);
    expect(whole.body.length).toBeGreaterThan(bytes);
    expect(ends.at(-1)).toEqual({ finished: true });
  });
});
