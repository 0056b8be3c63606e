import { describe, expect, it } from "vitest";
import { ConfigError, apiEnv, commonEnv, parseConfig, workerEnv } from "./config.ts";

const KEY = "0123456789abcdef0123456789abcdef";
/** API and worker need a signing key; these tests are about the other settings. */
const signed = (env: Record<string, string>) => ({ INTENT_SIGNING_KEY: KEY, ...env });

function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (e) {
    if (e instanceof ConfigError) return e;
    throw e;
  }
  throw new Error("expected a ConfigError");
}

describe("parseConfig: defaults", () => {
  it("api", () => {
    expect(parseConfig(apiEnv, signed({}))).toEqual({
      DATABASE_URL: "postgresql://postgres@127.0.0.1:5432/actions",
      REDIS_URL: "redis://127.0.0.1:6379",
      QUEUE_PREFIX: "actions",
      QUEUE_SHARDS: 1,
      LOG_LEVEL: "info",
      DB_POOL_SIZE: 10,
      PORT: 3000,
      HOST: "0.0.0.0",
      RESULT_TIMEOUT_MS: 10_000,
      RATE_LIMIT_PER_HOUR: 5000,
      UNAUTH_RATE_LIMIT_PER_HOUR: 600,
      TRUST_PROXY: false,
      INTENT_SIGNING_KEY: KEY,
      LOG_MAX_BYTES_PER_JOB: 16 * 1024 * 1024,
      LOG_STREAM_STALL_MS: 30_000,
      RUNNER_HEARTBEAT_WINDOW_MS: 60_000,
      RUNNER_SEEN_WRITE_MS: 15_000,
      WEBHOOK_ALLOW_PRIVATE: false,
      WEBHOOK_MAX_ATTEMPTS: 8,
      WEBHOOK_BACKOFF_MS: 1_000,
    });
  });

  it("worker", () => {
    expect(parseConfig(workerEnv, signed({}))).toMatchObject({
      WORKER_CONCURRENCY: 8,
      WORKER_LOCK_DURATION_MS: 30_000,
      WORKER_STALLED_INTERVAL_MS: 15_000,
      FAULT_HOLD_TX_MS: 0,
      QUEUE_PREFIX: "actions",
      // Webhooks: private addresses refused unless asked for.
      WEBHOOK_ALLOW_PRIVATE: false,
      WEBHOOK_MAX_ATTEMPTS: 8,
      WEBHOOK_BACKOFF_MS: 1_000,
      WEBHOOK_TIMEOUT_MS: 10_000,
      WEBHOOK_CONCURRENCY: 32,
      WEBHOOK_HOOK_CONCURRENCY: 8,
      EVENTS_POLL_MS: 50,
      EVENTS_RETENTION_HOURS: 168,
      EVENTS_DB_POOL_SIZE: 3,
      PUBLIC_URL: "http://localhost:3000",
    });
  });

  it("LOG_PRETTY stays unset by default", () => {
    expect(parseConfig(commonEnv, {}).LOG_PRETTY).toBeUndefined();
  });

  it("empty strings fall back to the default", () => {
    const c = parseConfig(apiEnv, signed({ PORT: "", QUEUE_PREFIX: "", DATABASE_URL: "", TRUST_PROXY: "" }));
    expect([c.PORT, c.QUEUE_PREFIX, c.DATABASE_URL, c.TRUST_PROXY]).toEqual([
      3000,
      "actions",
      "postgresql://postgres@127.0.0.1:5432/actions",
      false,
    ]);
  });

  it("unrelated variables are ignored and not copied", () => {
    const c = parseConfig(apiEnv, signed({ PATH: "/usr/bin", HOME: "/root" })) as Record<string, unknown>;
    expect(c.PATH).toBeUndefined();
  });
});

