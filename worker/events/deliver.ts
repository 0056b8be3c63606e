import { DelayedError, Worker, type ConnectionOptions, type Job } from "bullmq";
import type pg from "pg";
import type { Logger } from "../../infra/logger.ts";
import { poolSql, sqlTx } from "../../infra/sql.ts";
import type { SecretBox } from "../../infra/secretbox.ts";
import { checkHookUrl, postWebhook, type DeliveryOutcome } from "../../infra/webhook-http.ts";
import { DELIVERY_QUEUE } from "../../domain/contracts.ts";
import { abandon, deliveryToSend, recordAttempt, type ToSend } from "../../domain/data/deliveries.ts";
import { decideAttempt, deliveryHeaders, type AttemptDecision } from "../../domain/events/delivery.ts";
import { signature256 } from "../../domain/events/signature.ts";
import { HookGate } from "./gate.ts";

// Sends one webhook delivery (docs/events.md, "Webhooks"). The queue job names a delivery;
// Postgres says whether it is still to be sent, to where, with which secret, and how many
// attempts it has had. A retryable failure is recorded and thrown, so the queue retries it
// with backoff; a delivery that ends (delivered, refused, out of attempts) hands its run's
// chain to the next delivery of that hook.

export interface DeliverDeps {
  pool: pg.Pool;
  log: Logger;
  secrets: SecretBox;
  enqueue: (ids: readonly bigint[]) => Promise<void>;
  maxAttempts: number;
  timeoutMs: number;
  allowPrivate: boolean;
  /** Called once per attempt (metrics). */
  onAttempt?: (a: { event: string; decision: AttemptDecision; durationMs: number; attempt: number }) => void;
}

export class RetryLater extends Error {
  override name = "RetryLater";
}

/** "busy": the hook has its share of this process's deliveries in flight; try again shortly. */
export async function deliver(deps: DeliverDeps, deliveryId: bigint, gate?: HookGate): Promise<"done" | "busy"> {
  const d = await deliveryToSend(poolSql(deps.pool), deliveryId);
  // Gone with its hook, already finished (a repeated job), or not its turn yet: nothing to send.
  if (!d || d.state === "delivered" || d.state === "failed" || d.state === "waiting") return "done";
  if (gate && !gate.tryEnter(d.hookId)) return "busy";
  try {
    await attempt(deps, d);
  } finally {
    gate?.leave(d.hookId);
  }
  return "done";
}

async function attempt(deps: DeliverDeps, d: ToSend): Promise<void> {
  if (!d.hookActive || d.payload === null) {
    const next = await sqlTx(deps.pool, (db) => abandon(db, d, d.hookActive ? "the event is past retention" : "the hook is inactive", new Date()));
    await deps.enqueue(next === null ? [] : [next]);
    return;
  }
  const secret = d.secretEncrypted === null ? null : deps.secrets.open(d.secretEncrypted);
  const headers = {
    "Content-Type": "application/json",
    ...deliveryHeaders({ event: d.event, guid: d.guid, hookId: d.hookId, repoId: d.repoId, signature: secret === null ? null : signature256(secret, d.payload) }),
  };
  // A secret no key of ours opens (INTENT_SIGNING_KEY changed without _PREVIOUS) must not turn into an unsigned delivery.
  const outcome = d.secretEncrypted !== null && secret === null
    ? { kind: "final" as const, status: null, headers: {}, body: "", durationMs: 0, error: "the hook's secret cannot be opened with INTENT_SIGNING_KEY (or _PREVIOUS): set the secret again" }
    : await send(deps, d, headers);
  const n = d.attempts + 1;
  const decision = decideAttempt(outcome.kind, n, deps.maxAttempts);
  const next = await sqlTx(deps.pool, (db) => recordAttempt(db, d, {
    state: decision.state, attempts: n, requestHeaders: headers, statusCode: outcome.status, responseHeaders: outcome.headers,
    responseBody: outcome.body, error: outcome.error, durationMs: outcome.durationMs, at: new Date(),
  }));
  deps.onAttempt?.({ event: d.event, decision, durationMs: outcome.durationMs, attempt: n });
  await deps.enqueue(next === null ? [] : [next]);
  if (decision.state === "retrying") throw new RetryLater(`delivery ${d.id} attempt ${n}: ${outcome.error ?? `HTTP ${outcome.status}`}`);
}

// The URL is checked again at send time (a hook may have been stored under other rules,
// and names resolve differently over time); the connection checks every address it dials.
async function send(deps: DeliverDeps, d: ToSend, headers: Record<string, string>): Promise<DeliveryOutcome> {
  const checked = await checkHookUrl(d.url, { allowPrivate: deps.allowPrivate });
  if (!checked.ok) return { kind: "final", status: null, headers: {}, body: "", durationMs: 0, error: checked.message };
  return postWebhook(checked.url, { headers, body: d.payload!, timeoutMs: deps.timeoutMs, allowPrivate: deps.allowPrivate });
}

export interface DeliveryWorkerOptions {
  connection: ConnectionOptions;
  prefix: string;
  concurrency: number;
  /** WEBHOOK_HOOK_CONCURRENCY: deliveries of one hook in flight at once here. */
  perHook: number;
  /** A worker that dies holding a delivery loses it after this long (then it is sent again, same guid). */
  lockDurationMs: number;
  stalledIntervalMs: number;
}

/** How long a delivery of a hook at its share waits before it asks again. */
const BUSY_DELAY_MS = 200;

export function createDeliveryWorker(deps: DeliverDeps, opts: DeliveryWorkerOptions): Worker {
  const gate = new HookGate(opts.perHook);
  const worker = new Worker(DELIVERY_QUEUE, async (job: Job<{ deliveryId: string }>, token?: string) => {
    const raw = job.data?.deliveryId;
    // A job is a claim from Redis: only a plain id is looked up, and Postgres decides the rest.
    if (typeof raw !== "string" || !/^\d{1,19}$/.test(raw)) return;
    if ((await deliver(deps, BigInt(raw), gate)) === "busy") {
      await job.moveToDelayed(Date.now() + BUSY_DELAY_MS * (0.5 + Math.random()), token);
      throw new DelayedError();
    }
  }, {
    connection: opts.connection, prefix: opts.prefix, concurrency: opts.concurrency, autorun: true,
    lockDuration: opts.lockDurationMs, stalledInterval: opts.stalledIntervalMs,
  });
  worker.on("error", () => {});
  return worker;
}
