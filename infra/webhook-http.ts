import http, { type ClientRequest, type IncomingHttpHeaders, type IncomingMessage } from "node:http";
import https from "node:https";
import { isIP } from "node:net";
import { performance } from "node:perf_hooks";
import { ALLOW_PRIVATE_HINT, firstRefused, guardedLookup, RefusedAddressError, systemResolve, type Resolve } from "./addresses.ts";
import { logText } from "./text.ts";
import { withTimeout } from "./timeout.ts";

// The network side of a webhook delivery: is a hook URL acceptable (checkHookUrl, at
// create/update time, for a 422), and one POST to it (postWebhook, at delivery time).
// Redirects are never followed (as GitHub's are not): a 3xx is the receiver's answer,
// and following one would let a public host bounce us onto a private address.

export const MAX_URL_LENGTH = 2000;
export const MAX_RESPONSE_BYTES = 64 * 1024;
/** getaddrinfo can sit on an unanswering resolver for many seconds; an API request should not. */
export const RESOLVE_TIMEOUT_MS = 5000;

export type DeliveryKind = "delivered" | "retryable" | "final";

export type DeliveryOutcome = {
  kind: DeliveryKind;
  status: number | null;
  headers: Record<string, string>;
  /** The first MAX_RESPONSE_BYTES of the response body, decoded as UTF-8, NULs as U+FFFD (it is stored as Postgres text). */
  body: string;
  durationMs: number;
  error: string | null;
};

export type HookUrlCheck = { ok: true; url: URL } | { ok: false; message: string };

export type DeliveryRequest = {
  headers: Record<string, string>;
  body: string;
  timeoutMs: number;
  allowPrivate: boolean;
  /** Resolves the host at connect time (default: the system resolver); every answer is checked. */
  lookup?: Resolve;
};

/**
 * The contract's table. No status means no answer (connection error, timeout): retry.
 * A 2xx whose body was cut (timeout, reset) is retried too: we cannot tell it completed.
 */
export function classify(status: number | null, error: string | null): DeliveryKind {
  if (status === null) return "retryable";
  if (status >= 200 && status <= 299) return error === null ? "delivered" : "retryable";
  if (status === 408 || status === 429 || (status >= 500 && status <= 599)) return "retryable";
  return "final";
}

/** Syntax only: scheme, host, length. */
export function parseHookUrl(raw: string): HookUrlCheck {
  if (raw.length > MAX_URL_LENGTH) return { ok: false, message: `url must be at most ${MAX_URL_LENGTH} characters` };
  const url = URL.parse(raw);
  if (url === null) return { ok: false, message: "url is not a valid URL" };
  if (url.protocol !== "http:" && url.protocol !== "https:") return { ok: false, message: "url must use http or https" };
  if (hostOf(url) === "") return { ok: false, message: "url must have a host" };
  return { ok: true, url };
}

/** The host as a resolver or isIP wants it: IPv6 literals without their brackets. */
const hostOf = (url: URL): string => url.hostname.replace(/^\[(.*)\]$/, "$1");

/**
 * Whether a hook URL may be stored. A name is resolved and refused if any of its addresses
 * is (a round-robin with one private member would reach it on some deliveries). This is a
 * courtesy to the user; the delivery checks again when it connects.
 */
export async function checkHookUrl(raw: string, opts: { allowPrivate: boolean; resolve?: Resolve }): Promise<HookUrlCheck> {
  const parsed = parseHookUrl(raw);
  if (!parsed.ok) return parsed;
  const host = hostOf(parsed.url);
  const literal = isIP(host) !== 0;
  const addresses = literal ? [host] : await resolveForCheck(host, opts.resolve ?? systemResolve);
  if (typeof addresses === "string") return { ok: false, message: addresses };
  const refused = firstRefused(addresses, opts.allowPrivate);
  if (refused === null) return parsed;
  const what = literal ? "url host is" : "url resolves to";
  return { ok: false, message: `${what} ${refused.reason} (${refused.ip}); ${ALLOW_PRIVATE_HINT}` };
}

/** The host's addresses, or the 422 message saying why there are none. */
async function resolveForCheck(host: string, resolve: Resolve): Promise<string[] | string> {
  try {
    const addresses = await withTimeout(resolve(host), RESOLVE_TIMEOUT_MS, `resolving ${host}`);
    return addresses.length > 0 ? addresses : `url host ${host} does not resolve`;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOTFOUND" || code === "ENODATA") return `url host ${host} does not resolve`;
    return `url host ${host} could not be resolved (${(err as Error).message})`;
  }
}

/** One POST of a delivery. Never throws: every failure is an outcome. */
export async function postWebhook(url: URL, req: DeliveryRequest): Promise<DeliveryOutcome> {
  const started = performance.now();
  const attempt = await send(url, req);
  const kind = attempt.final ? "final" : classify(attempt.status, attempt.error);
  const { final: _final, ...rest } = attempt;
  return { kind, ...rest, durationMs: Math.round(performance.now() - started) };
}

