import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import * as ops from "../admin/ops.ts";
import { createTestDb, type TestDb } from "./setup/db.ts";
import { spawnService, type Service } from "./setup/stack.ts";
import { call } from "./setup/world.ts";

// The operators' queue dashboard, on a real API process.

let db: TestDb;
let api: Service;
let url: string;
const tokens: Record<string, string> = {};

beforeAll(async () => {
  db = await createTestDb("dash");
  await ops.createUser(db.prisma, { login: "root", siteAdmin: true });
  await ops.createUser(db.prisma, { login: "plain" });
  tokens.admin = (await ops.createToken(db.prisma, { user: "root", scopes: ["admin:read"] })).token;
  tokens.adminNoScope = (await ops.createToken(db.prisma, { user: "root", scopes: ["repo:write"] })).token;
  tokens.plain = (await ops.createToken(db.prisma, { user: "plain", scopes: ["admin:read"] })).token;
  api = spawnService("api/server.ts", { DATABASE_URL: db.url, REDIS_URL: inject("redisUrl"), QUEUE_PREFIX: `d${process.pid}`, PORT: "0", HOST: "127.0.0.1" });
  await api.waitForLine(/api listening/);
  url = `http://127.0.0.1:${/"port":(\d+)/.exec(api.output())![1]}`;
});
afterAll(async () => {
  await api?.kill("SIGTERM");
  await db?.drop();
});

describe("queue dashboard", () => {
  it("shows the queues to a site admin with an admin:read token", async () => {
    const page = await call(url, "GET", "/admin/queues", { token: tokens.admin });
    expect(page.status).toBe(200);
    expect(page.headers.get("content-type")).toMatch(/text\/html/);
    const queues = await call(url, "GET", "/admin/queues/api/queues", { token: tokens.admin });
    expect(queues.status).toBe(200);
    expect(queues.body.queues.map((q: { name: string }) => q.name)).toEqual(expect.arrayContaining(["lifecycle-intents", "maintenance"]));
  });

  it.each([
    ["no credentials", undefined],
    ["a site admin's token without admin:read", "adminNoScope"],
    ["a non-admin's admin:read token", "plain"],
    ["a garbage token", "garbage"],
  ])("does not exist for %s (404)", async (_what, who) => {
    const token = who === undefined ? undefined : (tokens[who] ?? "shithub_pat_garbage");
    for (const path of ["/admin/queues", "/admin/queues/api/queues"]) {
      expect(await call(url, "GET", path, { token })).toMatchObject({ status: 404, body: { error: "route not found" } });
    }
  });
});
