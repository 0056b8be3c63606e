import { readFileSync } from "node:fs";
import { createPrivateKey, X509Certificate } from "node:crypto";
import { z } from "zod";
import { MAX_QUEUE_SHARDS } from "../domain/queue-shards.ts";
import { parseClusterNodes } from "./redis-nodes.ts";

// Every process parses its own schema once at start-up; a bad value stops the process
// with a message naming the variable instead of failing later in some code path.

const bool = z
  .enum(["true", "false", "1", "0", ""])
  .transform((v) => v === "true" || v === "1");

export const commonEnv = z.object({
  DATABASE_URL: z.url().default("postgresql://postgres@127.0.0.1:5432/actions"),
  REDIS_URL: z.url().default("redis://127.0.0.1:6379"),
  // BullMQ key prefix. On Redis Cluster wrap it in a hash tag, e.g. "{actions}".
  QUEUE_PREFIX: z.string().min(1).default("actions"),
  // Redis Cluster (docs/scaling.md): "host:port,…" of some of its nodes; REDIS_URL then
  // gives only the login (user and password), its host is not used.
  REDIS_CLUSTER_NODES: z.string().optional().transform((s, ctx) => {
    if (s === undefined) return undefined;
    try {
      return parseClusterNodes(s);
    } catch (e) {
      ctx.addIssue({ code: "custom", message: (e as Error).message.replace(/^REDIS_CLUSTER_NODES: /, "") });
      return z.NEVER;
    }
  }),
  // Lifecycle intents go to one of this many queues by repository (domain/queue-shards.ts).
  QUEUE_SHARDS: z.coerce.number().int().min(1).max(MAX_QUEUE_SHARDS).default(1),
  LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
  LOG_PRETTY: bool.optional(),
  DB_POOL_SIZE: z.coerce.number().int().min(1).max(200).default(10),
});

// The HMAC key the API signs intents with and workers verify them with (docs/security.md).
const signingKey = z.string().min(32, "must be at least 32 characters (openssl rand -hex 32)");

// Webhooks (docs/events.md): hook URLs on loopback, private or link-local addresses, and
// a delivery's attempts before it fails for good and its first retry's delay (doubling,
// with jitter). The API needs them for redeliveries, the workers for every delivery.
const webhookShared = {
  WEBHOOK_ALLOW_PRIVATE: bool.default(false),
  WEBHOOK_MAX_ATTEMPTS: z.coerce.number().int().min(1).max(50).default(8),
  WEBHOOK_BACKOFF_MS: z.coerce.number().int().min(10).default(1_000),
};

export const apiEnv = commonEnv.extend({
  ...webhookShared,
  INTENT_SIGNING_KEY: signingKey,
  // During a key rotation: results a worker signed with the old key are still believed.
  INTENT_SIGNING_KEY_PREVIOUS: signingKey.optional(),
  // A job's stored log stops growing here: further chunks answer 413.
  LOG_MAX_BYTES_PER_JOB: z.coerce.number().int().min(1024).default(16 * 1024 * 1024),
  PORT: z.coerce.number().int().min(0).max(65535).default(3000),
  HOST: z.string().default("0.0.0.0"),
  // How long a request waits for the worker tier before answering 503.
  RESULT_TIMEOUT_MS: z.coerce.number().int().min(50).max(120_000).default(10_000),
  RATE_LIMIT_PER_HOUR: z.coerce.number().int().min(1).default(5000),
  // Requests without valid credentials are limited per client IP.
  UNAUTH_RATE_LIMIT_PER_HOUR: z.coerce.number().int().min(1).default(600),
  TRUST_PROXY: bool.default(false),
  // The URL browsers reach the API at (scheme, host, port): the dashboard compares a
  // write's Origin with it. Unset: with the Host header, and only when TRUST_PROXY is off.
  PUBLIC_URL: z.url({ protocol: /^https?$/, error: "must be an http(s) URL, e.g. https://ci.example.com" }).transform((u) => new URL(u).origin).optional(),
  // A log stream whose client reads nothing for this long is cut.
  LOG_STREAM_STALL_MS: z.coerce.number().int().min(100).default(30_000),
  // A self-registered runner silent this long may be registered again without its token;
  // set it as on the workers (their reaper's window).
  RUNNER_HEARTBEAT_WINDOW_MS: z.coerce.number().int().min(100).default(60_000),
  // An idle runner's heartbeat writes its row at most this often; in between its last-seen
  // is kept in Redis, which the reaper reads too (docs/scaling.md, "Runner long-polling"). 0: every heartbeat writes.
  RUNNER_SEEN_WRITE_MS: z.coerce.number().int().min(0).default(15_000),
  // Shared secret runners present to register themselves (POST /api/v1/runners/register).
  // Unset: only the operator CLI registers runners.
  RUNNER_REGISTRATION_TOKEN: z.string().min(20, "must be at least 20 characters").optional(),
  // PEM files: with both set the API serves HTTPS itself (docs/operations.md, "HTTPS").
  // Behind a TLS-terminating proxy leave them unset. Read once, at start.
  TLS_CERT_FILE: z.string().optional(),
  TLS_KEY_FILE: z.string().optional(),
}).superRefine((env, ctx) => {
  // One without the other would quietly serve plain HTTP to clients that expect TLS. Checked
  // also when another variable is bad (`when`), so that every problem is listed at once.
  const [cert, key] = [env.TLS_CERT_FILE !== undefined, env.TLS_KEY_FILE !== undefined];
  if (cert && !key) ctx.addIssue({ code: "custom", path: ["TLS_KEY_FILE"], message: "must be set when TLS_CERT_FILE is (the private key's PEM file)" });
  if (key && !cert) ctx.addIssue({ code: "custom", path: ["TLS_CERT_FILE"], message: "must be set when TLS_KEY_FILE is (the certificate's PEM file)" });
}, { when: () => true });

