import { gzipSync } from "node:zlib";
import fc from "fast-check";

// Generators of hostile HTTP requests for test/hostile.test.ts. A request is raw: the
// path is the exact request target put on the wire (bytes 0x21-0xff, so it can carry
// malformed percent-encodings and bare non-UTF-8 bytes), header values are latin1
// strings (raw UTF-8 bytes where the generator wanted unicode), the body is raw bytes.

export interface HostileRequest {
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: Buffer;
}

/** What the world offers: real ids to aim at and credentials to try. */
export interface HostileWorld {
  /** Real job, run and step ids. */
  ids: number[];
  jobIds: number[];
  runIds: number[];
  /** Personal access tokens of every user, with every scope and binding the world has. */
  pats: string[];
  /** Credentials that work somewhere: PATs of every user, runner tokens, job tokens, the registration secret. */
  credentials: string[];
  /** Credentials that look right but are refused: revoked or expired PATs, a revoked runner's token. */
  deadCredentials: string[];
  /** Job tokens with their own job and its steps, for requests that get past job auth. */
  jobTokens: { token: string; jobId: number; stepIds: number[] }[];
}

export const METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"] as const;

/** Every real route, `{id}`/`{sid}` marking path ids, with the method it answers to. */
export const ROUTES: [method: string, template: string][] = [
  ["POST", "/api/v1/jobs/{id}/cancel"],
  ["POST", "/api/v1/runs/{id}/rerun"],
  ["GET", "/api/v1/runs/{id}"],
  ["GET", "/api/v1/jobs/{id}"],
  ["GET", "/api/v1/jobs/{id}/logs"],
  ["POST", "/api/v1/runners/register"],
  ["POST", "/api/v1/runners/heartbeat"],
  ["POST", "/api/v1/jobs/{id}/status"],
  ["POST", "/api/v1/jobs/{id}/steps/{sid}/status"],
  ["POST", "/api/v1/jobs/{id}/logs"],
  ["POST", "/api/v1/jobs/{id}/cancel-check"],
  ["GET", "/api/v1/runs/{id}/jobs"],
  ["GET", "/api/v1/repos/{id}/{sid}/actions/runs"],
  ["GET", "/api/v1/repos/alice/demo/actions/runs"],
  ["POST", "/api/v1/repos/{id}/{sid}/actions/runs/cancel"],
  ["GET", "/healthz"],
  ["GET", "/readyz"],
];

export const SQLISH = [
  "1;DROP TABLE users",
  "1' OR '1'='1",
  "1 OR 1=1",
  "1--",
  "1/**/OR/**/1=1",
  "(SELECT 1)",
  "1); DELETE FROM workflow_jobs; --",
  "' UNION SELECT token_hash FROM personal_access_tokens --",
  "1\\'; SELECT pg_sleep(5); --",
];

const WEIRD_IDS = [
  "0", "-1", "-0", "00", "01", "1.0", "1e3", "0x10", "+1", " 1", "1 ", "\t1",
  "9007199254740991", "9007199254740992", "18446744073709551616", "99999999999999999999999999", "1".repeat(400),
  "NaN", "Infinity", "-Infinity", "null", "undefined", "true", "[]", "{}", "__proto__", "constructor",
  "%", "%00", "%2F", "%2e%2e", "..", ".", "%E0%A4%A", "%C0%AF", "%ff", "%25", "%u0031", "%%31", "%31",
  "１", "١", "𝟏", "1\u0000", "\u202e1", "é", "\ud800", "💥",
];

const HOSTILE_STRINGS = [
  "", " ", "\u0000", "a\u0000b", "\ud800", "\udfff", "\ufeff", "\u202e", "💥", "é",
  "'; DROP TABLE users; --", "1' OR '1'='1", "${jndi:ldap://x/a}", "{{7*7}}", "<script>alert(1)</script>",
  "../../etc/passwd", "%s%s%s%n", "\r\n\r\nHTTP/1.1 200 OK", "null", "__proto__", "x".repeat(256),
];

const HOSTILE_NUMBERS: unknown[] = [
  0, -1, 1, -0, 0.5, 1e308, -1e308, 2 ** 31 - 1, 2 ** 31, 2 ** 53, 2 ** 53 + 2, 257, 256, "1", "", null, true, [], {}, [1],
];

