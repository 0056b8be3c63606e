import http from "node:http";

// Lean listeners for the events scenario, living in the bench process: a webhook receiver
// (a node:http server that reads the body and answers 200) and a client of a repository's
// event stream (node:http, reading the text/event-stream as it arrives). Each counts what
// arrives and, while `recording`, stamps the first arrival of each job transition. Payloads
// are parsed only while recording, so the fan-out load costs the bench process little.

/** Wall-clock ms, sub-ms: Date.now()'s offset taken on a tick of Date.now(), then the monotonic clock. */
export function wallClock(): () => number {
  const first = Date.now();
  let now = first;
  // Date.now() truncates to the ms; at the moment it ticks, its value is exact.
  while (now === first) now = Date.now();
  const offset = now - performance.now();
  return () => offset + performance.now();
}

/** The key a job transition is matched by: the payload's job id and action. */
export const transitionKey = (jobId: number | bigint | string, action: string) => `${jobId}:${action}`;

/** The transition a workflow_job payload announces (null for anything else or a payload without one). */
export function transitionOf(payload: string): string | null {
  try {
    const p = JSON.parse(payload) as { action?: unknown; workflow_job?: { id?: unknown } };
    const id = p.workflow_job?.id;
    return typeof p.action === "string" && (typeof id === "number" || typeof id === "string") ? transitionKey(id, p.action) : null;
  } catch {
    return null;
  }
}

export interface Listener {
  readonly kind: "webhook" | "sse";
  /** Requests or messages received so far, recorded or not. */
  count(): number;
  /** First arrival (wall ms) of each job transition received while recording. */
  readonly arrivals: Map<string, number>;
  recording: boolean;
  /** The stream ended or was cut (always false for a receiver). */
  ended(): boolean;
  close(): Promise<void>;
}

function note(arrivals: Map<string, number>, payload: string, at: number): void {
  const key = transitionOf(payload);
  if (key !== null && !arrivals.has(key)) arrivals.set(key, at);
}

export interface Receiver extends Listener {
  url: string;
}

/** A webhook receiver on 127.0.0.1 answering 200 to every request; stamped when the body is in. */
export async function startReceiver(clock: () => number): Promise<Receiver> {
  let count = 0;
  const arrivals = new Map<string, number>();
  const self = { recording: false };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    // Bodies are kept only while recording: the fan-out load just counts requests.
    req.on("data", (c: Buffer) => {
      if (self.recording) chunks.push(c);
    });
    req.on("end", () => {
      const at = clock();
      count++;
      if (self.recording && req.headers["x-github-event"] === "workflow_job") note(arrivals, Buffer.concat(chunks).toString("utf8"), at);
      res.writeHead(200, { "content-type": "text/plain", "content-length": "2" }).end("ok");
    });
  });
  // The worker keeps its connections; ours must not drop them between deliveries.
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve, reject) => server.once("error", reject).listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  return Object.assign(self, {
    kind: "webhook" as const, url: `http://127.0.0.1:${port}/hook`, arrivals, count: () => count, ended: () => false,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  });
}

/** Splits complete SSE blocks off `text`; returns each message's event and data, and the rest. */
export function splitSse(text: string): { messages: { event: string; data: string }[]; rest: string } {
  const blocks = text.split("\n\n");
  const rest = blocks.pop() ?? "";
  const messages: { event: string; data: string }[] = [];
  for (const block of blocks) {
    let event = "message";
    let data = "";
    let isMessage = false;
    for (const line of block.split("\n")) {
      if (line.startsWith(":") || line === "") continue;
      isMessage = true;
      if (line.startsWith("event:")) event = line.slice(6).trim();
      else if (line.startsWith("data:")) data += (data ? "\n" : "") + line.slice(5).replace(/^ /, "");
    }
    if (isMessage) messages.push({ event, data });
  }
  return { messages, rest };
}

const ID_LINE = "\nid:";

/**
 * Counts a stream's messages chunk by chunk without parsing them: each of the API's
 * messages starts with an id line and its data is one line of JSON, so "\nid:" occurs
 * once per message. The last ID_LINE.length - 1 characters are carried to the next chunk,
 * so a line split across chunks counts once; the stream's start counts as a line start.
 */
export function messageCounter(): (chunk: string) => number {
  let tail = "\n";
  return (chunk) => {
    const text = tail + chunk;
    let n = 0;
    for (let at = text.indexOf(ID_LINE); at !== -1; at = text.indexOf(ID_LINE, at + ID_LINE.length)) n++;
    tail = text.slice(-(ID_LINE.length - 1));
    return n;
  };
}

/** Opens `url` (an event stream) with `token`; resolves once the 200 and headers are in, i.e. the API registered it. */
export function openStream(url: string, token: string, clock: () => number, o: { recording?: boolean } = {}): Promise<Listener> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { headers: { accept: "text/event-stream", authorization: `Bearer ${token}` }, agent: false }, (res) => {
      if (res.statusCode !== 200) {
        res.resume();
        reject(new Error(`${url} answered ${res.statusCode}`));
        return;
      }
      let count = 0;
      let rest = "";
      const counter = messageCounter();
      let done = false;
      const arrivals = new Map<string, number>();
      // Set before the first chunk: data may be in the same read as the headers.
      const self = { recording: o.recording ?? false };
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => {
        const at = clock();
        count += counter(chunk);
        if (!self.recording) {
          rest = "";
          return;
        }
        const p = splitSse(rest + chunk);
        rest = p.rest;
        for (const m of p.messages) if (m.event === "workflow_job") note(arrivals, m.data, at);
      });
      res.on("close", () => (done = true));
      resolve(Object.assign(self, {
        kind: "sse" as const, arrivals, count: () => count, ended: () => done,
        close: async () => {
          res.destroy();
        },
      }));
    });
    req.on("error", reject);
    req.end();
  });
}
