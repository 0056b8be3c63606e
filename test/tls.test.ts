import { execFileSync, spawnSync } from "node:child_process";
import { generateKeyPairSync, X509Certificate } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import https from "node:https";
import os from "node:os";
import path from "node:path";
import type { TLSSocket } from "node:tls";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { ConfigError, readTls } from "../infra/config.ts";
import { createTestDb, waitFor, type TestDb } from "./setup/db.ts";
import { spawnService, type Service } from "./setup/stack.ts";
import { buildWorld, pushAndRun, ONE_JOB } from "./setup/world.ts";

// The API serving HTTPS itself (docs/operations.md, "HTTPS"): a real api process with
// TLS_CERT_FILE and TLS_KEY_FILE, and the one-line refusals of bad TLS settings.

const HAS_OPENSSL = spawnSync("openssl", ["version"], { stdio: "ignore" }).status === 0;
const tlsIt = it.skipIf(!HAS_OPENSSL);
if (!HAS_OPENSSL) console.warn("test/tls.test.ts: skipped, `openssl` is not on PATH (it makes the test certificate)");

let dir: string;
let certFile: string;
let keyFile: string;
let db: TestDb;
let world: Awaited<ReturnType<typeof buildWorld>>;
let api: Service;
let port: number;
const services: Service[] = [];
const prefix = `tls${process.pid}${Math.random().toString(36).slice(2, 7)}`;

function start(env: Record<string, string>): Service {
  const s = spawnService("api/server.ts", { DATABASE_URL: db.url, REDIS_URL: inject("redisUrl"), QUEUE_PREFIX: prefix, PORT: "0", HOST: "127.0.0.1", ...env });
  services.push(s);
  return s;
}

interface Answer {
  status: number;
  body: string;
  contentType: string;
  fingerprint256?: string;
}

/** One request; `ca` given: over HTTPS trusting only that certificate. */
function request(url: string, o: { ca?: Buffer; token?: string } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const headers = o.token ? { authorization: `Bearer ${o.token}` } : {};
    const onResponse = (res: http.IncomingMessage) => {
      const peer = (res.socket as TLSSocket).getPeerCertificate?.();
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (d: string) => (body += d));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body, contentType: String(res.headers["content-type"] ?? ""), fingerprint256: peer?.fingerprint256 }));
    };
    // A fresh connection each time (no agent), so each answer shows the handshake's certificate.
    const req = o.ca ? https.get(url, { ca: o.ca, headers, agent: false }, onResponse) : http.get(url, { headers, agent: false }, onResponse);
    req.setTimeout(10_000, () => req.destroy(new Error("no answer within 10 s")));
    req.on("error", reject);
  });
}

/** The exit status of a process that is expected to stop by itself. */
async function exitCode(s: Service): Promise<number> {
  return waitFor("the api process to exit", async () => (s.proc.exitCode !== null ? { code: s.proc.exitCode } : null), 50_000, 50).then((e) => e.code);
}

/** The non-empty lines a process printed. */
const lines = (s: Service) => s.output().split("\n").filter((l) => l.trim() !== "");
/** The fields of its `api listening` line. */
const listening = (s: Service): Record<string, unknown> | undefined =>
  lines(s).filter((l) => l.startsWith("{")).map((l) => JSON.parse(l) as Record<string, unknown>).find((e) => e.msg === "api listening");

beforeAll(async () => {
  db = await createTestDb("tls");
  if (!HAS_OPENSSL) return;
  dir = mkdtempSync(path.join(os.tmpdir(), "tls-test-"));
  certFile = path.join(dir, "cert.pem");
  keyFile = path.join(dir, "key.pem");
  execFileSync("openssl", [
    "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
    "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost", "-days", "1",
    "-keyout", keyFile, "-out", certFile,
  ], { stdio: "ignore" });
  world = await buildWorld(db.prisma);
  api = start({ TLS_CERT_FILE: certFile, TLS_KEY_FILE: keyFile });
  await api.waitForLine(/api listening/, 50_000);
  port = Number(/"port":(\d+)/.exec(api.output())![1]);
});
afterAll(async () => {
  for (const s of services) await s.kill("SIGTERM");
  await db?.drop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe("with TLS_CERT_FILE and TLS_KEY_FILE the API serves HTTPS", () => {
  tlsIt("says so in its listening line", () => {
    expect(listening(api)).toMatchObject({ port, tls: true });
  });

  tlsIt("answers /healthz to a client that trusts the certificate, presenting that certificate", async () => {
    const ca = readFileSync(certFile);
    const res = await request(`https://127.0.0.1:${port}/healthz`, { ca });
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body)).toMatchObject({ status: "ok" });
    expect(res.fingerprint256).toBe(new X509Certificate(ca).fingerprint256);
  });

  tlsIt("is refused by a client that does not trust the certificate", async () => {
    await expect(new Promise((resolve, reject) => https.get(`https://127.0.0.1:${port}/healthz`, { agent: false }, resolve).on("error", reject)))
      .rejects.toThrow(/self[- ]signed/i);
  });

  tlsIt("gives a plain-HTTP request no JSON answer, and goes on serving HTTPS", async () => {
    const plain = await request(`http://127.0.0.1:${port}/healthz`).catch((e: Error) => e);
    if (!(plain instanceof Error)) expect(plain.status === 200 && plain.contentType.includes("json"), `plain HTTP got ${plain.status} ${plain.body}`).toBe(false);
    expect((await request(`https://127.0.0.1:${port}/healthz`, { ca: readFileSync(certFile) })).status).toBe(200);
  });

  tlsIt("serves an authenticated read over TLS (and refuses it without the token)", async () => {
    const run = await pushAndRun(db.prisma, "alice/secret", ONE_JOB, "ab5ec0de");
    const ca = readFileSync(certFile);
    const res = await request(`https://127.0.0.1:${port}/api/v1/runs/${run.run_id}`, { ca, token: world.tokens.alice });
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body)).toMatchObject({ id: run.run_id, status: "queued" });
    expect((await request(`https://127.0.0.1:${port}/api/v1/runs/${run.run_id}`, { ca })).status).toBe(401);
  });

  tlsIt("stops on SIGTERM through the same shutdown phases (exit 0)", async () => {
    expect(await api.kill("SIGTERM")).toBe(0);
    expect(api.output()).toContain('"phase":"stop accepting"');
  });
});