function utf8AsLatin1(s: string): string {
  return Buffer.from(s, "utf8").toString("latin1");
}

/** A string Node will put in a header: control characters other than tab become '?'. */
export function headerSafe(s: string): string {
  return utf8AsLatin1(s).replace(/[\x00-\x08\x0a-\x1f\x7f]/g, "?");
}

function pctEncode(s: string): string {
  return [...Buffer.from(s, "utf8")]
    .map((b) => (/[A-Za-z0-9\-._~]/.test(String.fromCharCode(b)) ? String.fromCharCode(b) : `%${b.toString(16).toUpperCase().padStart(2, "0")}`))
    .join("");
}

/** Raw: every UTF-8 byte the client may send verbatim is sent verbatim (including '%', '/', '?', '#', bytes >= 0x80). */
function rawEncode(s: string): string {
  return [...Buffer.from(s, "utf8")].map((b) => (b >= 0x21 && b <= 0xff ? String.fromCharCode(b) : `%${b.toString(16).padStart(2, "0")}`)).join("");
}

function segment(world: HostileWorld): fc.Arbitrary<string> {
  const value = fc.oneof(
    { weight: 6, arbitrary: fc.constantFrom(...world.ids).map(String) },
    { weight: 1, arbitrary: fc.integer({ min: -1_000_000, max: 1_000_000 }).map(String) },
    { weight: 1, arbitrary: fc.bigInt({ min: -(2n ** 80n), max: 2n ** 80n }).map(String) },
    { weight: 2, arbitrary: fc.constantFrom(...SQLISH, ...WEIRD_IDS) },
    { weight: 1, arbitrary: fc.string({ unit: "binary", maxLength: 16 }) },
    { weight: 1, arbitrary: fc.string({ unit: "grapheme", maxLength: 8 }) },
  );
  return fc.tuple(value, fc.constantFrom("raw", "raw", "pct")).map(([v, mode]) => (mode === "pct" ? pctEncode(v) : rawEncode(v)));
}

const QUERIES = ["", "", "", "?", "?a=1", "?a[b][c]=1&__proto__[x]=1", "?id=1;DROP%20TABLE%20users", "?id=1'%20OR%20'1'='1", "?%zz=%", "?a=" + "b".repeat(2000), "#frag", "?x=1#y",
  // the runs list's own parameters, well and badly formed
  "?per_page=0", "?per_page=101", "?per_page=1e2", "?status=completed&conclusion=failure", "?status=queued&status=running",
  "?created=%3E%3D2026-01-01", "?created=2026-02-30", "?created=2026-01-01..2025-01-01", "?created=*..*", "?branch=%00",
  "?branch=refs%2Fheads%2Fmain", "?head_sha=ZZZZ", "?head_sha=" + "a".repeat(65), "?actor=%F0%9F%92%A9", "?cursor=x", "?cursor=" + "A".repeat(300), "?page=2"];

function path(world: HostileWorld): fc.Arbitrary<{ path: string; method: string }> {
  const seg = segment(world);
  const routed = fc
    .tuple(fc.constantFrom(...ROUTES), seg, seg, fc.constantFrom(...QUERIES))
    .map(([[method, t], id, sid, q]) => ({ method, path: t.replace("{id}", id).replace("{sid}", sid) + q }));
  const garbage = fc.oneof(
    fc.constantFrom(
      "/", "*", "/api", "/api/v1", "/api/v1/", "/api/v1/jobs", "/api/v1/jobs/", "/api/v1/runs/", "//api/v1/jobs/1",
      "/API/V1/JOBS/1", "/api/v1/jobs/1/cancel/", "/api/v1/jobs/1/../2", "/api/v1/jobs/1;x", "/api/v1/jobs/1/cancel%00",
      "/healthz/", "/readyz/..", "/%2e%2e/%2e%2e/etc/passwd", "/api/v1/jobs//cancel", "/api/v1/jobs/1/steps//status",
      "http://evil.example/api/v1/jobs/1", "/api/v1/runners/register/..%2fheartbeat", "/api/v2/jobs/1", "/.env", "/\u00ff\u00fe",
    ),
    fc.array(seg, { minLength: 1, maxLength: 6 }).map((parts) => `/${parts.join("/")}`),
  ).map((p) => ({ method: "GET", path: p }));
  return fc.oneof({ weight: 5, arbitrary: routed }, { weight: 1, arbitrary: garbage });
}

