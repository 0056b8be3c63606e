import { once } from "node:events";
import http, { type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from "node:http";
import net from "node:net";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { checkHookUrl, MAX_RESPONSE_BYTES, postWebhook, type DeliveryRequest } from "./webhook-http.ts";

// Every receiver listens on 127.0.0.1, and every name is resolved by an injected lookup
// that answers 127.0.0.1 (or a refused address that must never be dialled). As a second
// line, a tripwire on net.Socket#connect records each dial and refuses any IP literal
// other than 127.0.0.1 before a packet leaves, so even a broken build cannot send
// traffic elsewhere; its record is also how the redirect tests prove nothing was dialled.

const dialled: string[] = [];
const realConnect = net.Socket.prototype.connect;
beforeAll(() => {
  net.Socket.prototype.connect = function tripwire(this: net.Socket, ...args: unknown[]) {
    const first = args[0];
    const options = Array.isArray(first) ? first[0] : first;
    const host: unknown = typeof options === "object" && options !== null ? (options as { host?: unknown }).host : args[1];
    if (typeof host === "string") {
      dialled.push(host);
      if (net.isIP(host) !== 0 && host !== "127.0.0.1") {
        process.nextTick(() => this.destroy(new Error(`tripwire: refused to dial ${host}`)));
        return this;
      }
    }
    return (realConnect as (...a: unknown[]) => net.Socket).apply(this, args);
  } as typeof realConnect;
});
afterAll(() => {
  net.Socket.prototype.connect = realConnect;
});

type Seen = { method: string | undefined; url: string | undefined; headers: IncomingHttpHeaders; body: string };
type Receiver = { port: number; url: string; connections: number; requests: Seen[]; server: http.Server };
type Handler = (req: IncomingMessage, res: ServerResponse) => void;

const receivers: Receiver[] = [];
afterEach(async () => {
  for (const r of receivers.splice(0)) {
    r.server.closeAllConnections();
    r.server.close();
    await once(r.server, "close");
  }
});

/** A receiver on 127.0.0.1 that records each connection and each request (read whole) before `handle`. */
async function receiver(handle: Handler): Promise<Receiver> {
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      r.requests.push({ method: req.method, url: req.url, headers: req.headers, body: Buffer.concat(chunks).toString("utf8") });
      res.on("error", () => {}); // the client may cut us off (the body cap, the deadline)
      handle(req, res);
    });
  });
  server.on("connection", () => r.connections++);
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const port = (server.address() as net.AddressInfo).port;
  const r: Receiver = { port, url: `http://127.0.0.1:${port}/hook`, connections: 0, requests: [], server };
  receivers.push(r);
  return r;
}

const reply = (status: number, body = "", headers: Record<string, string> = {}): Handler => (_req, res) => {
  res.writeHead(status, headers).end(body);
};

/** A lookup from a fixed table, recording what it was asked. */
function lookupTable(answers: Record<string, string[]>) {
  const asked: string[] = [];
  const lookup = async (host: string): Promise<string[]> => {
    asked.push(host);
    return answers[host] ?? Promise.reject(Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: "ENOTFOUND" }));
  };
  return { asked, lookup };
}

const base: DeliveryRequest = { headers: {}, body: "{}", timeoutMs: 5000, allowPrivate: true };