describe("without the variables", () => {
  it("the API serves plain HTTP, and its listening line has no tls field", async () => {
    const s = start({});
    await s.waitForLine(/api listening/, 50_000);
    const line = listening(s);
    expect(line).not.toHaveProperty("tls");
    const res = await request(`http://127.0.0.1:${line!.port}/healthz`);
    expect([res.status, JSON.parse(res.body).status]).toEqual([200, "ok"]);
  });
});

describe("bad TLS settings stop the API with one line", () => {
  tlsIt("TLS_CERT_FILE alone names TLS_KEY_FILE", async () => {
    const s = start({ TLS_CERT_FILE: certFile });
    expect(await exitCode(s)).not.toBe(0);
    expect(lines(s)).toHaveLength(1);
    expect(lines(s)[0]).toMatch(/^api: invalid configuration; TLS_KEY_FILE: must be set when TLS_CERT_FILE is/);
  });

  tlsIt("a file that cannot be read is named with its variable", async () => {
    const missing = path.join(dir, "missing-key.pem");
    const s = start({ TLS_CERT_FILE: certFile, TLS_KEY_FILE: missing });
    expect(await exitCode(s)).not.toBe(0);
    expect(lines(s)).toEqual([`api: invalid configuration; TLS_KEY_FILE: cannot read ${missing} (ENOENT)`]);
  });
});

describe("readTls checks the files before anything listens", () => {
  const configMessage = (fn: () => unknown): string => {
    try {
      fn();
    } catch (e) {
      if (e instanceof ConfigError) return e.message;
      throw e;
    }
    throw new Error("expected a ConfigError");
  };

  it("is off when neither variable is set", () => {
    expect(readTls({})).toBeNull();
  });

  tlsIt("reads a matching certificate and key", () => {
    expect(readTls({ TLS_CERT_FILE: certFile, TLS_KEY_FILE: keyFile })).toEqual({ cert: readFileSync(certFile), key: readFileSync(keyFile) });
  });

  tlsIt("refuses a key that is not the certificate's, without printing either key", () => {
    const other = generateKeyPairSync("ec", { namedCurve: "prime256v1" }).privateKey.export({ type: "pkcs8", format: "pem" }).toString();
    const otherFile = path.join(dir, "other-key.pem");
    writeFileSync(otherFile, other);
    const msg = configMessage(() => readTls({ TLS_CERT_FILE: certFile, TLS_KEY_FILE: otherFile }));
    expect(msg).toBe(`invalid configuration:\n  TLS_KEY_FILE: the key in ${otherFile} does not match the certificate in ${certFile} (TLS_CERT_FILE)`);
    const base64 = (pem: string) => pem.split("\n").filter((l) => l && !l.startsWith("-----")).join("");
    for (const pem of [other, readFileSync(keyFile, "utf8")]) expect(msg).not.toContain(base64(pem).slice(10, 30));
  });

  tlsIt("refuses a certificate file that holds no certificate, and a key file that holds no key", () => {
    expect(configMessage(() => readTls({ TLS_CERT_FILE: keyFile, TLS_KEY_FILE: keyFile }))).toBe(`invalid configuration:\n  TLS_CERT_FILE: ${keyFile} holds no PEM certificate`);
    expect(configMessage(() => readTls({ TLS_CERT_FILE: certFile, TLS_KEY_FILE: certFile }))).toBe(`invalid configuration:\n  TLS_KEY_FILE: ${certFile} holds no unencrypted PEM private key`);
  });
});