const base62 = fc.string({ unit: fc.constantFrom(..."0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"), minLength: 32, maxLength: 32 });

/** A credential in one of the forms the API reads, or in one it must refuse. */
function authorization(world: HostileWorld): fc.Arbitrary<string | undefined> {
  const anyCred = fc.constantFrom(...world.credentials, ...world.deadCredentials);
  const form = fc.constantFrom("Bearer", "token", "bearer", "BEARER  ", "Basic", "BasicNoColon", "Token\t");
  const good = fc.tuple(anyCred, form).map(([t, f]) =>
    f === "Basic" ? `Basic ${Buffer.from(`x-access-token:${t}`).toString("base64")}`
      : f === "BasicNoColon" ? `Basic ${Buffer.from(t).toString("base64")}`
      : `${f} ${t}`,
  );
  const mutated = fc.tuple(anyCred, fc.nat(), fc.constantFrom("x", "", "0", " ", "\u00e9")).map(([t, i, c]) => {
    const at = i % t.length;
    return `Bearer ${t.slice(0, at)}${c}${t.slice(at + 1)}`;
  });
  const randomScheme = fc
    .tuple(fc.constantFrom("Bearer", "token", "Basic", "Digest", "Negotiate", "", "bearer", "AWS4-HMAC-SHA256", "Bearer Bearer"), fc.string({ unit: "binary", maxLength: 60 }))
    .map(([s, v]) => headerSafe(`${s} ${v}`));
  return fc.oneof(
    { weight: 3, arbitrary: fc.constant(undefined) },
    { weight: 8, arbitrary: good },
    { weight: 2, arbitrary: mutated },
    { weight: 2, arbitrary: base62.map((s) => `Bearer shithub_pat_${s}`) },
    { weight: 1, arbitrary: base62.map((s) => `Bearer shithub_job_${s}${s.slice(0, 8)}`) },
    { weight: 2, arbitrary: randomScheme },
    { weight: 1, arbitrary: fc.constantFrom(1000, 4000, 8000).map((n) => `Bearer ${"A".repeat(n)}`) },
    { weight: 1, arbitrary: fc.constantFrom("Bearer", "Bearer ", "Basic", "Basic Og==", "Basic ////", "Basic " + "=".repeat(50), "token a b", ",", "Bearer shithub_pat_") },
  );
}

const CONTENT_TYPES = [
  "application/json", "application/json", "application/json", "application/json; charset=utf-8", "APPLICATION/JSON",
  "application/json; charset=latin1", "application/json; charset=utf-16le", "application/json; charset=\"",
  "application/merge-patch+json", "text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x",
  "application/json;;;", "garbage", "application/jsonx", "*/*",
];

function headers(world: HostileWorld): fc.Arbitrary<Record<string, string>> {
  return fc
    .record(
      {
        authorization: authorization(world),
        "idempotency-key": fc.oneof(
          fc.string({ unit: "binary-ascii", minLength: 1, maxLength: 40 }).map(headerSafe),
          fc.constantFrom("", " ", "a b", "x".repeat(255), "x".repeat(256), "\u00e9", "%00", "../../etc", "'; DROP TABLE lifecycle_intents; --", "k\tk"),
        ),
        "content-type": fc.constantFrom(...CONTENT_TYPES),
        "content-encoding": fc.constantFrom("gzip", "deflate", "br", "identity", "x-garbage", "gzip, gzip"),
        "x-request-id": fc.oneof(fc.string({ unit: "binary", maxLength: 300 }).map(headerSafe), fc.constantFrom("a".repeat(200), "a".repeat(201), "../..", "req-1")),
        "x-forwarded-for": fc.constantFrom("1.2.3.4", "::1, 10.0.0.1", "garbage", "' OR 1=1"),
        accept: fc.constantFrom("*/*", "text/html", "application/xml", "garbage/;;"),
        cookie: fc.string({ unit: "binary-ascii", maxLength: 80 }).map(headerSafe),
        // Rare: an unknown expectation is answered 417 by Node before the application.
        expect: fc.oneof({ weight: 12, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: fc.constantFrom("100-continue", "garbage") }),
        "x-http-method-override": fc.constantFrom("DELETE", "PATCH", "GET"),
      },
      { requiredKeys: [] },
    )
    .map((h) => Object.fromEntries(Object.entries(h).filter(([, v]) => v !== undefined)) as Record<string, string>);
}

