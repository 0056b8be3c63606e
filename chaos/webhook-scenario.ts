import { randomBytes } from "node:crypto";
import * as ops from "../admin/ops.ts";
import { runScenario, type Ctx } from "./harness.ts";
import { sleep } from "./infra.ts";
import { startChaosReceiver, type ChaosReceiver } from "./receiver.ts";
import type { Scenario } from "./scenarios.ts";
import { loadDeliveries, loadEvents, reconcileDeliveries, waitDeliveriesSettled, type HookUnderTest } from "./webhooks.ts";

// webhook-receiver-down: the repository has one hook on a receiver at 127.0.0.1, which
// refuses connections for a while in the middle of the load. Deliveries retry with
// backoff (100 ms doubling, jitter 0.5: at most ~7 attempts in a 3 s outage, the next
// one at most 6.4 s after it) well inside 12 attempts, so none may fail; afterwards every
// event is received once, a run's in order.

const WEBHOOK_ENV = { WEBHOOK_ALLOW_PRIVATE: "true", WEBHOOK_BACKOFF_MS: "100", WEBHOOK_MAX_ATTEMPTS: "12" };
const REAPER = { intervalMs: 500, windowMs: 3_000 };
/** The last retry of the outage comes at most 2^7 backoffs after its start; the chains then drain. */
const SETTLE_MS = 60_000;

/** The hook, created through the API as a repository admin would; the cut is after its commit. */
async function createHook(ctx: Ctx, url: string, secret: string): Promise<HookUnderTest> {
  const { token } = await ops.createToken(ctx.prisma, { user: "chaos", scopes: ["admin:repo_hook"] });
  const r = await fetch(`${ctx.sys.apiUrl}/api/v1/repos/chaos/repo/hooks`, {
    method: "POST", headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify({ url, secret, events: ["workflow_job", "workflow_run"] }),
  });
  const body = (await r.json()) as { id?: number };
  if (r.status !== 201 || typeof body.id !== "number") throw new Error(`creating the hook answered ${r.status} ${JSON.stringify(body)}`);
  // created_at is a transaction's start, in ms: past this, the transaction began after the hook's commit.
  const cut = new Date(Date.now() + 1);
  const stored = await ctx.prisma.repoHook.findUniqueOrThrow({ where: { id: BigInt(body.id) }, select: { id: true, repoId: true } });
  return { repoId: stored.repoId, hookId: stored.id, cut };
}

async function outage(ctx: Ctx, receiver: ChaosReceiver, ms: number): Promise<void> {
  await ctx.load.reached(0.3);
  const before = receiver.received.length;
  const at = ctx.load.answered;
  await receiver.down();
  await sleep(ms);
  await receiver.reopen();
  ctx.notes.push(`receiver down ${ms} ms (connections refused) from ${at} answered intents, after ${before} requests`);
}

async function judge(ctx: Ctx, hook: HookUnderTest, receiver: ChaosReceiver): Promise<void> {
  const { events, undispatched } = await loadEvents(ctx.prisma, hook);
  const deliveries = await loadDeliveries(ctx.prisma, hook);
  const t = reconcileDeliveries(events, deliveries, receiver.received);
  ctx.deliveries = t;
  const early = events.filter((e) => !e.expected).length;
  ctx.notes.push(`deliveries: ${t.events} events after the hook (${early} before it), ${deliveries.length} deliveries, ${receiver.received.length} requests received; ${t.retried} deliveries retried, most attempts ${t.maxAttempts}; ${t.receiverRetries} requests repeated after an unanswered one`);
  if (undispatched > 0) ctx.problems.push(`${undispatched} events of the repository were never dispatched`);
  const unfinished = deliveries.filter((d) => d.state !== "delivered" && d.state !== "failed").length;
  if (unfinished > 0) ctx.problems.push(`${unfinished} deliveries had not ended when the processes stopped`);
  if (t.retried === 0) ctx.problems.push("no delivery was retried: the outage was not felt, the scenario proved nothing");
  // One retry can come from a request cut as the receiver went down; an outage refuses several in a row.
  else if (t.maxAttempts < 3) ctx.problems.push(`no delivery was retried more than once (${t.retried} once): the outage was hardly felt`);
}

export const webhookReceiverDown: Scenario = {
  name: "webhook-receiver-down",
  summary: "the webhook receiver refuses connections for a while under load; every event arrives once, in order per run, after retries",
  async run(env) {
    const secret = randomBytes(16).toString("hex");
    const receiver = await startChaosReceiver(secret);
    const outageMs = Number(process.env.CHAOS_WEBHOOK_OUTAGE_MS ?? (env.short ? 2_000 : 3_000));
    let hook: HookUnderTest | null = null;
    try {
      return await runScenario(env, {
        name: "webhook-receiver-down",
        world: { queued: env.short ? 80 : 500, long: env.short ? 2 : 4, steppy: 0, sources: env.short ? 4 : 20 },
        cancelLong: env.short ? 2 : 4,
        rerunsPerSource: env.short ? 8 : 14,
        system: {
          workers: 2, resultTimeoutMs: 10_000, lockMs: 2_000, reaper: REAPER, sim: { runners: 2, capacity: 4 },
          apiEnv: WEBHOOK_ENV, workerEnv: () => WEBHOOK_ENV,
        },
        concurrency: 16,
        prepare: async (ctx) => void (hook = await createHook(ctx, receiver.url, secret)),
        fault: (ctx) => outage(ctx, receiver, outageMs),
        async settle(ctx) {
          const open = await waitDeliveriesSettled(ctx.prisma, hook!, SETTLE_MS);
          if (open > 0) ctx.notes.push(`${open} events undispatched or deliveries unfinished after ${SETTLE_MS} ms`);
        },
        afterStop: (ctx) => judge(ctx, hook!, receiver),
      });
    } finally {
      await receiver.close();
    }
  },
};
