import type { Response } from "express";
import type { StreamEvent } from "../../domain/data/events.ts";
import { assertNever } from "../../infra/assert.ts";

// The text/event-stream side of a stream: framing, keep-alive, and a writer that cuts a
// client that does not read rather than buffering for it without bound. A cut client
// loses nothing: it resumes with Last-Event-ID.

export interface StreamLimits {
  /** A comment line this often, so proxies and clients see a live connection (15 s). */
  keepAliveMs: number;
  /** When a write is refused and more than this was already queued for the client, it is cut (1 MiB). */
  maxQueuedBytes: number;
  /** A client whose socket stays unwritable this long is cut (30 s). */
  stallMs: number;
}

export const DEFAULT_LIMITS: StreamLimits = { keepAliveMs: 15_000, maxQueuedBytes: 1024 * 1024, stallMs: 30_000 };

export const SSE_HEADERS = {
  "Content-Type": "text/event-stream",
  "Cache-Control": "no-store",
  // nginx buffers proxied answers unless told not to; a stream must pass through as written.
  "X-Accel-Buffering": "no",
} as const;

/** One event as the stream carries it: the payload is one line of JSON, so one `data:` field. */
export const sseMessage = (e: Pick<StreamEvent, "id" | "type" | "payload">): string => `id: ${e.id}\nevent: ${e.type}\ndata: ${e.payload}\n\n`;

export const KEEP_ALIVE = ": keep-alive\n\n";

export type Cut = "queue-full" | "stalled";

/** What to do after a refused write, given what is queued and whether a stall timer runs (pure). */
export function afterRefusedWrite(queued: number, limits: Pick<StreamLimits, "maxQueuedBytes">, timing: boolean): "cut" | "start-timer" | "wait" {
  if (queued > limits.maxQueuedBytes) return "cut";
  return timing ? "wait" : "start-timer";
}

/**
 * Writes to one client. Each write goes out at once (Node sends what `write` gets; nothing
 * is held back), so every message is flushed as it is written.
 */
export class SseWriter {
  private stall: NodeJS.Timeout | undefined;
  private readonly keepAlive: NodeJS.Timeout;
  private done = false;

  constructor(private readonly res: Response, private readonly limits: StreamLimits, private readonly onCut: (why: Cut) => void) {
    res.on("drain", this.onDrain);
    this.keepAlive = setInterval(() => {
      // A client that is not reading needs no comment to see that the connection lives.
      if (!res.writableNeedDrain) this.write(KEEP_ALIVE);
    }, limits.keepAliveMs);
  }

  private readonly onDrain = () => {
    clearTimeout(this.stall);
    this.stall = undefined;
  };

  get closed(): boolean {
    return this.done || this.res.destroyed;
  }

  /** False once the stream is over (ended, cut, or the client left). */
  write(text: string): boolean {
    if (this.closed) return false;
    // What was queued before this write: one message larger than the bound is not a slow client.
    const queued = this.res.writableLength;
    if (this.res.write(text)) return true;
    const next = afterRefusedWrite(queued, this.limits, this.stall !== undefined);
    switch (next) {
      case "cut":
        this.cut("queue-full");
        return false;
      case "start-timer":
        this.stall = setTimeout(() => this.cut("stalled"), this.limits.stallMs);
        return true;
      case "wait":
        return true;
      default:
        return assertNever(next, "write decision");
    }
  }

  /** Resolves true when the client can take more, false when the stream is over. */
  drained(): Promise<boolean> {
    if (this.closed) return Promise.resolve(false);
    if (!this.res.writableNeedDrain) return Promise.resolve(true);
    return new Promise((resolve) => {
      const settle = (ok: boolean) => {
        this.res.off("drain", onDrain);
        this.res.off("close", onClose);
        resolve(ok && !this.closed);
      };
      const onDrain = () => settle(true);
      const onClose = () => settle(false);
      this.res.on("drain", onDrain);
      this.res.on("close", onClose);
    });
  }

  private cut(why: Cut): void {
    if (this.closed) return;
    this.release();
    this.res.destroy();
    this.onCut(why);
  }

  /** Ends the response normally; `closeConnection` also ends the socket (shutdown: the server must be able to stop). */
  end(closeConnection = false): void {
    if (this.closed) return;
    this.release();
    if (closeConnection) this.res.once("finish", () => this.res.socket?.end());
    this.res.end();
  }

  /** Stops the timers (the client left). */
  release(): void {
    this.done = true;
    clearInterval(this.keepAlive);
    clearTimeout(this.stall);
    this.res.off("drain", this.onDrain);
  }
}