function hostileString(unitMax = 40): fc.Arbitrary<string> {
  return fc.oneof(
    { weight: 3, arbitrary: fc.string({ unit: "binary", maxLength: unitMax }) },
    { weight: 2, arbitrary: fc.constantFrom(...HOSTILE_STRINGS) },
    { weight: 1, arbitrary: fc.string({ unit: "grapheme", maxLength: 10 }) },
  );
}

function hostileNumber(world: HostileWorld): fc.Arbitrary<unknown> {
  return fc.oneof(
    fc.constantFrom(...world.ids),
    fc.constantFrom(...HOSTILE_NUMBERS),
    fc.integer(),
    fc.double(),
  );
}

/** Bodies shaped like what some route expects, with hostile values and stray fields. */
function shapedBody(world: HostileWorld): fc.Arbitrary<unknown> {
  const anyValue = fc.jsonValue({ maxDepth: 2, stringUnit: "binary" });
  const status = fc.oneof(fc.constantFrom("running", "completed", "cancelled", "skipped", "queued", "RUNNING", ""), hostileString(), anyValue);
  const conclusion = fc.oneof(fc.constantFrom("success", "failure", "cancelled", "skipped", "neutral", "timed_out", "action_required", "nope"), hostileString(), anyValue);
  const label = fc.oneof(fc.constantFrom("ubuntu-latest", "linux", "gpu", "a,b", "a b", ""), hostileString(20));
  const extra = fc.dictionary(fc.constantFrom("extra", "__proto__", "constructor", "status", "x"), anyValue, { maxKeys: 1 });
  const with_ = <T extends object>(a: fc.Arbitrary<T>) => fc.tuple(a, extra, fc.boolean()).map(([b, e, add]) => (add ? { ...b, ...e } : b));
  return fc.oneof(
    with_(fc.record({ status, conclusion }, { requiredKeys: [] })),
    with_(fc.record({ step_id: hostileNumber(world), seq: hostileNumber(world), content: fc.oneof(hostileString(200), fc.constantFrom(64 * 1024, 64 * 1024 + 1).map((n) => "y".repeat(n))) }, { requiredKeys: [] })),
    with_(fc.record({ labels: fc.oneof(fc.array(label, { maxLength: 5 }), anyValue), capacity: hostileNumber(world), host_name: hostileString(), version: hostileString() }, { requiredKeys: [] })),
    with_(fc.record({ name: fc.oneof(fc.stringMatching(/^[A-Za-z0-9._-]{1,20}$/), hostileString()), labels: fc.array(label, { maxLength: 3 }), capacity: hostileNumber(world) }, { requiredKeys: [] })),
    fc.constant({}),
  );
}

const BROKEN_JSON = ["{", '{"a":', "[1,2", "nul", '{"status":"running",}', "\ufeff{}", "{'a':1}", '{"a":1}{"b":2}', '"string"', "123", "null", "true", "", " ", "\u0000", '{"a":"\\ud800"}', '{"a":"\\u0000"}', "{\"a\":1e999999}", '{"__proto__":{"admin":true}}'];

function body(world: HostileWorld): fc.Arbitrary<Buffer | undefined> {
  const json = (a: fc.Arbitrary<unknown>) => a.map((v) => Buffer.from(JSON.stringify(v) ?? "null"));
  return fc.oneof(
    { weight: 3, arbitrary: fc.constant(undefined) },
    { weight: 6, arbitrary: json(shapedBody(world)) },
    { weight: 2, arbitrary: json(fc.jsonValue({ maxDepth: 3, stringUnit: "binary" })) },
    { weight: 1, arbitrary: fc.constantFrom(...BROKEN_JSON).map((s) => Buffer.from(s)) },
    { weight: 1, arbitrary: fc.tuple(json(shapedBody(world)), fc.nat()).map(([b, n]) => b.subarray(0, n % Math.max(1, b.length))) },
    // Near and past the 256 KiB limit; a gzip bomb (1 MiB of zeros in about 1 KiB).
    { weight: 1, arbitrary: fc.constantFrom(200 * 1024, 255 * 1024, 257 * 1024, 300 * 1024).map((n) => Buffer.from(`{"step_id":1,"seq":0,"content":"${"z".repeat(n)}"}`)) },
    { weight: 1, arbitrary: fc.constantFrom(1000, 50_000).map((n) => Buffer.from("[".repeat(n) + "]".repeat(n))) },
    { weight: 1, arbitrary: fc.constant(gzipSync(Buffer.alloc(1024 * 1024, 0x20))) },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 64 }).map((a) => Buffer.from(a)) },
  );
}

