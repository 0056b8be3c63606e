import { Router, type Request, type Response } from "express";
import { endsRun, readBacklog, readRunEnd, type EventFilter, type StreamEvent } from "../../domain/data/events.ts";
import { authenticate, authOf, idParam, repoParam, requireScope, type AuthDeps, type TargetAccess } from "../auth.ts";
import { badRequest, HttpError, notFound, unavailable } from "../errors.ts";
import { visibleTarget } from "../routes/read.ts";
import type { Sql } from "../../infra/sql.ts";
import type { EventHub } from "./hub.ts";
import { DEFAULT_LIMITS, SSE_HEADERS, SseWriter, sseMessage, type Cut, type StreamLimits } from "./stream.ts";

// Live event streams (docs/event-streams.md): a run's events and a repository's, as
// Server-Sent Events, authorized as every read is before anything is read. Where a stream
// starts: a run's from its first event (a client that opens it late still sees the whole
// run), a repository's from now; Last-Event-ID resumes either after the event it names.

export interface EventStreamOptions extends Partial<StreamLimits> {
  /** Open streams per user, over all its tokens (20). */
  maxStreamsPerUser?: number;
}

export interface EventRouteDeps extends AuthDeps {
  hub: EventHub;
  options?: EventStreamOptions;
}

export const MAX_STREAMS_PER_USER = 20;
const BACKLOG_PAGE = 500;
const MAX_ID = 2n ** 63n - 1n;

export type LastEventId = { ok: true; value: bigint | null } | { ok: false; message: string };

/**
 * The header wins over `?last_event_id=`: an EventSource reconnecting sends the header and
 * keeps the URL it was opened with, whose parameter is older.
 */
export function parseLastEventId(header: string | undefined, param: unknown): LastEventId {
  const [given, name] = header !== undefined ? [header, "Last-Event-ID"] : [param, "last_event_id"];
  if (given === undefined) return { ok: true, value: null };
  if (typeof given !== "string" || !/^\d{1,19}$/.test(given) || BigInt(given) > MAX_ID) {
    return { ok: false, message: `${name} must be a non-negative integer (the id of the last event received)` };
  }
  return { ok: true, value: BigInt(given) };
}

/** Open streams per user; a slot is given back when its stream ends, however it ends. */
class Slots {
  private readonly open = new Map<string, number>();
  constructor(readonly max: number) {}
  take(key: string): boolean {
    const n = this.open.get(key) ?? 0;
    if (n >= this.max) return false;
    this.open.set(key, n + 1);
    return true;
  }
  give(key: string): void {
    const n = (this.open.get(key) ?? 1) - 1;
    if (n <= 0) this.open.delete(key);
    else this.open.set(key, n);
  }
}

interface Ctx {
  deps: EventRouteDeps;
  limits: StreamLimits;
  slots: Slots;
}

function visibleRepo(res: Response): bigint {
  const known = res.locals.targetAccess as TargetAccess | undefined;
  if (known === undefined || known.access === "none" || known.repoId === undefined) throw notFound("repository");
  return known.repoId;
}

export function eventRoutes(deps: EventRouteDeps): Router {
  const r = Router();
  const o = deps.options ?? {};
  const ctx: Ctx = {
    deps,
    limits: { keepAliveMs: o.keepAliveMs ?? DEFAULT_LIMITS.keepAliveMs, maxQueuedBytes: o.maxQueuedBytes ?? DEFAULT_LIMITS.maxQueuedBytes, stallMs: o.stallMs ?? DEFAULT_LIMITS.stallMs },
    slots: new Slots(o.maxStreamsPerUser ?? MAX_STREAMS_PER_USER),
  };
  r.get("/api/v1/runs/:id/events", authenticate(deps, idParam("run")), requireScope("repo:read"), async (req, res) => {
    const runId = visibleTarget(res, "run");
    await open(ctx, req, res, { kind: "run", runId }, 0n);
  });
  r.get("/api/v1/repos/:owner/:repo/actions/events", authenticate(deps, repoParam), requireScope("repo:read"), async (req, res) => {
    const repoId = visibleRepo(res);
    await open(ctx, req, res, { kind: "repo", repoId }, "now");
  });
  return r;
}

/** Checks what is left to check, takes a slot, and streams; `fresh` is where a stream without Last-Event-ID starts. */
async function open(ctx: Ctx, req: Request, res: Response, filter: EventFilter, fresh: bigint | "now"): Promise<void> {
  const last = parseLastEventId(req.get("Last-Event-ID"), req.query.last_event_id);
  if (!last.ok) throw badRequest(last.message);
  if (ctx.deps.hub.isStopped) throw unavailable("the API is stopping: reconnect with Last-Event-ID", 1);
  if (req.method === "HEAD") {
    startEventStream(res);
    res.end();
    return;
  }
  const owner = `u${authOf(res).token.userId}`;
  if (!ctx.slots.take(owner)) {
    throw new HttpError(429, `too many open event streams: at most ${ctx.slots.max} per user; close one first`, { "Retry-After": "10" });
  }
  await stream(ctx, res, filter, last.value ?? fresh, () => ctx.slots.give(owner));
}

