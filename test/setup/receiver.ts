import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { Webhooks } from "@octokit/webhooks";

// A webhook receiver on 127.0.0.1 for tests: it records every request and checks its
// signature with Octokit's own code, answering what the test tells it to.

export interface Received {
  /** X-GitHub-Delivery. */
  guid: string;
  event: string;
  hookId: string;
  headers: Record<string, string>;
  body: string;
  payload: any;
  /** Octokit's verify with the receiver's secret (false without a signature). */
  verified: boolean;
  at: number;
}

/** What to answer the n-th request (from 1): a status, a status after a delay, or "hang" to never answer. */
export type Respond = (n: number, r: Received) => number | "hang" | { status: number; delayMs: number };

export interface Receiver {
  url: string;
  received: Received[];
  /** Requests that were answered 2xx, in the order they arrived. */
  accepted(): Received[];
  respond: Respond;
  close(): Promise<void>;
  /** Stops listening (connections refused) until reopen(). */
  down(): Promise<void>;
  reopen(): Promise<void>;
}

export async function startReceiver(secret: string, respond: Respond = () => 200): Promise<Receiver> {
  const hooks = new Webhooks({ secret });
  const received: Received[] = [];
  const statuses: number[] = [];
  let port = 0;
  let server: Server;
  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks).toString("utf8");
    const h = (k: string) => String(req.headers[k] ?? "");
    const signature = h("x-hub-signature-256");
    const r: Received = {
      guid: h("x-github-delivery"), event: h("x-github-event"), hookId: h("x-github-hook-id"),
      headers: Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k, String(v)])), body,
      payload: JSON.parse(body), verified: signature !== "" && (await hooks.verify(body, signature)), at: Date.now(),
    };
    received.push(r);
    const i = statuses.push(0) - 1;
    const answer = rec.respond(received.length, r);
    if (answer === "hang") return;
    const { status, delayMs } = typeof answer === "number" ? { status: answer, delayMs: 0 } : answer;
    if (delayMs > 0) await new Promise((resolve) => setTimeout(resolve, delayMs));
    res.writeHead(status, { "content-type": "text/plain" }).end(status < 300 ? "ok" : "no");
    // Counted as accepted once the answer is on its way, as the sender sees it.
    statuses[i] = status;
  };
  const listen = () => new Promise<void>((resolve) => {
    server = createServer((req, res) => void handle(req, res));
    server.listen(port, "127.0.0.1", () => {
      port = (server.address() as AddressInfo).port;
      resolve();
    });
  });
  const stop = () => new Promise<void>((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  });
  await listen();
  const rec: Receiver = {
    url: `http://127.0.0.1:${port}/hook`,
    received,
    accepted: () => received.filter((_, i) => statuses[i]! >= 200 && statuses[i]! < 300),
    respond,
    close: stop,
    down: stop,
    reopen: listen,
  };
  return rec;
}

/** The run a delivery is about (our run id: a first attempt's id is GitHub's run id). */
export const runOf = (r: Received) => (r.event === "workflow_run" ? r.payload.workflow_run.id : r.payload.workflow_job.run_id) as number;
/** A delivery as `event.action#job`, the shape tests compare with the outbox's rows. */
export const describeOf = (r: Received) => `${r.event}.${r.payload.action}${r.event === "workflow_job" ? `#${r.payload.workflow_job.id}` : ""}`;
