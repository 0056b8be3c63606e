import { existsSync, mkdirSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { chromium, type Browser } from "playwright-core";
import * as ops from "../admin/ops.ts";
import { createTestDb, type TestDb } from "./setup/db.ts";
import { spawnService, type Service } from "./setup/stack.ts";

// A real browser on the API reference and the queue dashboard. Debian's Chromium only
// (`apt-get install chromium`; .ci/run installs it): without it this file says so and skips.

const CHROMIUM = "/usr/bin/chromium";
const ARTIFACTS = "test/artifacts";
const haveChromium = existsSync(CHROMIUM);
if (!haveChromium) console.warn(`browser tests skipped: ${CHROMIUM} not found (apt-get install chromium)`);

let db: TestDb;
let api: Service;
let browser: Browser;
let url: string;
let adminToken: string;

beforeAll(async () => {
  if (!haveChromium) return;
  mkdirSync(ARTIFACTS, { recursive: true });
  db = await createTestDb("browser");
  await ops.createUser(db.prisma, { login: "root", siteAdmin: true });
  adminToken = (await ops.createToken(db.prisma, { user: "root", scopes: ["admin:read"] })).token;
  api = spawnService("api/server.ts", { DATABASE_URL: db.url, REDIS_URL: inject("redisUrl"), QUEUE_PREFIX: `b${process.pid}`, PORT: "0", HOST: "127.0.0.1" });
  await api.waitForLine(/api listening/);
  url = `http://127.0.0.1:${/"port":(\d+)/.exec(api.output())![1]}`;
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--no-first-run"],
  });
});
afterAll(async () => {
  await browser?.close();
  await api?.kill("SIGTERM");
  await db?.drop();
});

describe.runIf(haveChromium)("in a browser", () => {
  it("the API reference at /docs shows the cancel endpoint", async () => {
    const page = await browser.newPage();
    const failed: string[] = [];
    page.on("requestfailed", (r) => failed.push(r.url()));
    await page.goto(`${url}/docs`);
    await expect.poll(async () => (await page.content()).includes("/api/v1/jobs/{id}/cancel"), { timeout: 20_000 }).toBe(true);
    await page.screenshot({ path: `${ARTIFACTS}/docs.png`, fullPage: false });
    // Everything the page needs is served by the API itself: no CDN, no internet.
    expect(failed.filter((u) => u.startsWith(url))).toEqual([]);
    await page.close();
  });

  it("the queue dashboard shows the lifecycle queue to a site admin", async () => {
    const ctx = await browser.newContext({ extraHTTPHeaders: { authorization: `Bearer ${adminToken}` } });
    const page = await ctx.newPage();
    await page.goto(`${url}/admin/queues`);
    await expect.poll(async () => (await page.content()).includes("lifecycle-intents"), { timeout: 20_000 }).toBe(true);
    await page.screenshot({ path: `${ARTIFACTS}/dashboard.png`, fullPage: false });
    await ctx.close();
  });
});
