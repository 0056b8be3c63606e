import { request, type IncomingMessage } from "node:http";
import { waitFor } from "./db.ts";

// A small Server-Sent Events client for tests: the text/event-stream format (WHATWG HTML,
// "Server-sent events": fields, comments, blank-line dispatch), over node:http so a test
// can stop reading (back-pressure) or drop the connection whenever it likes.

export interface SseMessage {
  id: string;
  event: string;
  data: string;
}

/** Parses complete blocks of `text` (pure); returns the messages, comments and what is left over. */
export function parseSse(text: string): { messages: SseMessage[]; comments: string[]; rest: string } {
  const messages: SseMessage[] = [];
  const comments: string[] = [];
  const blocks = text.replace(/\r\n?/g, "\n").split("\n\n");
  const rest = blocks.pop() ?? "";
  for (const block of blocks) {
    const m: SseMessage = { id: "", event: "message", data: "" };
    const data: string[] = [];
    let isMessage = false;
    for (const line of block.split("\n")) {
      if (line.startsWith(":")) {
        comments.push(line.slice(1).trim());
        continue;
      }
      const at = line.indexOf(":");
      const [field, value] = at < 0 ? [line, ""] : [line.slice(0, at), line.slice(at + 1).replace(/^ /, "")];
      isMessage = true;
      if (field === "id") m.id = value;
      else if (field === "event") m.event = value;
      else if (field === "data") data.push(value);
    }
    if (isMessage) messages.push({ ...m, data: data.join("\n") });
  }
  return { messages, comments, rest };
}

/** How much of the text received is kept whole (the messages are all kept, parsed). */
const RAW_KEPT = 1024 * 1024;

export class SseClient {
  readonly messages: SseMessage[] = [];
  readonly comments: string[] = [];
  /** The text received, its first MiB or so (for format checks). */
  raw = "";
  ended = false;
  /** Closed without a proper end (cut by the server, or aborted). */
  aborted = false;
  private rest = "";

  private constructor(readonly status: number, readonly headers: IncomingMessage["headers"], readonly res: IncomingMessage) {
    res.setEncoding("utf8");
    res.on("data", (chunk: string) => {
      if (this.raw.length < RAW_KEPT) this.raw += chunk;
      const p = parseSse(this.rest + chunk);
      this.rest = p.rest;
      this.messages.push(...p.messages);
      this.comments.push(...p.comments);
    });
    res.on("end", () => (this.ended = true));
    res.on("aborted", () => (this.aborted = true));
    res.on("error", () => (this.aborted = true));
    res.on("close", () => {
      if (!this.ended) this.aborted = true;
    });
  }

  /** Opens a stream; resolves once the status and headers are in. */
  static open(base: string, path: string, o: { token?: string; headers?: Record<string, string> } = {}): Promise<SseClient> {
    const headers: Record<string, string> = { accept: "text/event-stream", ...(o.headers ?? {}) };
    if (o.token) headers.authorization = `Bearer ${o.token}`;
    return new Promise((resolve, reject) => {
      const req = request(base + path, { headers, agent: false }, (res) => resolve(new SseClient(res.statusCode ?? 0, res.headers, res)));
      req.on("error", reject);
      req.end();
    });
  }

  get ids(): number[] {
    return this.messages.map((m) => Number(m.id));
  }

  get done(): boolean {
    return this.ended || this.aborted;
  }

  /** Waits until at least `n` messages are in. */
  async waitFor(n: number, timeoutMs = 10_000): Promise<SseMessage[]> {
    await waitFor(`${n} event(s) on the stream (have ${this.messages.length})`, async () => this.messages.length >= n || (this.done && this.messages.length < n ? Promise.reject(new Error(`stream closed with ${this.messages.length} of ${n} events`)) : false), timeoutMs);
    return this.messages;
  }

  /** Waits until the server ended the answer (or cut it). */
  async waitDone(timeoutMs = 10_000): Promise<void> {
    await waitFor("the stream to end", async () => this.done, timeoutMs);
  }

  /** The body of a non-stream answer (an error), parsed. */
  async body(): Promise<any> {
    await this.waitDone();
    return this.raw ? JSON.parse(this.raw) : null;
  }

  /** Stops reading: what the server sends piles up in the socket buffers. */
  pause(): void {
    this.res.pause();
  }

  close(): void {
    this.res.destroy();
  }
}