const jsonBuffer = (a: fc.Arbitrary<unknown>) => a.map((v) => Buffer.from(JSON.stringify(v) ?? "null"));

/** Mostly valid, sometimes hostile: valid values get requests past validation into the handlers. */
function mostly<T>(valid: fc.Arbitrary<T>, hostile: fc.Arbitrary<unknown>): fc.Arbitrary<unknown> {
  return fc.oneof({ weight: 3, arbitrary: valid }, { weight: 1, arbitrary: hostile });
}

function reportBody(world: HostileWorld): fc.Arbitrary<unknown> {
  return fc.oneof(
    { weight: 3, arbitrary: fc.record({ status: fc.constantFrom("running", "completed", "cancelled", "skipped"), conclusion: fc.constantFrom("success", "failure", "cancelled", "skipped", "neutral", "timed_out") }, { requiredKeys: ["status"] }) },
    { weight: 1, arbitrary: shapedBody(world) },
  );
}

/** A job token with its own job's path and a protocol-shaped body: gets past job auth into the handlers. */
function coherentRunnerRequest(world: HostileWorld): fc.Arbitrary<HostileRequest> {
  return fc
    .tuple(fc.constantFrom(...world.jobTokens), fc.constantFrom("/status", "/steps/{sid}/status", "/logs", "/logs", "/cancel-check"), fc.nat())
    .chain(([jt, tail, i]) => {
      const stepId = jt.stepIds[i % jt.stepIds.length] ?? i;
      const body =
        tail === "/logs"
          ? fc.oneof(
              { weight: 3, arbitrary: fc.record({ step_id: mostly(fc.constant(stepId), hostileNumber(world)), seq: mostly(fc.nat({ max: 20 }), hostileNumber(world)), content: hostileString(200) }) },
              { weight: 1, arbitrary: shapedBody(world) },
            )
          : tail === "/cancel-check" ? fc.oneof(fc.constant({}), shapedBody(world))
          : reportBody(world);
      return fc.tuple(jsonBuffer(body), fc.option(fc.constantFrom(...CONTENT_TYPES), { nil: undefined })).map(([b, ct]) => ({
        method: "POST",
        path: `/api/v1/jobs/${jt.jobId}${tail.replace("{sid}", String(stepId))}`,
        headers: { authorization: `Bearer ${jt.token}`, "content-type": ct ?? "application/json" },
        body: b,
      }));
    });
}

/** A runner credential (or the registration secret) on the runner endpoints, with hostile field values. */
function coherentRunnerAdmin(world: HostileWorld): fc.Arbitrary<HostileRequest> {
  const label = fc.oneof({ weight: 3, arbitrary: fc.constantFrom("ubuntu-latest", "linux", "x64") }, { weight: 1, arbitrary: hostileString(20) });
  const heartbeat = fc.record(
    { labels: mostly(fc.array(label, { maxLength: 4 }), fc.jsonValue({ maxDepth: 1 })), capacity: mostly(fc.integer({ min: 1, max: 256 }), hostileNumber(world)), host_name: hostileString(), version: hostileString() },
    { requiredKeys: [] },
  );
  const register = fc.record(
    { name: mostly(fc.stringMatching(/^[A-Za-z0-9._-]{1,20}$/), hostileString()), labels: mostly(fc.array(label, { maxLength: 4 }), fc.jsonValue({ maxDepth: 1 })), capacity: mostly(fc.integer({ min: 1, max: 256 }), hostileNumber(world)) },
    { requiredKeys: ["name"] },
  );
  return fc
    .tuple(fc.constantFrom(...world.credentials, ...world.deadCredentials), fc.boolean(), fc.oneof(jsonBuffer(heartbeat), jsonBuffer(register)))
    .map(([cred, toRegister, b]) => ({
      method: "POST",
      path: toRegister ? "/api/v1/runners/register" : "/api/v1/runners/heartbeat",
      headers: { authorization: `Bearer ${cred}`, "content-type": "application/json" },
      body: b,
    }));
}