describe("parseConfig: values", () => {
  const rows: [string, Record<string, string>, Record<string, unknown>][] = [
    ["port", { PORT: "8080" }, { PORT: 8080 }],
    ["port 0 (ephemeral)", { PORT: "0" }, { PORT: 0 }],
    ["result timeout", { RESULT_TIMEOUT_MS: "250" }, { RESULT_TIMEOUT_MS: 250 }],
    ["database url", { DATABASE_URL: "postgresql://u:p@db:5432/x" }, { DATABASE_URL: "postgresql://u:p@db:5432/x" }],
    ["hash-tagged queue prefix", { QUEUE_PREFIX: "{actions}" }, { QUEUE_PREFIX: "{actions}" }],
    ["log level", { LOG_LEVEL: "debug" }, { LOG_LEVEL: "debug" }],
    ["bool true", { TRUST_PROXY: "true", LOG_PRETTY: "true" }, { TRUST_PROXY: true, LOG_PRETTY: true }],
    ["bool 1", { TRUST_PROXY: "1", LOG_PRETTY: "1" }, { TRUST_PROXY: true, LOG_PRETTY: true }],
    ["bool false", { TRUST_PROXY: "false", LOG_PRETTY: "false" }, { TRUST_PROXY: false, LOG_PRETTY: false }],
    ["bool 0", { TRUST_PROXY: "0", LOG_PRETTY: "0" }, { TRUST_PROXY: false, LOG_PRETTY: false }],
  ];
  it.each(rows)("%s", (_name, env, want) => {
    expect(parseConfig(apiEnv, signed(env))).toMatchObject(want);
  });

  it.each([
    ["WORKER_CONCURRENCY", "32", 32],
    ["FAULT_HOLD_TX_MS", "1500", 1500],
  ] as const)("worker %s=%s", (name, raw, want) => {
    expect(parseConfig(workerEnv, signed({ [name]: raw }))[name]).toBe(want);
  });
});

describe("parseConfig: bad values name the variable", () => {
  const rows: [string, string][] = [
    ["PORT", "abc"],
    ["PORT", "70000"],
    ["PORT", "-1"],
    ["PORT", "80.5"],
    ["DATABASE_URL", "not a url"],
    ["REDIS_URL", "::"],
    ["LOG_LEVEL", "INFO"],
    ["LOG_LEVEL", "verbose"],
    ["LOG_PRETTY", "yes"],
    ["TRUST_PROXY", "on"],
    ["DB_POOL_SIZE", "0"],
    ["DB_POOL_SIZE", "201"],
    ["RESULT_TIMEOUT_MS", "10"],
    ["RATE_LIMIT_PER_HOUR", "0"],
  ];
  it.each(rows)("%s=%j", (name, raw) => {
    const e = configError(() => parseConfig(apiEnv, signed({ [name]: raw })));
    expect(e.message).toMatch(/^invalid configuration:\n/);
    expect(e.message).toContain(`  ${name}: `);
    // Only the bad variable is named.
    expect(e.message.trim().split("\n")).toHaveLength(2);
  });

  it.each([
    ["WORKER_CONCURRENCY", "0"],
    ["WORKER_CONCURRENCY", "257"],
    ["WORKER_LOCK_DURATION_MS", "999"],
    ["WORKER_STALLED_INTERVAL_MS", "100"],
    ["FAULT_HOLD_TX_MS", "-5"],
  ])("worker %s=%j", (name, raw) => {
    expect(configError(() => parseConfig(workerEnv, signed({ [name]: raw }))).message).toContain(`  ${name}: `);
  });

  it.each([
    ["missing", {}],
    ["too short", { INTENT_SIGNING_KEY: "short-key" }],
  ])("api and worker refuse a signing key that is %s", (_what, env: Record<string, string>) => {
    for (const schema of [apiEnv, workerEnv]) expect(configError(() => parseConfig(schema, env)).message).toContain("  INTENT_SIGNING_KEY: ");
  });

  it("lists every bad variable at once", () => {
    const e = configError(() => parseConfig(apiEnv, signed({ PORT: "x", LOG_LEVEL: "loud", DB_POOL_SIZE: "0" })));
    for (const name of ["PORT", "LOG_LEVEL", "DB_POOL_SIZE"]) expect(e.message).toContain(`  ${name}: `);
  });

  it("is a ConfigError, which is an Error", () => {
    const e = configError(() => parseConfig(apiEnv, signed({ PORT: "x" })));
    expect(e).toBeInstanceOf(Error);
  });
});