/** `final`: refused before any answer, for a reason a retry would meet again (policy, bad header). */
type Attempt = Omit<DeliveryOutcome, "kind" | "durationMs"> & { final: boolean };

function send(url: URL, req: DeliveryRequest): Promise<Attempt> {
  // Node's socket skips `lookup` for an IP literal, so a literal is judged here instead.
  const host = hostOf(url);
  const refused = isIP(host) !== 0 ? firstRefused([host], req.allowPrivate) : null;
  if (refused) {
    const error = `${host} is ${refused.reason}; ${ALLOW_PRIVATE_HINT}`;
    return Promise.resolve({ status: null, headers: {}, body: "", error, final: true });
  }
  return new Promise((done) => {
    let status: number | null = null;
    let headers: Record<string, string> = {};
    const body = new BodyBuffer(MAX_RESPONSE_BYTES);
    let request: ClientRequest | undefined;
    let settled = false;
    // `reusable`: the response was read to its end, so its connection may serve the next delivery.
    const finish = (error: string | null, final = false, reusable = false): void => {
      if (settled) return;
      settled = true;
      clearTimeout(deadline);
      // Also how the body read stops at the cap: the socket goes, nothing more is read.
      if (!reusable) request?.destroy();
      done({ status, headers, body: body.text(), error, final });
    };
    // One deadline for the whole exchange (lookup, connect, headers, body), so a receiver
    // that trickles its body cannot hold a worker past it.
    const deadline = setTimeout(() => finish(`timeout after ${req.timeoutMs} ms`), req.timeoutMs);
    const onResponse = (res: IncomingMessage): void => {
      status = res.statusCode ?? null;
      headers = flatHeaders(res.headers);
      res.on("data", (chunk: Buffer) => body.add(chunk) || finish(null));
      res.on("end", () => finish(null, false, true));
      res.on("error", (err) => finish(err.message));
      res.on("close", () => finish(res.complete ? null : "connection closed before the response ended"));
    };
    try {
      request = openRequest(url, req, onResponse);
      request.on("error", (err) => finish(err.message, err instanceof RefusedAddressError));
      request.end(req.body);
    } catch (err) {
      // A header node refuses to send (a newline in a value): retrying sends the same.
      finish((err as Error).message, true);
    }
  });
}

function openRequest(url: URL, req: DeliveryRequest, onResponse: (res: IncomingMessage) => void): ClientRequest {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(req.headers)) {
    const lower = name.toLowerCase();
    if (lower !== "content-type" && lower !== "content-length") headers[name] = value;
  }
  headers["Content-Type"] = "application/json";
  headers["Content-Length"] = String(Buffer.byteLength(req.body));
  const tls = url.protocol === "https:";
  const resolve = req.lookup ?? systemResolve;
  return (tls ? https : http).request(
    url,
    { method: "POST", headers, lookup: guardedLookup(resolve, req.allowPrivate), agent: agentFor(resolve, req.allowPrivate, tls) },
    onResponse,
  );
}

/**
 * Kept-alive connections, one pool per resolver and address policy: a pooled socket is
 * keyed by host and port only, so one dialled under another resolver or policy must never
 * be handed to this request. Every socket in a pool was checked by that pool's guarded
 * lookup when it connected. Node closes an idle socket before the receiver's advertised
 * Keep-Alive timeout, so a reused one is rarely found closed (and that is a retry).
 */
const pools = new WeakMap<Resolve, Map<string, http.Agent>>();
function agentFor(resolve: Resolve, allowPrivate: boolean, tls: boolean): http.Agent {
  let byPolicy = pools.get(resolve);
  if (!byPolicy) pools.set(resolve, (byPolicy = new Map()));
  const key = `${tls ? "https" : "http"} ${allowPrivate ? "private" : "public"}`;
  let agent = byPolicy.get(key);
  if (!agent) {
    const opts = { keepAlive: true, keepAliveMsecs: 1_000, maxFreeSockets: 64, timeout: 60_000 };
    byPolicy.set(key, (agent = tls ? new https.Agent(opts) : new http.Agent(opts)));
  }
  return agent;
}

/** Keeps the first `cap` bytes; add() says whether it wants more. */
class BodyBuffer {
  private readonly chunks: Buffer[] = [];
  private size = 0;
  constructor(private readonly cap: number) {}
  add(chunk: Buffer): boolean {
    const kept = chunk.subarray(0, this.cap - this.size);
    this.chunks.push(kept);
    this.size += kept.length;
    return this.size < this.cap;
  }
  text(): string {
    return logText(Buffer.concat(this.chunks).toString("utf8"));
  }
}

/** Response headers as one string each (a repeated header joined as HTTP would fold it). */
function flatHeaders(raw: IncomingHttpHeaders): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(raw)) {
    if (value !== undefined) out[name] = Array.isArray(value) ? value.join(", ") : value;
  }
  return out;
}