describe("postWebhook against local receivers", () => {
  it("delivers a 200, with the body and headers sent arriving intact", async () => {
    const r = await receiver(reply(200, "thanks", { "X-Reply": "yes" }));
    const body = JSON.stringify({ action: "completed", workflow_job: { name: "büild ✓" } });
    const headers = { "X-GitHub-Event": "workflow_job", "X-Hub-Signature-256": "sha256=abc", "User-Agent": "GitHub-Hookshot/test", "content-type": "text/plain" };
    const out = await postWebhook(new URL(r.url), { ...base, headers, body });
    expect(out).toMatchObject({ kind: "delivered", status: 200, body: "thanks", error: null });
    expect(out.headers["x-reply"]).toBe("yes");
    expect(out.durationMs).toBeGreaterThanOrEqual(0);
    expect(r.requests).toHaveLength(1);
    const seen = r.requests[0]!;
    expect(seen).toMatchObject({ method: "POST", url: "/hook", body });
    expect(seen.headers).toMatchObject({
      "content-type": "application/json", "content-length": String(Buffer.byteLength(body)),
      "x-github-event": "workflow_job", "x-hub-signature-256": "sha256=abc", "user-agent": "GitHub-Hookshot/test",
    });
    expect(dialled).toContain("127.0.0.1"); // the tripwire sits on the path every dial takes
  });

  it("resolves a name through the lookup when private addresses are allowed", async () => {
    const r = await receiver(reply(204));
    const dns = lookupTable({ "hook.test": ["127.0.0.1"] });
    const out = await postWebhook(new URL(`http://hook.test:${r.port}/hook`), { ...base, lookup: dns.lookup });
    expect(out).toMatchObject({ kind: "delivered", status: 204, error: null });
    expect(dns.asked).toEqual(["hook.test"]);
    expect(r.requests[0]?.headers.host).toBe(`hook.test:${r.port}`);
  });

  it("uses the system resolver when no lookup is given (localhost, from /etc/hosts)", async () => {
    const r = await receiver(reply(200, "ok"));
    const out = await postWebhook(new URL(`http://localhost:${r.port}/hook`), base);
    expect(out).toMatchObject({ kind: "delivered", status: 200, body: "ok" });
    const refused = await postWebhook(new URL(`http://localhost:${r.port}/hook`), { ...base, allowPrivate: false });
    expect(refused).toMatchObject({ kind: "final", status: null });
    expect(refused.error).toMatch(/^localhost resolves to a loopback address/);
    expect(r.requests).toHaveLength(1);
  });

  it.each<[number, string]>([
    [500, "retryable"], [503, "retryable"], [429, "retryable"], [408, "retryable"],
    [404, "final"], [410, "final"], [400, "final"], [401, "final"],
  ])("a %s is %s", async (status, kind) => {
    const r = await receiver(reply(status, `status ${status}`));
    const out = await postWebhook(new URL(r.url), base);
    expect(out).toMatchObject({ kind, status, body: `status ${status}`, error: null });
  });

  it("does not follow a 302 to a private address: nothing asks for it or dials it", async () => {
    const r = await receiver(reply(302, "", { Location: "http://10.1.2.3/" }));
    const dns = lookupTable({ "hook.test": ["127.0.0.1"] });
    const before = dialled.length;
    const out = await postWebhook(new URL(`http://hook.test:${r.port}/hook`), { ...base, lookup: dns.lookup });
    expect(out).toMatchObject({ kind: "final", status: 302, error: null });
    expect(out.headers.location).toBe("http://10.1.2.3/");
    expect(dns.asked).toEqual(["hook.test"]);
    expect(dialled.slice(before)).toEqual(["hook.test"]);
  });

  it("does not follow a redirect to a second receiver, which sees no connection", async () => {
    const target = await receiver(reply(200, "should not be reached"));
    for (const status of [301, 302, 303, 307, 308]) {
      const r = await receiver(reply(status, "", { Location: target.url }));
      const out = await postWebhook(new URL(r.url), base);
      expect(out).toMatchObject({ kind: "final", status, error: null });
    }
    expect(target.connections).toBe(0);
  });

  it.each<[string, Handler]>([
    ["sends headers and then hangs", (_req, res) => res.writeHead(200).flushHeaders()],
    ["never answers", () => {}],
    ["trickles its body", (_req, res) => {
      res.writeHead(200);
      const drip = setInterval(() => res.write("x"), 20);
      res.on("close", () => clearInterval(drip));
    }],
  ])("cuts a receiver that %s at the deadline: retryable", async (_what, handle) => {
    const r = await receiver(handle);
    const timeoutMs = 400;
    const started = performance.now();
    const out = await postWebhook(new URL(r.url), { ...base, timeoutMs });
    const elapsed = performance.now() - started;
    expect(out).toMatchObject({ kind: "retryable", error: `timeout after ${timeoutMs} ms` });
    expect(elapsed).toBeGreaterThanOrEqual(timeoutMs - 1);
    expect(elapsed).toBeLessThan(1.5 * timeoutMs);
  });

  it("keeps only the first 64 KiB of a 1 MiB response, and stops reading", async () => {
    const big = Array.from({ length: 1 << 16 }, (_, i) => (i % 65_536).toString(16).padStart(16, ".")).join("");
    expect(big.length).toBe(1 << 20);
    const r = await receiver(reply(200, big));
    const out = await postWebhook(new URL(r.url), base);
    expect(out).toMatchObject({ kind: "delivered", status: 200, error: null });
    expect(out.body.length).toBe(MAX_RESPONSE_BYTES);
    expect(out.body).toBe(big.slice(0, MAX_RESPONSE_BYTES));
  });

  it("stops reading an endless body at 64 KiB instead of running to the deadline", async () => {
    const chunk = "y".repeat(16 * 1024);
    const r = await receiver((_req, res) => {
      res.writeHead(200);
      const pour = (): void => {
        while (!res.destroyed && res.write(chunk));
      };
      res.on("drain", pour);
      pour();
    });
    const timeoutMs = 2000;
    const out = await postWebhook(new URL(r.url), { ...base, timeoutMs });
    expect(out).toMatchObject({ kind: "delivered", status: 200, error: null, body: "y".repeat(MAX_RESPONSE_BYTES) });
    expect(out.durationMs).toBeLessThan(timeoutMs / 2);
  });

  it("hands a body with NUL bytes back as storable text", async () => {
    const r = await receiver(reply(200, "a\u0000b"));
    const out = await postWebhook(new URL(r.url), base);
    expect(out.body).toBe("a\uFFFDb");
  });

  it("reports a refused connection as retryable", async () => {
    const r = await receiver(reply(200));
    const url = new URL(r.url);
    for (const each of receivers.splice(0)) await new Promise((done) => each.server.close(done));
    const out = await postWebhook(url, base);
    expect(out.kind).toBe("retryable");
    expect(out.status).toBeNull();
    expect(out.error).toContain("ECONNREFUSED");
  });

  it("sends nothing when a header cannot be sent, and says why: final", async () => {
    const r = await receiver(reply(200));
    const out = await postWebhook(new URL(r.url), { ...base, headers: { "X-Bad": "a\r\nInjected: 1" } });
    expect(out.kind).toBe("final");
    expect(out.error).toMatch(/X-Bad/);
    expect(r.connections).toBe(0);
  });
});