/**
 * How a new client misses nothing and gets nothing twice: it registers with the hub
 * first, keeping what the hub hands it meanwhile; then reads its backlog from Postgres,
 * up to the hub's position at registration (`from`), and sends it; then what it kept,
 * past the last id it sent; then live events as they come.
 */
async function stream(ctx: Ctx, res: Response, filter: EventFilter, start: bigint | "now", giveSlot: () => void): Promise<void> {
  const { hub, sql, log } = ctx.deps;
  const early: StreamEvent[] = [];
  let live = false;
  let writer: SseWriter | null = null;
  let stopping = false;
  let sent = 0n;
  let cleaned = false;
  const cleanup = () => {
    if (cleaned) return;
    cleaned = true;
    sub.close();
    writer?.release();
    giveSlot();
  };
  // What one read of the hub (or one backlog page) brought goes out in one write, at once.
  const pass = (events: readonly StreamEvent[]) => {
    if (writer === null || writer.closed) return;
    const out = framed(events, sent, filter);
    if (out.text === "" || !writer.write(out.text)) return;
    sent = out.last;
    if (out.over) finish(false);
  };
  const finish = (shutdown: boolean) => {
    stopping ||= shutdown;
    writer?.end(shutdown);
    cleanup();
  };
  const sub = hub.subscribe({ filter, deliver: (evs) => (live ? pass(evs) : void early.push(...evs)), end: () => finish(true) });
  res.on("close", cleanup);
  sent = start === "now" ? sub.from : start;
  const over = await pastRunEnd(sql, filter, sent).catch((e: unknown) => {
    cleanup();
    throw e;
  });
  if (over) {
    // 204 also tells an EventSource not to reconnect.
    cleanup();
    res.status(204).end();
    return;
  }
  if (stopping || cleaned) {
    cleanup();
    if (!res.headersSent && !res.destroyed) throw unavailable("the API is stopping: reconnect with Last-Event-ID", 1);
    return;
  }
  startEventStream(res);
  const onCut = (why: Cut) => log.warn({ request_id: res.locals.requestId, why, stream: filter.kind, sent: sent.toString() }, "event stream cut: the client did not keep up");
  writer = new SseWriter(res, ctx.limits, onCut);
  try {
    await sendBacklog(ctx, filter, sub.from, () => sent, pass, writer);
  } catch (e) {
    // Part of the stream is out: a cut connection is the honest answer; the client resumes.
    log.warn({ err: (e as Error).message, request_id: res.locals.requestId }, "event stream failed");
    res.destroy();
    return;
  }
  live = true;
  pass(early.splice(0));
}

/** A run's stream whose client has the run's completed event already: nothing will follow it. */
async function pastRunEnd(sql: Sql, filter: EventFilter, after: bigint): Promise<boolean> {
  if (filter.kind !== "run") return false;
  const end = await readRunEnd(sql, filter.runId);
  return end !== null && end <= after;
}

function startEventStream(res: Response): void {
  res.status(200);
  // setHeader, not set: Express would add a charset to the event-stream type.
  for (const [k, v] of Object.entries(SSE_HEADERS)) res.setHeader(k, v);
  res.flushHeaders();
}

/** The messages after `sent`, up to a run's completed event: nothing of a run follows it (pure). */
export function framed(events: readonly StreamEvent[], sent: bigint, filter: EventFilter): { text: string; last: bigint; over: boolean } {
  let text = "";
  let last = sent;
  for (const e of events) {
    if (e.id <= last) continue;
    text += sseMessage(e);
    last = e.id;
    if (filter.kind === "run" && endsRun(e)) return { text, last, over: true };
  }
  return { text, last, over: false };
}

/** The backlog a page at a time, each page only once the client took the one before. */
async function sendBacklog(ctx: Ctx, filter: EventFilter, upTo: bigint, sent: () => bigint, pass: (e: readonly StreamEvent[]) => void, w: SseWriter): Promise<void> {
  for (;;) {
    if (w.closed) return;
    const page = await readBacklog(ctx.deps.sql, filter, sent(), upTo, BACKLOG_PAGE);
    pass(page);
    if (page.length < BACKLOG_PAGE) return;
    if (!(await w.drained())) return;
  }
}
