import { existsSync, mkdirSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";
import { Queue } from "bullmq";
import * as ops from "../admin/ops.ts";
import { dashboardUrl } from "../admin/dashboard.ts";
import { MAINTENANCE_QUEUE, QUEUE_NAME } from "../domain/contracts.ts";
import { connectRedis, type Redis } from "../infra/redis.ts";
import { createTestDb, waitFor, type TestDb } from "./setup/db.ts";
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
let redis: Redis;
let intents: Queue;
const prefix = `b${process.pid}`;

beforeAll(async () => {
  if (!haveChromium) return;
  mkdirSync(ARTIFACTS, { recursive: true });
  db = await createTestDb("browser");
  await ops.createUser(db.prisma, { login: "root", siteAdmin: true });
  api = spawnService("api/server.ts", { DATABASE_URL: db.url, REDIS_URL: inject("redisUrl"), QUEUE_PREFIX: prefix, PORT: "0", HOST: "127.0.0.1" });
  await api.waitForLine(/api listening/);
  url = `http://127.0.0.1:${/"port":(\d+)/.exec(api.output())![1]}`;
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--no-first-run"],
  });
  redis = connectRedis(inject("redisUrl"), "producer");
  intents = new Queue(QUEUE_NAME, { connection: redis, prefix });
});
afterAll(async () => {
  await browser?.close();
  await api?.kill("SIGTERM");
  // Teardown is best effort: the queue's prefix is this file's own.
  await intents?.obliterate({ force: true }).catch(() => {});
  await intents?.close();
  redis?.disconnect();
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

  // Bull Board's queue actions (Add job, Pause, Empty, Obliterate…) sit behind one menu button.
  const actionsMenu = '[aria-haspopup="menu"]';

  async function openQueuePage(ctx: BrowserContext, scope: "admin:read" | "admin:write"): Promise<Page> {
    const page = await ctx.newPage();
    const link = await dashboardUrl(db.prisma, { user: "root", scope, apiUrl: url });
    await page.goto(link.url);
    expect(new URL(page.url()).pathname).toBe("/admin/queues");
    await page.goto(`${url}/admin/queues/queue/${QUEUE_NAME}`);
    await page.getByText("No latest jobs in this queue.").waitFor({ timeout: 20_000 });
    return page;
  }

  it("the one-use link opens the dashboard read-only: the queues, and no actions", async () => {
    const ctx = await browser.newContext();
    const page = await openQueuePage(ctx, "admin:read");
    const [cookie] = await ctx.cookies();
    expect(cookie).toMatchObject({ name: "actions_dashboard", path: "/admin/queues", httpOnly: true, sameSite: "Strict", secure: false });
    expect(await page.content()).toContain(MAINTENANCE_QUEUE);
    expect(await page.locator(actionsMenu).count()).toBe(0);
    await page.screenshot({ path: `${ARTIFACTS}/dashboard.png`, fullPage: false });
    await ctx.close();
  });

  it("an admin:write link's session pauses a queue from the dashboard's own page (same-origin check passes)", async () => {
    const ctx = await browser.newContext();
    const page = await openQueuePage(ctx, "admin:write");
    const put = page.waitForResponse((r) => r.request().method() === "PUT" && r.url().endsWith(`/api/queues/${QUEUE_NAME}/pause`));
    await page.locator(actionsMenu).last().click();
    await page.getByRole("menuitem", { name: "Pause" }).click();
    await page.getByRole("button", { name: "Confirm" }).click();
    const res = await put;
    expect(res.status()).toBe(200);
    expect(await res.request().headerValue("sec-fetch-site")).toBe("same-origin");
    await waitFor("the queue to be paused", async () => intents.isPaused());
    await page.screenshot({ path: `${ARTIFACTS}/dashboard-paused.png`, fullPage: false });
    await intents.resume();
    await ctx.close();
  });
  it("a link clicked on another site still lands on the dashboard (the Strict cookie goes with a same-site hop)", async () => {
    const ctx = await browser.newContext();
    const page = await ctx.newPage();
    const link = await dashboardUrl(db.prisma, { user: "root", apiUrl: url });
    // Another site: localhost is not the same site as 127.0.0.1.
    await page.goto(`${url.replace("127.0.0.1", "localhost")}/healthz`);
    await page.setContent(`<a id="link" href="${link.url}">dashboard</a>`);
    await page.click("#link");
    await page.waitForURL(`${url}/admin/queues`);
    await expect.poll(async () => (await page.content()).includes(QUEUE_NAME), { timeout: 20_000 }).toBe(true);
    await ctx.close();
  });
});
