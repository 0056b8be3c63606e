// A minimal Docker Engine API client over its unix socket (node:http, no dependency): the
// docker CLI costs tens of milliseconds per call, and cancel propagation is measured in ms.
// Every call has a deadline; the two long-lived ones (attach, wait) end when the engine
// closes them, and their user bounds them (docker.ts).

import http from "node:http";
import type { Duplex } from "node:stream";

export const DEFAULT_SOCKET = "/var/run/docker.sock";

/** The socket DOCKER_HOST names (unix:// only); its default when unset. */
export function engineSocket(dockerHost: string | undefined): string {
  if (dockerHost === undefined || dockerHost === "") return DEFAULT_SOCKET;
  if (dockerHost.startsWith("unix://")) return dockerHost.slice("unix://".length);
  throw new Error(`DOCKER_HOST=${dockerHost}: the runner's docker driver speaks only to a unix socket (unix:///path/to/docker.sock)`);
}

export class EngineError extends Error {
  override name = "EngineError";
  /** status: the engine's HTTP status, null when the engine did not answer at all; detail: the cause alone. */
  constructor(readonly status: number | null, message: string, readonly detail = message) {
    super(message);
  }

  /** The engine is away (no socket, refused, hung up, or no answer in time). */
  get unreachable(): boolean {
    return this.status === null;
  }
}

export interface CallOptions {
  body?: unknown;
  timeoutMs?: number;
  /** Statuses that are an answer rather than an error (e.g. 404 for "already gone"). */
  accept?: number[];
  /** A call the engine may hold open (a stop's grace): on a connection of its own, not a pooled one. */
  long?: boolean;
}

export interface Answer<T> {
  status: number;
  json: T;
}

const DEFAULT_TIMEOUT_MS = 10_000;

/** The engine's own error text (`{"message": …}`), else the raw body. */
function engineMessage(status: number, raw: string): string {
  try {
    const m = (JSON.parse(raw) as { message?: unknown }).message;
    if (typeof m === "string") return m;
  } catch {
    // not JSON
  }
  return raw.trim() || `HTTP ${status}`;
}

export class Engine {
  // Short calls share kept-alive connections; attach and wait each get their own
  // (agent: false), so a long wait never holds a pooled socket another call needs.
  private readonly agent = new http.Agent({ keepAlive: true, maxSockets: 32 });

  constructor(readonly socketPath: string) {}

  private unreachable(what: string, e: unknown): EngineError {
    const detail = (e as Error).message;
    return new EngineError(null, `the Docker engine at unix://${this.socketPath} did not answer ${what}: ${detail}`, detail);
  }

