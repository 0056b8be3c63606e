// Integration: work an answer does not wait for (the token's last-used stamp, fail-fast's
// cancel signals) may fail without failing the request, but the failure is logged, with no
// secret in the line. Real Postgres and Redis; the API in this process with its log captured.
import http from "node:http";
import type { AddressInfo } from "node:net";
import { Writable } from "node:stream";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { createApp } from "../api/app.ts";
import type { IntentClient } from "../api/intents.ts";
import { createLimiter } from "../api/ratelimit.ts";
import type { PrismaClient } from "../infra/db.ts";
import { connectRedis, type Redis } from "../infra/redis.ts";
import { poolSql } from "../infra/sql.ts";
import { createTestDb, waitFor, type TestDb } from "./setup/db.ts";
import { buildWorld, call, claim, pushAndRun, registerTestRunner } from "./setup/world.ts";

interface Line { level: number; msg: string; [k: string]: unknown }
const lines: Line[] = [];
const WARN = 40;

let db: TestDb;
let redis: Redis;
let server: http.Server;
let url: string;
let world: Awaited<ReturnType<typeof buildWorld>>;

/** The test database's client, except that stamping a token's last use always fails. */
function lastUsedFails(prisma: PrismaClient): PrismaClient {
  const tokens = { updateMany: () => Promise.reject(new Error("connection to the database lost")) };
  return new Proxy(prisma, { get: (t, k, r) => (k === "personalAccessToken" ? tokens : Reflect.get(t, k, r)) });
}

beforeAll(async () => {
  db = await createTestDb("unheard");
  world = await buildWorld(db.prisma);
  redis = connectRedis(inject("redisUrl"), "producer");
  const prefix = `u${process.pid}${Math.random().toString(36).slice(2, 8)}`;
  const sink = new Writable({
    write(chunk: Buffer | string, _enc, done) {
      for (const l of chunk.toString().split("\n")) if (l) lines.push(JSON.parse(l) as Line);
      done();
    },
  });
  const app = createApp({
    prisma: lastUsedFails(db.prisma),
    sql: poolSql(db.pool),
    // Neither route under test enqueues an intent.
    intents: {} as IntentClient,
    tokenLimiter: createLimiter(redis, `${prefix}:rl:token`, 100_000),
    ipLimiter: createLimiter(redis, `${prefix}:rl:ip`, 100_000),
    log: pino({ level: "warn" }, sink),
    readiness: async () => null,
    announceCancels: () => Promise.reject(new Error("Stream isn't writeable")),
  });
  server = await new Promise((resolve) => {
    const s = app.listen(0, "127.0.0.1", () => resolve(s));
  });
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server?.closeAllConnections();
  await new Promise((r) => server?.close(r));
  redis?.disconnect();
  await db?.drop();
});

const warned = (msg: string) => waitFor(`a warning "${msg}"`, async () => lines.find((l) => l.level === WARN && l.msg === msg), 5_000);

describe("failures nobody waits for", () => {
  it("a last-used stamp that fails is logged and the request still answered", async () => {
    const r = await pushAndRun(db.prisma, "alice/demo", "name: A\non: push\njobs:\n  a:\n    runs-on: unheard-a\n    steps:\n      - run: 'true'\n");
    const got = await call(url, "GET", `/api/v1/runs/${r.run_id}`, { token: world.tokens.bob });
    expect(got.status).toBe(200);
    const line = await warned("token last_used_at not recorded");
    expect(line).toMatchObject({ err: "connection to the database lost", token_id: expect.stringMatching(/^\d+$/) });
    expect(JSON.stringify(line)).not.toContain(world.tokens.bob);
  });

  it("fail-fast's cancel signals that cannot be queued are logged and the report still answered", async () => {
    const label = "unheard-ff";
    const source = `name: M\non: push\njobs:\n  build:\n    runs-on: ${label}\n    strategy:\n      matrix:\n        n: [1, 2]\n    steps:\n      - run: echo \${{ matrix.n }}\n`;
    await pushAndRun(db.prisma, "alice/demo", source, "cd".padEnd(40, "0"));
    const runner = await registerTestRunner(db.prisma, label, [label], 2);
    const held = [await claim(url, runner.token), await claim(url, runner.token)].map((c) => c.body as { token: string; job: { id: number } });
    expect(held).toHaveLength(2);
    const failed = await call(url, "POST", `/api/v1/jobs/${held[0]!.job.id}/status`, { token: held[0]!.token, body: { status: "completed", conclusion: "failure" } });
    expect(failed.status).toBe(200);
    const line = await warned("fail-fast cancel signals not queued; runners learn from cancel-check");
    expect(line).toMatchObject({ err: "Stream isn't writeable", signals: 1, request_id: failed.headers.get("x-request-id") });
    // The sibling still learns it is cancelled, from the poll.
    const check = await call(url, "POST", `/api/v1/jobs/${held[1]!.job.id}/cancel-check`, { token: held[1]!.token, body: {} });
    expect(check.body).toMatchObject({ cancelled: true });
  });
});