describe("postWebhook with private addresses refused", () => {
  const strict = { ...base, allowPrivate: false };
  const refusal = "set WEBHOOK_ALLOW_PRIVATE=true to allow it";

  it("refuses an IP literal 127.0.0.1 before connecting: final, the receiver sees no connection", async () => {
    const r = await receiver(reply(200));
    const out = await postWebhook(new URL(r.url), strict);
    expect(out).toMatchObject({ kind: "final", status: null, error: `127.0.0.1 is a loopback address; ${refusal}` });
    expect(r.connections).toBe(0);
  });

  it("refuses a name at connect time when the lookup answers loopback", async () => {
    const r = await receiver(reply(200));
    const dns = lookupTable({ "hook.test": ["127.0.0.1"] });
    const out = await postWebhook(new URL(`http://hook.test:${r.port}/hook`), { ...strict, lookup: dns.lookup });
    expect(out).toMatchObject({ kind: "final", status: null, error: `hook.test resolves to a loopback address (127.0.0.1); ${refusal}` });
    expect(dns.asked).toEqual(["hook.test"]);
    expect(r.connections).toBe(0);
  });

  it("applies the same check to https (the lookup is handed to tls too)", async () => {
    const r = await receiver(reply(200));
    const dns = lookupTable({ "hook.test": ["127.0.0.1"] });
    const out = await postWebhook(new URL(`https://hook.test:${r.port}/hook`), { ...strict, lookup: dns.lookup });
    expect(out).toMatchObject({ kind: "final", status: null, error: `hook.test resolves to a loopback address (127.0.0.1); ${refusal}` });
    expect(r.connections).toBe(0);
    // Allowed, it does connect: to a plain-HTTP receiver, so the handshake fails, retryably.
    const allowed = await postWebhook(new URL(`https://hook.test:${r.port}/hook`), { ...base, lookup: dns.lookup });
    expect(allowed).toMatchObject({ kind: "retryable", status: null });
    expect(r.connections).toBe(1);
    expect(r.requests).toHaveLength(0);
  });

  it("refuses a name that was public when checked and is loopback when delivered (DNS rebinding)", async () => {
    const r = await receiver(reply(200));
    const answers = [["93.184.216.34"], ["127.0.0.1"]];
    const rebinding = async (): Promise<string[]> => answers.shift() ?? ["127.0.0.1"];
    const checked = await checkHookUrl(`http://rebind.test:${r.port}/hook`, { allowPrivate: false, resolve: rebinding });
    expect(checked.ok).toBe(true);
    if (!checked.ok) return;
    const out = await postWebhook(checked.url, { ...strict, lookup: rebinding });
    expect(out).toMatchObject({ kind: "final", status: null });
    expect(out.error).toContain("rebind.test resolves to a loopback address (127.0.0.1)");
    expect(r.connections).toBe(0);
  });
  // One public and one private answer is refused in addresses.test.ts (guardedLookup), without
  // sockets: here a broken guard would dial the public one, and this file dials only 127.0.0.1.
});
