import { createHmac, timingSafeEqual } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

// The webhook receiver of the webhook-receiver-down scenario, on 127.0.0.1. It records
// every request in arrival order and whether its 200 went out, and it can go down
// (connections refused) and come back on the same port. Its own small server rather than
// test/setup/receiver.ts: chaos/ imports nothing from test/.

export interface Reception {
  /** X-GitHub-Delivery. */
  guid: string;
  event: string;
  /** X-Hub-Signature-256 matches an HMAC of the body with the hook's secret. */
  signed: boolean;
  /** The 200 was written out in full; a request cut by down() before that is a retry to come. */
  answered: boolean;
}

export interface ChaosReceiver {
  url: string;
  /** In arrival order. */
  readonly received: Reception[];
  down(): Promise<void>;
  reopen(): Promise<void>;
  close(): Promise<void>;
}

export function signatureMatches(secret: string, body: Buffer, header: string): boolean {
  const want = Buffer.from(`sha256=${createHmac("sha256", secret).update(body).digest("hex")}`);
  const got = Buffer.from(header);
  return got.length === want.length && timingSafeEqual(got, want);
}

export async function startChaosReceiver(secret: string): Promise<ChaosReceiver> {
  const received: Reception[] = [];
  let server: Server | null = null;
  let port = 0;
  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const h = (k: string) => String(req.headers[k] ?? "");
    const r: Reception = { guid: h("x-github-delivery"), event: h("x-github-event"), signed: signatureMatches(secret, Buffer.concat(chunks), h("x-hub-signature-256")), answered: false };
    received.push(r);
    // "finish": the whole answer is handed to the OS, which is as far as a server can know.
    res.once("finish", () => (r.answered = true));
    res.writeHead(200, { "content-type": "text/plain" }).end("ok");
  };
  const listen = () => new Promise<void>((resolve, reject) => {
    const s = createServer((req, res) => void handle(req, res).catch(() => res.destroy()));
    s.once("error", reject);
    s.listen(port, "127.0.0.1", () => {
      port = (s.address() as AddressInfo).port;
      server = s;
      resolve();
    });
  });
  const stop = () => new Promise<void>((resolve) => {
    const s = server;
    server = null;
    if (!s) return resolve();
    // close() first, so no new connection is accepted while the open ones are cut.
    s.close(() => resolve());
    s.closeAllConnections();
  });
  await listen();
  return { url: `http://127.0.0.1:${port}/hook`, received, down: stop, reopen: listen, close: stop };
}