  /** One request and its whole answer, within `timeoutMs`. Throws EngineError. */
  call<T = unknown>(method: string, path: string, opts: CallOptions = {}): Promise<Answer<T>> {
    const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    const what = `${method} ${path.split("?")[0]}`;
    return new Promise((resolve, reject) => {
      const body = opts.body === undefined ? undefined : JSON.stringify(opts.body);
      const req = http.request({
        socketPath: this.socketPath, path, method, agent: opts.long ? false : this.agent,
        headers: body === undefined ? {} : { "content-type": "application/json", "content-length": Buffer.byteLength(body) },
      });
      const timer = setTimeout(() => req.destroy(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
      req.on("error", (e) => {
        clearTimeout(timer);
        reject(this.unreachable(what, e));
      });
      req.on("response", (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        // Cut off mid-answer: no 'end' comes, and req's 'error' has already been spent.
        res.on("error", () => {});
        res.on("close", () => {
          clearTimeout(timer);
          if (!res.complete) reject(this.unreachable(what, new Error("the connection closed mid-answer")));
        });
        res.on("end", () => {
          clearTimeout(timer);
          const raw = Buffer.concat(chunks).toString("utf8");
          const status = res.statusCode ?? 0;
          if (status >= 400 && !(opts.accept ?? []).includes(status)) {
            reject(new EngineError(status, `${what}: ${engineMessage(status, raw)}`));
            return;
          }
          let json: unknown = raw;
          try {
            json = raw === "" ? null : JSON.parse(raw);
          } catch {
            // a plain-text answer (_ping says "OK")
          }
          resolve({ status, json: json as T });
        });
      });
      req.end(body);
    });
  }

  /**
   * The container's stdio as one raw stream (hijacked HTTP), opened before it starts so no
   * output is missed. stdin stays attached and open: with StdinOnce the engine closes the
   * container's stdin when this connection goes, so a container never outlives its runner.
   */
  attach(id: string, timeoutMs = DEFAULT_TIMEOUT_MS): Promise<{ stream: Duplex; head: Buffer }> {
    return new Promise((resolve, reject) => {
      const req = http.request({
        socketPath: this.socketPath, method: "POST", agent: false,
        path: `/containers/${id}/attach?stream=1&stdin=1&stdout=1&stderr=1`,
        headers: { connection: "Upgrade", upgrade: "tcp" },
      });
      const timer = setTimeout(() => req.destroy(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
      req.on("error", (e) => {
        clearTimeout(timer);
        reject(this.unreachable("POST /attach", e));
      });
      req.on("upgrade", (_res, socket, head) => {
        clearTimeout(timer);
        resolve({ stream: socket, head });
      });
      req.on("response", (res) => {
        clearTimeout(timer);
        res.resume();
        reject(new EngineError(res.statusCode ?? 0, `POST /attach answered ${res.statusCode} instead of switching protocols`));
      });
      req.end();
    });
  }

  /**
   * Waits for the container's next exit. `registered` resolves once the engine has taken the
   * wait (it sends its headers first), so a start after it cannot race the exit; `exited`
   * resolves with the exit code, or rejects when the engine goes away or `abort` is called.
   */
  wait(id: string, timeoutMs = DEFAULT_TIMEOUT_MS): { registered: Promise<void>; exited: Promise<number>; abort(why: string): void } {
    let onRegistered!: () => void;
    let fail!: (e: Error) => void;
    const registered = new Promise<void>((resolve, reject) => ((onRegistered = resolve), (fail = reject)));
    const req = http.request({ socketPath: this.socketPath, method: "POST", agent: false, path: `/containers/${id}/wait?condition=next-exit` });
    const timer = setTimeout(() => req.destroy(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
    const exited = new Promise<number>((resolve, reject) => {
      const registerFail = fail;
      // The first verdict stands; the connection is closed with it.
      fail = (e: Error) => {
        clearTimeout(timer);
        registerFail(e);
        reject(e);
        req.destroy();
      };
      req.on("error", (e) => fail(this.unreachable("POST /wait", e)));
      req.on("response", (res) => {
        clearTimeout(timer);
        const status = res.statusCode ?? 0;
        if (status < 400) onRegistered();
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("error", () => {});
        res.on("close", () => !res.complete && fail(this.unreachable("POST /wait", new Error("the connection closed before the container exited"))));
        res.on("end", () => {
          const raw = Buffer.concat(chunks).toString("utf8");
          if (status >= 400) return fail(new EngineError(status, `POST /wait: ${engineMessage(status, raw)}`));
          const code = (() => {
            try {
              return (JSON.parse(raw) as { StatusCode?: unknown }).StatusCode;
            } catch {
              return undefined;
            }
          })();
          if (typeof code === "number") resolve(code);
          else fail(new EngineError(null, `POST /wait: the engine's answer carried no exit code (${raw.slice(0, 100) || "empty"})`));
        });
      });
    });
    // Awaited by whoever needs them; the handlers keep an early failure from being "unhandled".
    registered.catch(() => {});
    exited.catch(() => {});
    req.end();
    return { registered, exited, abort: (why) => fail(new EngineError(null, why)) };
  }

  close(): void {
    this.agent.destroy();
  }
}

/**
 * Splits the engine's multiplexed stdio (no TTY): frames of an 8-byte header — stream
 * (1 stdout, 2 stderr), three zero bytes, a big-endian payload length — then the payload.
 */
export class FrameDemuxer {
  private pending: Buffer = Buffer.alloc(0);

  constructor(private readonly emit: (stream: "stdout" | "stderr", payload: Buffer) => void) {}

  push(chunk: Buffer): void {
    let buf = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    while (buf.length >= 8) {
      const size = buf.readUInt32BE(4);
      if (buf.length < 8 + size) break;
      const kind = buf[0];
      // 0 would be stdin echoed back, which a non-TTY attach never sends; 3 is the engine's own error text.
      if (kind === 1 || kind === 2 || kind === 3) this.emit(kind === 1 ? "stdout" : "stderr", buf.subarray(8, 8 + size));
      buf = buf.subarray(8 + size);
    }
    this.pending = Buffer.from(buf);
  }
}