export const workerEnv = commonEnv.extend({
  INTENT_SIGNING_KEY: signingKey,
  // During a key rotation: intents signed with the old key are still applied.
  INTENT_SIGNING_KEY_PREVIOUS: signingKey.optional(),
  WORKER_CONCURRENCY: z.coerce.number().int().min(1).max(256).default(8),
  // The queue shards this worker serves ("0,2"); unset: all of QUEUE_SHARDS.
  WORKER_SHARDS: z.string().regex(/^\s*\d+(\s*,\s*\d+)*\s*$/, "a comma-separated list of shard numbers, e.g. 0,2").optional(),
  // BullMQ lock: a worker that dies holding a job loses it after this long.
  WORKER_LOCK_DURATION_MS: z.coerce.number().int().min(1000).default(30_000),
  WORKER_STALLED_INTERVAL_MS: z.coerce.number().int().min(500).default(15_000),
  // The reaper: how often it looks, and when a running job counts as abandoned.
  REAPER_INTERVAL_MS: z.coerce.number().int().min(100).default(5_000),
  RUNNER_HEARTBEAT_WINDOW_MS: z.coerce.number().int().min(100).default(60_000),
  JOB_TIMEOUT_SLACK_MS: z.coerce.number().int().min(0).default(60_000),
  CANCEL_DEADLINE_MS: z.coerce.number().int().min(100).default(300_000),
  // HTTP port for /metrics, /healthz and /readyz. Unset: 9464, or a random port (logged)
  // when 9464 is taken by another worker on the host. 0: a random port.
  WORKER_PORT: z.coerce.number().int().min(0).max(65535).optional(),
  // Reruns (of any kind) allowed descending from one original run; one more is a 409.
  RERUN_LIMIT: z.coerce.number().int().min(1).default(50),
  // Fault injection for tests: hold each intent's transaction open this long before commit.
  FAULT_HOLD_TX_MS: z.coerce.number().int().min(0).default(0),
  // The origin webhook payloads' URLs point at (the API's PUBLIC_URL).
  PUBLIC_URL: z.url({ protocol: /^https?$/, error: "must be an http(s) URL, e.g. https://ci.example.com" }).transform((u) => new URL(u).origin).default("http://localhost:3000"),
  // The outbox's dispatcher: how often it looks for new events when idle, and how long
  // dispatched events (and their deliveries' log) are kept.
  EVENTS_POLL_MS: z.coerce.number().int().min(5).max(10_000).default(50),
  EVENTS_RETENTION_HOURS: z.coerce.number().int().min(1).default(7 * 24),
  // Postgres connections of the dispatcher and the webhook deliveries, beside DB_POOL_SIZE:
  // a burst of deliveries waits for these, never for the connections intents are applied on.
  EVENTS_DB_POOL_SIZE: z.coerce.number().int().min(1).max(100).default(3),
  // Webhook deliveries: a request's deadline, and deliveries in flight per worker.
  WEBHOOK_TIMEOUT_MS: z.coerce.number().int().min(100).max(120_000).default(10_000),
  WEBHOOK_CONCURRENCY: z.coerce.number().int().min(1).max(1000).default(32),
  // Of those, at most this many for one hook: a receiver that hangs cannot take them all.
  WEBHOOK_HOOK_CONCURRENCY: z.coerce.number().int().min(1).max(1000).default(8),
  ...webhookShared,
});

export class ConfigError extends Error {
  override name = "ConfigError";
}

export function parseConfig<S extends z.ZodType>(schema: S, env: NodeJS.ProcessEnv = process.env): z.infer<S> {
  // Empty strings mean "unset" so that `FOO= npm start` falls back to the default.
  const cleaned = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ""));
  const parsed = schema.safeParse(cleaned);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join(".")}: ${i.message}`);
    throw new ConfigError(`invalid configuration:\n${lines.join("\n")}`);
  }
  return parsed.data;
}

export interface TlsFiles {
  cert: Buffer;
  key: Buffer;
}

/** A TLS file's problem, in parseConfig's format; names the variable and the path, never the contents. */
const tlsError = (variable: string, problem: string) => new ConfigError(`invalid configuration:\n  ${variable}: ${problem}`);

function readPem(variable: string, file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw tlsError(variable, `cannot read ${file}${code ? ` (${code})` : ""}`);
  }
}

/**
 * The certificate and key that TLS_CERT_FILE and TLS_KEY_FILE name, checked to be a PEM
 * certificate and the private key that matches it; null when TLS is off. Crypto's own
 * messages are left out: they say nothing an operator can act on.
 */
export function readTls(env: { TLS_CERT_FILE?: string; TLS_KEY_FILE?: string }): TlsFiles | null {
  const { TLS_CERT_FILE: certFile, TLS_KEY_FILE: keyFile } = env;
  if (certFile === undefined || keyFile === undefined) return null;
  const cert = readPem("TLS_CERT_FILE", certFile);
  const key = readPem("TLS_KEY_FILE", keyFile);
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(cert);
  } catch {
    throw tlsError("TLS_CERT_FILE", `${certFile} holds no PEM certificate`);
  }
  let privateKey: ReturnType<typeof createPrivateKey>;
  try {
    privateKey = createPrivateKey(key);
  } catch {
    throw tlsError("TLS_KEY_FILE", `${keyFile} holds no unencrypted PEM private key`);
  }
  if (!x509.checkPrivateKey(privateKey)) throw tlsError("TLS_KEY_FILE", `the key in ${keyFile} does not match the certificate in ${certFile} (TLS_CERT_FILE)`);
  return { cert, key };
}