/** A PAT on the user API, aimed at real ids: gets past authentication into authorization and the worker. */
function coherentUserRequest(world: HostileWorld): fc.Arbitrary<HostileRequest> {
  const route = fc.constantFrom(
    ["POST", "/api/v1/jobs/{id}/cancel"], ["POST", "/api/v1/jobs/{id}/cancel"], ["POST", "/api/v1/runs/{id}/rerun"], ["POST", "/api/v1/runs/{id}/rerun"],
    ["GET", "/api/v1/runs/{id}"], ["GET", "/api/v1/jobs/{id}"], ["GET", "/api/v1/jobs/{id}/logs"], ["HEAD", "/api/v1/jobs/{id}"],
  );
  const key = fc.oneof(
    { weight: 3, arbitrary: fc.constant(undefined) },
    { weight: 2, arbitrary: fc.constantFrom("k1", "k2", "retry-me") },
    { weight: 1, arbitrary: fc.string({ unit: "binary", maxLength: 30 }).map(headerSafe) },
  );
  const b = fc.oneof(
    { weight: 3, arbitrary: fc.constant(undefined) },
    { weight: 2, arbitrary: fc.constant(Buffer.from("{}")) },
    { weight: 1, arbitrary: jsonBuffer(fc.jsonValue({ maxDepth: 2, stringUnit: "binary" })) },
  );
  const cred = fc.oneof({ weight: 5, arbitrary: fc.constantFrom(...world.pats) }, { weight: 1, arbitrary: fc.constantFrom(...world.credentials, ...world.deadCredentials) });
  return fc
    .tuple(route, fc.constantFrom(...world.jobIds), fc.constantFrom(...world.runIds), fc.constantFrom(...world.ids), fc.nat({ max: 9 }), cred, key, b)
    .map(([[method, t], jobId, runId, anyId, dice, c, k, body]) => ({
      method,
      path: t.replace("{id}", String(dice === 0 ? anyId : t.includes("/runs/") ? runId : jobId)),
      headers: { authorization: `Bearer ${c}`, "content-type": "application/json", ...(k === undefined ? {} : { "idempotency-key": k }) },
      ...(body === undefined ? {} : { body }),
    }));
}

const clip = (s: string, n: number) => (s.length > n ? `${s.slice(0, n)}…(${s.length})` : s);

/** Counterexamples print short: a 300 KiB body as its size and first bytes. */
function printable(r: HostileRequest): HostileRequest {
  Object.defineProperty(r, fc.toStringMethod, {
    enumerable: false,
    value: () =>
      JSON.stringify({
        method: r.method,
        path: clip(r.path, 300),
        headers: Object.fromEntries(Object.entries(r.headers).map(([k, v]) => [k, clip(v, 120)])),
        body: r.body === undefined ? undefined : clip(r.body.toString("latin1"), 300),
      }),
  });
  return r;
}

export function hostileRequest(world: HostileWorld): fc.Arbitrary<HostileRequest> {
  const random = fc
    .tuple(path(world), fc.constantFrom(...METHODS, "TRACE", "PROPFIND", "get"), fc.integer({ min: 0, max: 9 }), headers(world), body(world))
    .map(([p, m, dice, h, b]) => {
      const method = dice < 6 ? p.method : m;
      const hdrs = { ...h };
      // Mostly plain requests: a body with its JSON type, without odd encodings.
      if (dice < 7 && hdrs["content-encoding"] !== undefined && b !== undefined && b[0] !== 0x1f) delete hdrs["content-encoding"];
      if (b !== undefined && b[0] === 0x1f) hdrs["content-encoding"] = "gzip";
      return { method, path: p.path, headers: hdrs, ...(b === undefined ? {} : { body: b }) };
    });
  return fc
    .oneof(
      { weight: 4, arbitrary: random },
      { weight: 2, arbitrary: coherentUserRequest(world) },
      { weight: 2, arbitrary: coherentRunnerRequest(world) },
      { weight: 1, arbitrary: coherentRunnerAdmin(world) },
    )
    .map(printable);
}
