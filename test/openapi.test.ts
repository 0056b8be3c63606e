import type { AddressInfo } from "node:net";
import type { Server } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Ajv2020, type ValidateFunction } from "ajv/dist/2020.js";
import ajvFormats from "ajv-formats";
import { Validator } from "@seriousme/openapi-schema-validator";
import type { Express } from "express";
import * as ops from "../admin/ops.ts";
import { createApp, type AppDeps } from "../api/app.ts";
import { DASHBOARD_PATH, dashboardRouter } from "../api/dashboard.ts";
import { openapiDocument, openapiRouter } from "../api/openapi/index.ts";
import { createLogger } from "../infra/logger.ts";
import { sha256 } from "../domain/tokens.ts";
import { expectInvariants } from "./setup/invariants.ts";
import { createTestDb, type TestDb } from "./setup/db.ts";
import { startStack, type Stack } from "./setup/stack.ts";
import { buildWorld, call, claimJob, ONE_JOB, pushAndRun, type Res } from "./setup/world.ts";

// The OpenAPI document against the app: (a) every route the app registers is documented
// with its method, and every documented operation exists; (b) real answers of the real
// stack (API, worker, Postgres, Redis) have a documented status, documented headers, and
// a body that validates against the documented schema (ajv, JSON Schema 2020-12).

// ---------------------------------------------------------------------------------------
// The document, and validators built from it

type Json = Record<string, any>;
const doc = openapiDocument() as Json;

/**
 * The published schemas are open ("fields may be added"); here every object schema that
 * does not say otherwise is closed, so an answer carrying a field the document does not
 * list fails: the document must be complete, not merely not wrong.
 */
function closed<T>(node: T): T {
  if (Array.isArray(node)) return node.map(closed) as T;
  if (node === null || typeof node !== "object") return node;
  const out: Json = {};
  for (const [k, v] of Object.entries(node)) out[k] = closed(v);
  if (out.type === "object" && out.properties && out.additionalProperties === undefined) out.additionalProperties = false;
  return out as T;
}

const DOC_ID = "https://actions-lifecycle.invalid/openapi.json";
const ajv = new Ajv2020({ strict: false, allErrors: true });
(ajvFormats as unknown as (a: Ajv2020) => void)(ajv);
ajv.addSchema(closed(doc), DOC_ID);
const validators = new Map<string, ValidateFunction>();

function validatorFor(schema: unknown, key: string): ValidateFunction {
  let v = validators.get(key);
  if (!v) {
    // Refs inside the operation's schema point into the document.
    const rebased = JSON.parse(JSON.stringify(schema).replaceAll('"#/components/', `"${DOC_ID}#/components/`));
    v = ajv.compile(closed(rebased));
    validators.set(key, v);
  }
  return v;
}

/** Headers whose presence on an answer the document must say. */
const NOTABLE_HEADERS = [
  "x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset", "retry-after", "www-authenticate",
  "x-oauth-scopes", "x-accepted-oauth-scopes", "link",
];

/** "METHOD /path/{template}" → statuses seen. */
const seen = new Map<string, Set<number>>();

function operation(method: string, template: string): Json {
  const op = doc.paths?.[template]?.[method.toLowerCase()];
  if (!op) throw new Error(`${method} ${template} is not in the document`);
  return op;
}

/** The answer conforms to the document: status, headers, media type and body. */
function conforms(method: string, template: string, res: Res): void {
  const where = `${method} ${template} → ${res.status} ${JSON.stringify(res.body)?.slice(0, 300)}`;
  const documented = operation(method, template).responses[String(res.status)];
  expect(documented, `undocumented status: ${where}`).toBeDefined();
  const headers = Object.keys(documented.headers ?? {}).map((h) => h.toLowerCase());
  expect(res.headers.get("x-request-id"), `no X-Request-Id: ${where}`).toBeTruthy();
  expect(headers, `X-Request-Id not documented: ${where}`).toContain("x-request-id");
  for (const h of NOTABLE_HEADERS) {
    if (res.headers.has(h)) expect(headers, `header ${h} sent but not documented: ${where}`).toContain(h);
  }
  const type = (res.headers.get("content-type") ?? "").split(";")[0]!.trim();
  if (!documented.content) {
    expect(res.body === "" || res.body === null, `a body where none is documented: ${where}`).toBe(true);
  } else {
    expect(Object.keys(documented.content), `media type ${type} not documented: ${where}`).toContain(type);
    if (type === "application/json") {
      const validate = validatorFor(documented.content[type].schema, `${method} ${template} ${res.status}`);
      expect(validate(res.body), `body does not match the document: ${where}\n${ajv.errorsText(validate.errors)}`).toBe(true);
    }
  }
  const key = `${method} ${template}`;
  seen.set(key, (seen.get(key) ?? new Set()).add(res.status));
}

// ---------------------------------------------------------------------------------------
// Routes the app registers (Express 5: app.router.stack, nested routers' handle.stack)

interface Layer {
  route?: { path: unknown; methods: Record<string, boolean> };
  handle: { stack?: Layer[] };
  slash: boolean;
  rawPath?: unknown;
  name: string;
}

function registered(app: Express): { routes: Set<string>; mounts: string[] } {
  const routes = new Set<string>();
  const mounts: string[] = [];
  const walk = (stack: Layer[], prefix: string) => {
    for (const layer of stack) {
      if (layer.route) {
        if (typeof layer.route.path !== "string") throw new Error(`route with a non-string path under ${prefix}: ${String(layer.route.path)}`);
        const path = (prefix + layer.route.path).replace(/:(\w+)/g, "{$1}");
        for (const [m, on] of Object.entries(layer.route.methods)) if (on && m !== "_all") routes.add(`${m.toUpperCase()} ${path}`);
        continue;
      }
      const at = layer.slash ? prefix : prefix + String(layer.rawPath);
      if (layer.handle.stack) walk(layer.handle.stack, at);
      else if (!layer.slash) mounts.push(`${at} (${layer.name})`);
    }
  };
  walk((app as unknown as { router: { stack: Layer[] } }).router.stack, "");
  return { routes, mounts };
}

function documentedOperations(): Set<string> {
  const out = new Set<string>();
  for (const [path, item] of Object.entries(doc.paths as Json)) {
    for (const m of Object.keys(item)) if (["get", "post", "put", "patch", "delete"].includes(m)) out.add(`${m.toUpperCase()} ${path}`);
  }
  return out;
}

/** Kept out of the public document on purpose: site admins only, 404 for everyone else. */
const UNDOCUMENTED_PREFIXES = [DASHBOARD_PATH];
/**
 * Documented operations that api/server.ts serves through a router this test's app does
 * not mount. Remove an entry once the test mounts its router.
 */
const SERVED_BY_UNMOUNTED_ROUTERS = new Set(["GET /metrics"]);

const silentLog = createLogger("test", { level: "silent", pretty: false });
const never = {} as never;

/** The app as api/server.ts composes it, with dependencies only requests would touch. */
function appForIntrospection(readiness: AppDeps["readiness"] = async () => null): Express {
  return createApp({
    prisma: never,
    sql: never,
    intents: never,
    tokenLimiter: never,
    ipLimiter: never,
    log: silentLog,
    readiness,
    // The event streams are served when api/server.ts hands the app its hub.
    events: never,
    routers: [dashboardRouter({ sql: never }, []), openapiRouter()],
  });
}

// ---------------------------------------------------------------------------------------
// The real stack

const REGISTRATION = "openapi-registration-secret";
const LABEL = "openapi-lab";
const LAB_JOB = `name: Lab
on: push
jobs:
  build:
    runs-on: ${LABEL}
    steps:
      - name: Compile
        run: echo compiling
      - run: echo testing
`;

let db: TestDb;
let stack: Stack;
/** No worker, a short result timeout, a tiny rate budget, no self-registration. */
let slow: Stack;
let world: Awaited<ReturnType<typeof buildWorld>>;
const tok: Record<string, string> = {};

beforeAll(async () => {
  db = await createTestDb("openapi");
  stack = await startStack(db, { registrationToken: REGISTRATION, routers: [openapiRouter()], events: {} });
  slow = await startStack(db, { withWorker: false, resultTimeoutMs: 300, ratePerHour: 3, routers: [openapiRouter()] });
  world = await buildWorld(db.prisma);
  await ops.createUser(db.prisma, { login: "suspended-sam" });
  tok.aliceRead = (await ops.createToken(db.prisma, { user: "alice", scopes: ["repo:read"] })).token;
  tok.userOnly = (await ops.createToken(db.prisma, { user: "alice", scopes: ["user:read"] })).token;
  const revoked = await ops.createToken(db.prisma, { user: "alice", scopes: ["repo:read"] });
  await ops.revokeToken(db.prisma, revoked.id);
  tok.revoked = revoked.token;
  const expired = await ops.createToken(db.prisma, { user: "alice", scopes: ["repo:read"], expiresInDays: 1 });
  await db.prisma.personalAccessToken.update({ where: { id: BigInt(expired.id) }, data: { expiresAt: new Date(Date.now() - 1000) } });
  tok.expired = expired.token;
  tok.suspended = (await ops.createToken(db.prisma, { user: "suspended-sam", scopes: ["repo:read"] })).token;
  await ops.suspendUser(db.prisma, "suspended-sam");
  tok.budget = (await ops.createToken(db.prisma, { user: "alice", scopes: ["repo:read"] })).token;
});
afterAll(async () => {
  if (db) await expectInvariants(db);
  await slow?.stop();
  await stack?.stop();
  await db?.drop();
});

interface Req {
  params?: Record<string, string | number>;
  token?: string;
  body?: unknown;
  raw?: string;
  headers?: Record<string, string>;
  on?: Stack;
  query?: Record<string, string>;
  redirect?: "follow" | "manual";
}

/** Calls the real stack and checks the answer against the document. */
async function api(method: string, template: string, o: Req = {}): Promise<Res> {
  const path = template.replace(/\{(\w+)\}/g, (_m, k: string) => encodeURIComponent(String(o.params?.[k] ?? `{${k}}`)));
  const query = o.query ? `?${new URLSearchParams(o.query)}` : "";
  const res = await call((o.on ?? stack).url, method, path + query, { token: o.token, body: o.body, raw: o.raw, headers: o.headers, redirect: o.redirect });
  conforms(method, template, res);
  return res;
}

const CANCEL = "/api/v1/jobs/{id}/cancel";
const RERUN = "/api/v1/runs/{id}/rerun";
const RUN = "/api/v1/runs/{id}";
const JOB = "/api/v1/jobs/{id}";
const LOGS = "/api/v1/jobs/{id}/logs";
const REGISTER = "/api/v1/runners/register";
const HEARTBEAT = "/api/v1/runners/heartbeat";
const STATUS = "/api/v1/jobs/{id}/status";
const STEP_STATUS = "/api/v1/jobs/{id}/steps/{step_id}/status";
const LOG_CHUNK = "/api/v1/jobs/{id}/logs";
const CANCEL_CHECK = "/api/v1/jobs/{id}/cancel-check";

describe("the OpenAPI document", () => {
  it("is a valid OpenAPI 3.1 document", async () => {
    const result = await new Validator().validate(doc);
    expect(result).toEqual({ valid: true });
    expect(doc.openapi).toBe("3.1.0");
  });

  it("documents every route the app registers, and nothing it does not", () => {
    const { routes, mounts } = registered(appForIntrospection());
    const hidden = (r: string) => UNDOCUMENTED_PREFIXES.some((p) => r.split(" ")[1]!.startsWith(p) || r.startsWith(p));
    const documented = documentedOperations();
    const app = [...routes].filter((r) => !hidden(r));
    expect(app.filter((r) => !documented.has(r)), "registered but not documented").toEqual([]);
    expect([...documented].filter((r) => !routes.has(r) && !SERVED_BY_UNMOUNTED_ROUTERS.has(r)), "documented but not registered").toEqual([]);
    // Middleware mounted at a path (a sub-application) is either documented or hidden on purpose.
    expect(mounts.filter((m) => !hidden(m)), "path-mounted middleware").toEqual([]);
    // The introspection sees what it should.
    expect(routes).toContain("POST /api/v1/jobs/{id}/cancel");
    expect(routes).toContain("POST /api/v1/jobs/{id}/steps/{step_id}/status");
    expect(app.length).toBeGreaterThanOrEqual(16);
  });

  it("gives every operation its security, and every non-public operation its 401", () => {
    for (const key of documentedOperations()) {
      const [method, path] = key.split(" ") as [string, string];
      const op = operation(method, path);
      expect(op.security, key).toBeDefined();
      if (op.security.length > 0 && path !== REGISTER) expect(Object.keys(op.responses), key).toContain("401");
      for (const [status, r] of Object.entries(op.responses as Json)) {
        expect(r.headers?.["X-Request-Id"], `${key} ${status}`).toBeDefined();
      }
    }
    expect(operation("POST", CANCEL).security).toEqual([{ pat: ["repo:write"] }, { patBasic: ["repo:write"] }]);
    expect(operation("GET", RUN).security).toEqual([{ pat: ["repo:read"] }, { patBasic: ["repo:read"] }]);
    expect(operation("POST", HEARTBEAT).security).toEqual([{ runnerToken: [] }]);
    expect(operation("POST", STATUS).security).toEqual([{ jobToken: [] }]);
  });

  it("gives every request body and path parameter a real example that its schema accepts", () => {
    const deref = (p: Json): Json => (p.$ref ? doc.components.parameters[String(p.$ref).split("/").pop()!] : p);
    let bodies = 0;
    for (const key of documentedOperations()) {
      const [method, path] = key.split(" ") as [string, string];
      const op = operation(method, path);
      for (const [type, media] of Object.entries((op.requestBody?.content ?? {}) as Json)) {
        expect(media.example, `${key} ${type} example`).toBeDefined();
        const v = validatorFor(media.schema, `example ${key} ${type}`);
        expect(v(media.example), `${key} example: ${JSON.stringify(v.errors)}`).toBe(true);
        // Not what a generator makes up from the types ("string", 0).
        expect(JSON.stringify(media.example), key).not.toContain("\"string\"");
        bodies++;
      }
      for (const param of ((op.parameters ?? []) as Json[]).map(deref).filter((p) => p.in === "path")) {
        if (param.schema?.enum) continue; // Swagger offers the list
        expect(param.example, `${key} parameter ${param.name}`).toBeDefined();
        const v = validatorFor(param.schema, `param ${key} ${param.name}`);
        expect(v(param.example), `${key} ${param.name}`).toBe(true);
      }
    }
    expect(bodies).toBeGreaterThanOrEqual(11);
  });

  it("validates for real: a wrong body, or an undocumented field, fails", () => {
    const v = validatorFor(operation("POST", CANCEL).responses["202"].content["application/json"].schema, "probe");
    const good = { job_id: 1, run_id: 2, repo_id: 3, changed_jobs: 1, run_completed: false, run_conclusion: "" };
    expect(v(good)).toBe(true);
    expect(v({ ...good, job_id: "1" })).toBe(false);
    expect(v({ ...good, surprise: true })).toBe(false);
    expect(v({ ...good, changed_jobs: undefined })).toBe(false);
  });
});

describe("documentation endpoints", () => {
  it("serves the document at /openapi.json", async () => {
    const r = await api("GET", "/openapi.json");
    expect(r.status).toBe(200);
    expect(r.body).toEqual(JSON.parse(JSON.stringify(doc)));
  });

  it("serves /docs and everything it loads from this service alone", async () => {
    const page = await api("GET", "/docs");
    expect(page.status).toBe(200);
    expect(page.headers.get("content-security-policy")).toContain("default-src 'none'");
    const html = page.body as string;
    const refs = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]!);
    expect(refs.length).toBeGreaterThanOrEqual(4);
    expect(html).not.toMatch(/(?:src|href)="(?:https?:)?\/\//);
    const types: Record<string, string> = {};
    for (const ref of refs) {
      expect(ref).toMatch(/^\/docs\/assets\/[\w.-]+$/);
      const r = await api("GET", "/docs/assets/{file}", { params: { file: ref.split("/").pop()! } });
      expect(r.status, ref).toBe(200);
      expect((r.body as string).length, ref).toBeGreaterThan(100);
      types[ref] = r.headers.get("content-type")!;
    }
    expect(types["/docs/assets/swagger-ui-bundle.js"]).toMatch(/^text\/javascript/);
    expect(types["/docs/assets/swagger-ui.css"]).toMatch(/^text\/css/);
    const init = await call(stack.url, "GET", "/docs/assets/init.js");
    expect(init.body).toContain('url: "/openapi.json"');
    expect(init.body).toContain("validatorUrl: null");
    expect(init.body).not.toMatch(/https?:\/\//);
    expect((await api("GET", "/docs/assets/{file}", { params: { file: "package.json" } })).status).toBe(404);
    const escape = await call(stack.url, "GET", "/docs/assets/..%2Fpackage.json");
    conforms("GET", "/docs/assets/{file}", escape);
    expect(escape.status).toBe(404);
  });

  it("shows the cancel endpoint in the reference", () => {
    expect(operation("POST", CANCEL)).toMatchObject({ operationId: "cancelJob", summary: "Cancel a job" });
  });
});

describe("operations endpoints", () => {
  it("/healthz and /readyz", async () => {
    expect((await api("GET", "/healthz")).body).toEqual({ status: "ok" });
    expect((await api("GET", "/readyz")).body).toEqual({ status: "ready" });
  });

  it("/readyz answers 503 with the reason when not ready", async () => {
    const app = appForIntrospection(async () => "postgres unreachable");
    const server: Server = await new Promise((resolve) => {
      const s = app.listen(0, "127.0.0.1", () => resolve(s));
    });
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const r = await call(url, "GET", "/readyz");
      conforms("GET", "/readyz", r);
      expect(r).toMatchObject({ status: 503, body: { error: "not ready", reason: "postgres unreachable" } });
    } finally {
      await new Promise((r) => server.close(r));
    }
  });
});

describe("user API answers match the document", () => {
  it("authentication and rate limiting", async () => {
    const r = await pushAndRun(db.prisma, "alice/demo", ONE_JOB, "0a0a0001");
    const job = r.job_ids[0]!;
    expect((await api("GET", JOB, { params: { id: job } })).status).toBe(401);
    const cases: [string, string][] = [
      [tok.revoked!, "token revoked"],
      [tok.expired!, "token expired"],
      [tok.suspended!, "account suspended"],
      ["shithub_pat_tooShort", "invalid token"],
    ];
    for (const [token, error] of cases) {
      const res = await api("GET", JOB, { params: { id: job }, token });
      expect(res).toMatchObject({ status: 401, body: { error } });
      expect(res.headers.get("www-authenticate")).toContain('error="invalid_token"');
    }
    // Basic auth with the PAT as password.
    const basic = Buffer.from(`x:${tok.aliceRead}`).toString("base64");
    expect((await api("GET", JOB, { params: { id: job }, headers: { authorization: `Basic ${basic}` } })).status).toBe(200);
    expect((await api("GET", JOB, { params: { id: job }, token: tok.userOnly })).body).toEqual({ error: "token lacks required scope: repo:read" });
    expect((await api("POST", CANCEL, { params: { id: job }, token: tok.userOnly })).status).toBe(403);
    // The slow stack allows three requests an hour per token.
    for (let i = 0; i < 3; i++) expect((await api("GET", RUN, { params: { id: r.run_id }, token: tok.budget, on: slow })).status).toBe(200);
    const limited = await api("GET", RUN, { params: { id: r.run_id }, token: tok.budget, on: slow });
    expect(limited).toMatchObject({ status: 429, body: { error: "rate limit exceeded" } });
    expect(Number(limited.headers.get("retry-after"))).toBeGreaterThan(0);
  });

  it("cancel: 202, repeats, idempotency, and its errors", async () => {
    const r = await pushAndRun(db.prisma, "alice/demo", ONE_JOB, "0a0a0002");
    const [job] = r.job_ids as [number];
    const other = (await pushAndRun(db.prisma, "alice/demo", ONE_JOB, "0a0a0003")).job_ids[0]!;
    const priv = (await pushAndRun(db.prisma, "alice/secret", ONE_JOB, "0a0a0004")).job_ids[0]!;
    const key = { "Idempotency-Key": "openapi-cancel-1" };

    const first = await api("POST", CANCEL, { params: { id: job }, token: world.tokens.bob, headers: key });
    expect(first).toMatchObject({ status: 202, body: { job_id: job, changed_jobs: 1, run_completed: true, run_conclusion: "cancelled" } });
    expect((await api("POST", CANCEL, { params: { id: job }, token: world.tokens.bob, headers: key })).body).toEqual(first.body);
    expect((await api("POST", CANCEL, { params: { id: job }, token: world.tokens.bob, body: {} })).body).toMatchObject({ changed_jobs: 0 });
    expect((await api("POST", CANCEL, { params: { id: other }, token: world.tokens.bob, headers: key })).status).toBe(422);

    expect((await api("POST", CANCEL, { params: { id: other }, token: world.tokens.bob, body: { force: true } })).body).toEqual({ error: "unknown field: force" });
    expect((await api("POST", CANCEL, { params: { id: other }, token: world.tokens.bob, body: [1] })).status).toBe(400);
    expect((await api("POST", CANCEL, { params: { id: other }, token: world.tokens.bob, headers: { "Idempotency-Key": "has space" } })).status).toBe(400);
    expect((await api("POST", CANCEL, { params: { id: other }, token: world.tokens.bob, raw: "{nope" })).body).toEqual({ error: "malformed JSON body" });
    expect((await api("POST", CANCEL, { params: { id: other }, raw: JSON.stringify({ pad: "x".repeat(300 * 1024) }) })).status).toBe(413);
    expect(
      (await api("POST", CANCEL, { params: { id: other }, token: world.tokens.bob, raw: "{}", headers: { "content-type": "application/json; charset=latin1" } })).status,
    ).toBe(415);
    expect((await api("POST", CANCEL, { params: { id: other } })).body).toEqual({ error: "unauthenticated" });
    expect((await api("POST", CANCEL, { params: { id: other }, token: tok.aliceRead })).body).toEqual({ error: "token lacks required scope: repo:write" });
    expect((await api("POST", CANCEL, { params: { id: other }, token: world.tokens.carol })).body).toEqual({ error: "write permission required" });
    expect((await api("POST", CANCEL, { params: { id: priv }, token: world.tokens.dave })).body).toEqual({ error: "job not found" });
    expect((await api("POST", CANCEL, { params: { id: "abc" }, token: world.tokens.bob })).status).toBe(404);
    expect((await api("POST", CANCEL, { params: { id: 987654321 }, token: world.tokens.bob })).status).toBe(404);

    // No worker on the slow stack: the answer is a 503 naming the queued intent.
    const late = await api("POST", CANCEL, { params: { id: other }, token: world.tokens.alice, on: slow });
    expect(late).toMatchObject({ status: 503, body: { intent_id: expect.any(String) } });
    expect(late.headers.get("retry-after")).toBe("5");
  });

  it("rerun: 201 and its errors", async () => {
    const done = await pushAndRun(db.prisma, "alice/demo", ONE_JOB, "0b0b0001");
    await api("POST", CANCEL, { params: { id: done.job_ids[0]! }, token: world.tokens.alice });
    const created = await api("POST", RERUN, { params: { id: done.run_id }, token: world.tokens.bob, body: {} });
    expect(created).toMatchObject({ status: 201, body: { parent_run_id: done.run_id, head_sha: "0b0b0001" } });

    expect((await api("POST", RERUN, { params: { id: created.body.run_id }, token: world.tokens.bob })).body).toEqual({ error: "run is not rerunnable" });
    const gone = await pushAndRun(db.prisma, "alice/demo", ONE_JOB, "0b0b0002");
    await api("POST", CANCEL, { params: { id: gone.job_ids[0]! }, token: world.tokens.alice });
    await db.prisma.workflowSource.deleteMany({ where: { headSha: "0b0b0002" } });
    expect((await api("POST", RERUN, { params: { id: gone.run_id }, token: world.tokens.bob })).body).toEqual({ error: "workflow source unavailable" });
    await db.prisma.workflowSource.create({
      data: { repoId: BigInt(world.repos.pub.id), path: ".shithub/workflows/ci.yml", headSha: "0b0b0002", content: "jobs: {}\n" },
    });
    const invalid = await api("POST", RERUN, { params: { id: gone.run_id }, token: world.tokens.bob });
    expect(invalid).toMatchObject({ status: 422, body: { error: "workflow source invalid", detail: expect.any(String) } });

    expect((await api("POST", RERUN, { params: { id: done.run_id }, token: world.tokens.carol })).status).toBe(403);
    expect((await api("POST", RERUN, { params: { id: 987654321 }, token: world.tokens.bob })).body).toEqual({ error: "run not found" });
    expect((await api("POST", RERUN, { params: { id: done.run_id } })).status).toBe(401);
    expect((await api("POST", RERUN, { params: { id: done.run_id }, token: world.tokens.bob, body: { ref: "main" } })).status).toBe(400);
  });

  it("partial reruns: 201, the chain and reused jobs in the read views, and their errors", async () => {
    const RERUN_FAILED = "/api/v1/runs/{id}/rerun-failed-jobs";
    const RERUN_JOB = "/api/v1/jobs/{id}/rerun";
    const wf = "jobs:\n  a:\n    runs-on: nowhere\n    steps: [{run: echo a}]\n  b:\n    runs-on: nowhere\n    steps: [{run: echo b}]\n";
    const src = await pushAndRun(db.prisma, "alice/demo", wf, "0d0d0001");
    for (const id of src.job_ids) await api("POST", CANCEL, { params: { id }, token: world.tokens.alice });
    const one = await api("POST", RERUN_JOB, { params: { id: src.job_ids[0]! }, token: world.tokens.bob, body: {} });
    expect(one).toMatchObject({ status: 201, body: { parent_run_id: src.run_id, head_sha: "0d0d0001" } });
    const view = await api("GET", RUN, { params: { id: one.body.run_id }, token: tok.aliceRead });
    expect(view.body).toMatchObject({ attempt: 2, original_run_id: src.run_id, jobs: [{ reused: false, status: "queued" }, { reused: true, status: "cancelled" }] });
    expect((await api("GET", JOB, { params: { id: view.body.jobs[1].id }, token: tok.aliceRead })).body).toMatchObject({ reused: true });
    const all = await api("POST", RERUN_FAILED, { params: { id: src.run_id }, token: world.tokens.bob, headers: { "Idempotency-Key": "openapi-rf-1" } });
    expect(all).toMatchObject({ status: 201, body: { parent_run_id: src.run_id } });

    const priv = await pushAndRun(db.prisma, "alice/secret", wf, "0d0d0002");
    for (const [path, id, what] of [[RERUN_FAILED, one.body.run_id, "run"], [RERUN_JOB, view.body.jobs[0].id, "job"]] as const) {
      expect((await api("POST", path, { params: { id }, token: world.tokens.bob })).body).toEqual({ error: "run is not rerunnable" });
      expect((await api("POST", path, { params: { id: what === "run" ? priv.run_id : priv.job_ids[0]! }, token: world.tokens.dave })).body).toEqual({ error: `${what} not found` });
      expect((await api("POST", path, { params: { id }, token: world.tokens.carol })).status).toBe(403);
      expect((await api("POST", path, { params: { id }, token: world.tokens.bob, body: { only: "a" } })).status).toBe(400);
      expect((await api("POST", path, { params: { id } })).status).toBe(401);
    }
    const reused = await api("POST", RERUN_FAILED, { params: { id: one.body.run_id }, token: world.tokens.bob, headers: { "Idempotency-Key": "openapi-rf-1" } });
    expect(reused.status).toBe(422);
  });

  it("bulk cancel: 200 dry run, 202, and its errors", async () => {
    const BULK = "/api/v1/repos/{owner}/{repo}/actions/runs/cancel";
    const r = await pushAndRun(db.prisma, "alice/demo", ONE_JOB, "0c0c0001", ".shithub/workflows/bulk.yml");
    const params = { owner: "alice", repo: "demo" };
    const dry = await api("POST", BULK, { params, token: world.tokens.bob, body: { workflow_file: "bulk.yml", dry_run: true } });
    expect(dry).toMatchObject({ status: 200, body: { dry_run: true, matched_runs: [{ id: r.run_id }], changed_jobs: 0 } });
    const done = await api("POST", BULK, { params, token: world.tokens.bob, body: { workflow_file: "bulk.yml", reason: "openapi" }, headers: { "Idempotency-Key": "openapi-bulk-1" } });
    expect(done).toMatchObject({ status: 202, body: { dry_run: false, changed_jobs: 1 } });
    const again = await api("POST", BULK, { params: { owner: "alice", repo: "other" }, token: world.tokens.alice, body: {}, headers: { "Idempotency-Key": "openapi-bulk-1" } });
    expect(again).toMatchObject({ status: 202 });
    expect((await api("POST", BULK, { params, token: world.tokens.alice, body: {}, headers: { "Idempotency-Key": "openapi-bulk-2" } })).status).toBe(202);
    expect((await api("POST", BULK, { params: { owner: "alice", repo: "other" }, token: world.tokens.alice, body: {}, headers: { "Idempotency-Key": "openapi-bulk-2" } })).status).toBe(422);
    expect((await api("POST", BULK, { params, token: world.tokens.bob, body: { limit: 501 } })).status).toBe(400);
    expect((await api("POST", BULK, { params, token: world.tokens.bob, body: { force: true } })).body).toEqual({ error: "unknown field: force" });
    expect((await api("POST", BULK, { params, token: world.tokens.carol, body: {} })).body).toEqual({ error: "write permission required" });
    expect((await api("POST", BULK, { params, token: world.tokens.bob })).status).toBe(400);
    expect((await api("POST", BULK, { params, token: tok.aliceRead, body: {} })).status).toBe(403);
    expect((await api("POST", BULK, { params: { owner: "alice", repo: "secret" }, token: world.tokens.dave, body: {} })).body).toEqual({ error: "repository not found" });
    expect((await api("POST", BULK, { params })).status).toBe(401);
  });

  it("lists: a repository's runs a page at a time, a run's jobs, and their errors", async () => {
    const LIST = "/api/v1/repos/{owner}/{repo}/actions/runs";
    const JOBS = "/api/v1/runs/{id}/jobs";
    const a = await pushAndRun(db.prisma, "alice/demo", ONE_JOB, "0a0a0501");
    await pushAndRun(db.prisma, "alice/demo", ONE_JOB, "0a0a0502");
    const demo = { owner: "alice", repo: "demo" };
    const first = await api("GET", LIST, { params: demo, token: tok.aliceRead, query: { per_page: "1" } });
    expect(first.status).toBe(200);
    expect(first.headers.get("link")).toContain('rel="next"');
    const next = await api("GET", LIST, { params: demo, token: tok.aliceRead, query: { per_page: "1", cursor: first.body.next_cursor } });
    expect(next.body.runs).toHaveLength(1);
    expect(next.body.runs[0].id).not.toBe(first.body.runs[0].id);
    expect((await api("GET", LIST, { params: demo, token: tok.aliceRead, query: { head_sha: "0a0a0501" } })).body.runs.map((r: Json) => r.id)).toEqual([a.run_id]);
    expect((await api("GET", LIST, { params: demo, token: tok.aliceRead, query: { status: "done" } })).status).toBe(400);
    expect((await api("GET", LIST, { params: { owner: "alice", repo: "secret" }, token: world.tokens.dave })).status).toBe(404);
    expect((await api("GET", LIST, { params: demo, token: tok.userOnly })).status).toBe(403);
    expect((await api("GET", LIST, { params: demo })).status).toBe(401);
    expect((await api("GET", JOBS, { params: { id: a.run_id }, token: tok.aliceRead })).body.jobs.map((j: Json) => j.id)).toEqual(a.job_ids);
    expect((await api("GET", JOBS, { params: { id: 987654321 }, token: tok.aliceRead })).status).toBe(404);
    expect((await api("GET", JOBS, { params: { id: a.run_id }, token: tok.userOnly })).status).toBe(403);
    expect((await api("GET", JOBS, { params: { id: a.run_id } })).status).toBe(401);
  });

  it("event streams: a run's stream to its end, 204 past it, a repository's stream opening, and their errors", async () => {
    const RUN_EVENTS = "/api/v1/runs/{id}/events";
    const REPO_EVENTS = "/api/v1/repos/{owner}/{repo}/actions/events";
    const a = await pushAndRun(db.prisma, "alice/demo", ONE_JOB, "0a0a0601");
    const priv = await pushAndRun(db.prisma, "alice/secret", ONE_JOB, "0a0a0602");
    // As the dispatcher writes them (api/events reads dispatched rows only).
    const { rows } = await db.pool.query<{ id: string }>(
      `INSERT INTO events (id, type, action, repo_id, run_id, snapshot, payload, dispatched_at)
       SELECT nextval('events_dispatch_seq'), 'workflow_run', 'completed', repo_id, id, '{}', '{"action":"completed"}', now() FROM workflow_runs WHERE id = $1::bigint RETURNING id::text`,
      [String(a.run_id)],
    );
    const done = await api("GET", RUN_EVENTS, { params: { id: a.run_id }, token: tok.aliceRead });
    expect(done.status).toBe(200);
    expect(done.body).toBe(`id: ${rows[0]!.id}\nevent: workflow_run\ndata: {"action": "completed"}\n\n`);
    expect((await api("GET", RUN_EVENTS, { params: { id: a.run_id }, token: tok.aliceRead, headers: { "Last-Event-ID": rows[0]!.id } })).status).toBe(204);
    expect((await api("GET", RUN_EVENTS, { params: { id: a.run_id }, token: tok.aliceRead, query: { last_event_id: "x" } })).status).toBe(400);
    expect((await api("GET", RUN_EVENTS, { params: { id: priv.run_id }, token: world.tokens.dave })).body).toEqual({ error: "run not found" });
    expect((await api("GET", RUN_EVENTS, { params: { id: a.run_id }, token: tok.userOnly })).status).toBe(403);
    expect((await api("GET", RUN_EVENTS, { params: { id: a.run_id } })).status).toBe(401);
    // A repository's stream does not end: its answer is checked on its headers, then dropped.
    const ac = new AbortController();
    const open = await fetch(`${stack.url}/api/v1/repos/alice/demo/actions/events`, { headers: { authorization: `Bearer ${tok.aliceRead}` }, signal: ac.signal });
    conforms("GET", REPO_EVENTS, { status: open.status, headers: open.headers, body: "" });
    expect(open.status).toBe(200);
    ac.abort();
    expect((await api("GET", REPO_EVENTS, { params: { owner: "alice", repo: "secret" }, token: world.tokens.dave })).status).toBe(404);
    expect((await api("GET", REPO_EVENTS, { params: { owner: "alice", repo: "demo" }, token: tok.aliceRead, headers: { "Last-Event-ID": "-1" } })).status).toBe(400);
  });

  it("run cancel, force-cancel and timeline: success and errors", async () => {
    const a = await pushAndRun(db.prisma, "alice/demo", ONE_JOB, "0e0e0001");
    const b = await pushAndRun(db.prisma, "alice/demo", ONE_JOB, "0e0e0002");
    const priv = await pushAndRun(db.prisma, "alice/secret", ONE_JOB, "0e0e0003");
    for (const [path, run] of [["/api/v1/runs/{id}/cancel", a], ["/api/v1/runs/{id}/force-cancel", b]] as const) {
      expect(await api("POST", path, { params: { id: run.run_id }, token: world.tokens.bob, body: { reason: "openapi" } })).toMatchObject({ status: 202, body: { changed_jobs: 1, run_completed: true } });
      expect((await api("POST", path, { params: { id: priv.run_id }, token: world.tokens.dave })).body).toEqual({ error: "run not found" });
      expect((await api("POST", path, { params: { id: run.run_id }, token: world.tokens.carol })).status).toBe(403);
      expect((await api("POST", path, { params: { id: run.run_id }, token: world.tokens.bob, body: { reason: 7 } })).status).toBe(400);
      expect((await api("POST", path, { params: { id: run.run_id } })).status).toBe(401);
    }
    const TIMELINE = "/api/v1/runs/{id}/timeline";
    const t = await api("GET", TIMELINE, { params: { id: a.run_id }, token: world.tokens.dave });
    expect(t.status).toBe(200);
    expect(t.body.events.length).toBeGreaterThan(0);
    expect((await api("GET", TIMELINE, { params: { id: priv.run_id }, token: world.tokens.dave })).status).toBe(404);
    expect((await api("GET", TIMELINE, { params: { id: a.run_id } })).status).toBe(401);
  });
});

describe("runner protocol answers match the document", () => {
  it("a job from claim to logs, and every error on the way", async () => {
    // Self-registration, and its errors.
    const reg = await api("POST", REGISTER, { token: REGISTRATION, body: { name: "openapi-runner", labels: [LABEL], capacity: 2 } });
    expect(reg).toMatchObject({ status: 201, body: { name: "openapi-runner", token: expect.stringMatching(/^shithub_runner_/), ended_jobs: [] } });
    const runner = reg.body.token as string;
    expect((await api("POST", REGISTER, { body: { name: "x" } })).body).toEqual({ error: "unauthenticated" });
    expect((await api("POST", REGISTER, { token: "wrong", body: { name: "x" } })).body).toEqual({ error: "invalid registration token" });
    expect((await api("POST", REGISTER, { token: REGISTRATION, body: { name: "bad name!" } })).status).toBe(400);
    expect((await api("POST", REGISTER, { token: REGISTRATION, raw: "[" })).status).toBe(400);
    expect((await api("POST", REGISTER, { token: REGISTRATION, body: { name: "x" }, on: slow })).body).toEqual({ error: "route not found" });
    await api("POST", REGISTER, { token: REGISTRATION, body: { name: "openapi-revoked" } });
    await ops.setRunnerState(db.prisma, "openapi-revoked", "revoke");
    expect((await api("POST", REGISTER, { token: REGISTRATION, body: { name: "openapi-revoked" } })).body).toEqual({ error: "runner revoked" });
    await ops.registerRunner(db.prisma, { name: "openapi-operator", labels: [LABEL], capacity: 1 });
    expect((await api("POST", REGISTER, { token: REGISTRATION, body: { name: "openapi-operator" } })).body).toEqual({ error: "runner name taken by an operator-registered runner" });

    // Heartbeat and claim.
    expect((await api("POST", HEARTBEAT, { token: runner, body: { version: "1.0" } })).status).toBe(204);
    const run = await pushAndRun(db.prisma, "alice/demo", LAB_JOB, "0c0c0001");
    const jobId = run.job_ids[0]!;
    const claimed = await api("POST", HEARTBEAT, { token: runner });
    expect(claimed).toMatchObject({ status: 200, body: { job: { id: jobId, runs_on: LABEL } } });
    const jt = claimed.body.token as string;
    const [s1, s2] = claimed.body.job.steps as [{ id: number }, { id: number }];
    expect((await api("POST", HEARTBEAT, { token: runner, body: { capacity: 0 } })).status).toBe(400);
    expect((await api("POST", HEARTBEAT, {})).status).toBe(401);
    expect((await api("POST", HEARTBEAT, { token: "shithub_runner_nope" })).body).toEqual({ error: "invalid token" });

    // Reads of a running job (non-null started_at, runner_id).
    expect((await api("GET", JOB, { params: { id: jobId }, token: tok.aliceRead })).body).toMatchObject({ status: "running" });

    // Steps, logs, cancel-check, job status.
    const p = (step_id?: number) => ({ id: jobId, ...(step_id ? { step_id } : {}) });
    expect((await api("POST", STEP_STATUS, { params: p(s1.id), token: jt, body: { status: "running" } })).body).toEqual({ changed: true });
    expect((await api("POST", LOG_CHUNK, { params: p(), token: jt, body: { step_id: s1.id, seq: 0, content: "compiling\n" } })).body).toEqual({ changed: true });
    expect((await api("POST", LOG_CHUNK, { params: p(), token: jt, body: { step_id: s1.id, seq: 0, content: "compiling\n" } })).body).toEqual({ changed: false });
    expect((await api("POST", LOG_CHUNK, { params: p(), token: jt, body: { step_id: s1.id, seq: 0, content: "other" } })).status).toBe(409);
    expect((await api("POST", LOG_CHUNK, { params: p(), token: jt, body: { step_id: 987654321, seq: 0, content: "x" } })).body).toEqual({ error: "step not found" });
    expect((await api("POST", LOG_CHUNK, { params: p(), token: jt, body: { step_id: s1.id } })).status).toBe(400);
    expect((await api("POST", STEP_STATUS, { params: p(s1.id), token: jt, body: { status: "completed", conclusion: "success" } })).body).toEqual({ changed: true });
    expect((await api("POST", STEP_STATUS, { params: p(s1.id), token: jt, body: { status: "running" } })).status).toBe(409);
    expect((await api("POST", STEP_STATUS, { params: p(987654321), token: jt, body: { status: "running" } })).body).toEqual({ error: "step not found" });
    expect((await api("POST", STEP_STATUS, { params: p(s2.id), token: jt, body: { status: "completed" } })).body).toEqual({ error: "completed needs a conclusion" });
    expect((await api("POST", STEP_STATUS, { params: p(s2.id), token: jt, body: { status: "done" } })).status).toBe(400);
    expect((await api("POST", CANCEL_CHECK, { params: p(), token: jt })).body).toEqual({ cancelled: false, force: false });
    expect((await api("POST", CANCEL_CHECK, { params: p() })).status).toBe(401);

    // Another job's token, and a token that expired.
    const other = await pushAndRun(db.prisma, "alice/demo", LAB_JOB, "0c0c0002");
    const c2 = await claimJob(stack.url, runner, other.job_ids[0]!);
    expect((await api("POST", CANCEL_CHECK, { params: p(), token: c2.token })).body).toEqual({ error: "job not found" });
    expect((await api("POST", STATUS, { params: p(), token: c2.token, body: { status: "running" } })).status).toBe(404);
    await db.prisma.jobToken.update({ where: { tokenHash: sha256(c2.token) }, data: { expiresAt: new Date(Date.now() - 1000) } });
    expect((await api("POST", STATUS, { params: { id: c2.job.id }, token: c2.token, body: { status: "running" } })).body).toEqual({ error: "token expired" });
    await db.prisma.jobToken.update({ where: { tokenHash: sha256(c2.token) }, data: { expiresAt: new Date(Date.now() + 3_600_000) } });
    expect((await api("POST", STATUS, { params: { id: c2.job.id }, token: c2.token, body: { status: "completed", conclusion: "failure" } })).body).toEqual({ changed: true, run_completed: true });

    // A user's cancel of the running job reaches the runner's poll.
    expect((await api("POST", CANCEL, { params: { id: jobId }, token: world.tokens.alice })).body).toMatchObject({ changed_jobs: 1, run_completed: false });
    expect((await api("POST", CANCEL_CHECK, { params: p(), token: jt })).body).toEqual({ cancelled: true, force: false });

    expect((await api("POST", STATUS, { params: p(), token: jt, body: { status: "completed", conclusion: "success" } })).body).toEqual({ changed: true, run_completed: true });
    expect((await api("POST", STATUS, { params: p(), token: jt, body: { status: "completed", conclusion: "success" } })).body).toEqual({ changed: false, run_completed: false });
    expect((await api("POST", STATUS, { params: p(), token: jt, body: { status: "cancelled" } })).status).toBe(409);
    expect((await api("POST", STATUS, { params: p(), token: jt, body: { status: "completed", extra: 1 } })).status).toBe(400);
    expect((await api("POST", STATUS, { params: p(), token: jt, raw: "{" })).status).toBe(400);
    expect((await api("POST", STATUS, { params: p(), token: "shithub_job_nope", body: { status: "running" } })).body).toEqual({ error: "invalid token" });

    // Completed job and run, read back (non-null conclusions and timestamps).
    expect((await api("GET", RUN, { params: { id: run.run_id }, token: tok.aliceRead })).body).toMatchObject({ status: "completed", conclusion: "success" });
    expect((await api("GET", JOB, { params: { id: jobId }, token: tok.aliceRead })).body).toMatchObject({ cancel_requested: true });
    expect((await api("GET", LOGS, { params: { id: jobId }, token: tok.aliceRead })).body).toContain("##[group]Compile\ncompiling\n##[endgroup]\n");
    expect((await api("GET", LOGS, { params: { id: 987654321 }, token: tok.aliceRead })).status).toBe(404);
    expect((await api("GET", RUN, { params: { id: "x" }, token: tok.aliceRead })).status).toBe(404);
    expect((await api("GET", LOGS, { params: { id: jobId }, token: tok.userOnly })).status).toBe(403);
    expect((await api("GET", LOGS, { params: { id: jobId } })).status).toBe(401);
    expect((await api("GET", RUN, { params: { id: run.run_id }, token: tok.userOnly })).status).toBe(403);
    expect((await api("GET", RUN, { params: { id: run.run_id } })).status).toBe(401);

    // A revoked runner's tokens stop working.
    await ops.setRunnerState(db.prisma, "openapi-runner", "revoke");
    expect((await api("POST", HEARTBEAT, { token: runner })).body).toEqual({ error: "runner revoked" });
    expect((await api("POST", CANCEL_CHECK, { params: { id: c2.job.id }, token: c2.token })).body).toEqual({ error: "runner revoked" });
  });

  it("GitHub-compatible REST: each operation's success and its errors", async () => {
    const V3 = "/api/v3/repos/{owner}/{repo}/actions";
    const demo = { owner: "alice", repo: "demo" };
    const wf = "name: Two\njobs:\n  a:\n    runs-on: nowhere\n    steps: [{name: A, run: echo a}]\n  b:\n    runs-on: nowhere\n    steps: [{run: echo b}]\n";
    const open = await pushAndRun(db.prisma, "alice/demo", wf, "0a3a0001");
    const ended = await pushAndRun(db.prisma, "alice/demo", wf, "0a3a0002");
    for (const id of ended.job_ids) await api("POST", CANCEL, { params: { id }, token: world.tokens.alice });
    const run = { ...demo, run_id: ended.run_id };
    const job = { ...demo, job_id: ended.job_ids[0]! };
    const reader = { token: tok.aliceRead };
    const none = { ...demo, run_id: 987654321, job_id: 987654321, attempt_number: 1, workflow_id: "nope.yml", check_run_id: 987654321 };
    const readOps: [string, Record<string, string | number>][] = [
      [`${V3}/runs`, demo], [`${V3}/runs/{run_id}`, run], [`${V3}/runs/{run_id}/attempts/{attempt_number}`, { ...run, attempt_number: 1 }],
      [`${V3}/runs/{run_id}/jobs`, run], [`${V3}/runs/{run_id}/attempts/{attempt_number}/jobs`, { ...run, attempt_number: 1 }],
      [`${V3}/jobs/{job_id}`, job], [`${V3}/runs/{run_id}/artifacts`, run], ["/api/v3/repos/{owner}/{repo}/check-runs/{check_run_id}/annotations", { ...demo, check_run_id: ended.job_ids[0]! }],
      [`${V3}/workflows`, demo], [`${V3}/workflows/{workflow_id}`, { ...demo, workflow_id: "ci.yml" }], [`${V3}/workflows/{workflow_id}/runs`, { ...demo, workflow_id: "ci.yml" }],
    ];
    for (const [path, params] of readOps) {
      expect((await api("GET", path, { params, ...reader })).status, path).toBe(200);
      expect((await api("GET", path, { params: { ...none, ...(path.endsWith("/runs") || path.endsWith("/workflows") ? { repo: "nope" } : {}) }, ...reader })).status, path).toBe(404);
    }
    expect((await api("GET", `${V3}/runs`, { params: demo, ...reader, query: { per_page: "1" } })).headers.get("link")).toMatch(/rel="next"/);
    expect((await api("GET", `${V3}/runs`, { params: demo, ...reader, query: { status: "sideways" } })).status).toBe(422);
    expect((await api("GET", `${V3}/runs`, { params: demo })).status).toBe(401);
    expect((await api("GET", `${V3}/runs`, { params: demo, token: tok.userOnly })).status).toBe(403);

    for (const path of [`${V3}/jobs/{job_id}/logs`, `${V3}/runs/{run_id}/logs`, `${V3}/runs/{run_id}/attempts/{attempt_number}/logs`]) {
      const r = await api("GET", path, { params: { ...run, ...job, attempt_number: 1 }, ...reader, redirect: "manual" });
      expect(r.status, path).toBe(302);
      expect((await api("GET", path, { params: none, ...reader, redirect: "manual" })).status, path).toBe(404);
      const link = new URL(r.headers.get("location")!);
      const signedPath = path.includes("/jobs/") ? "/api/v3/_logs/jobs/{id}" : "/api/v3/_logs/runs/{id}.zip";
      const id = link.pathname.split("/").pop()!.replace(".zip", "");
      const q = Object.fromEntries(link.searchParams);
      expect((await api("GET", signedPath, { params: { id }, query: q })).status).toBe(200);
      expect((await api("GET", signedPath, { params: { id }, query: { ...q, signature: "forged" } })).status).toBe(403);
    }

    const writer = { token: world.tokens.bob };
    expect((await api("POST", `${V3}/runs/{run_id}/cancel`, { params: { ...demo, run_id: open.run_id }, ...writer })).status).toBe(202);
    expect((await api("POST", `${V3}/runs/{run_id}/cancel`, { params: { ...demo, run_id: open.run_id }, ...writer })).status).toBe(409);
    const other = await pushAndRun(db.prisma, "alice/demo", wf, "0a3a0003");
    expect((await api("POST", `${V3}/runs/{run_id}/force-cancel`, { params: { ...demo, run_id: other.run_id }, ...writer })).status).toBe(202);
    expect((await api("POST", `${V3}/runs/{run_id}/force-cancel`, { params: none, ...writer })).status).toBe(404);
    expect((await api("POST", `${V3}/runs/{run_id}/rerun`, { params: run, ...writer })).status).toBe(201);
    expect((await api("POST", `${V3}/runs/{run_id}/rerun`, { params: run, token: world.tokens.carol })).status).toBe(403);
    expect((await api("POST", `${V3}/runs/{run_id}/rerun-failed-jobs`, { params: { ...demo, run_id: other.run_id }, ...writer, body: {} })).status).toBe(201);
    expect((await api("POST", `${V3}/runs/{run_id}/rerun-failed-jobs`, { params: run, ...writer, body: { enable_debug_logging: true } })).status).toBe(422);
    expect((await api("POST", `${V3}/jobs/{job_id}/rerun`, { params: { ...demo, job_id: open.job_ids[0]! }, ...writer })).status).toBe(201);
    expect((await api("POST", `${V3}/jobs/{job_id}/rerun`, { params: job })).status).toBe(401);

    // gh's one GraphQL query, as gh sends it; and without a token.
    const query = "query PullRequestForRun($owner: String!, $repo: String!, $headRefName: String!) { repository(owner: $owner, name: $repo) { pullRequests(headRefName: $headRefName, first: 1, orderBy: { field: CREATED_AT, direction: DESC }) { nodes { number headRepository { owner { login } name } } } } }";
    const gql = { query, variables: { owner: "alice", repo: "demo", headRefName: "main" } };
    expect((await api("POST", "/api/graphql", { body: gql, ...reader })).body).toEqual({ data: { repository: { pullRequests: { nodes: [] } } } });
    expect((await api("POST", "/api/graphql", { body: gql })).status).toBe(401);
  });

  it("exercised every documented operation with a success and an error", () => {
    const missing: string[] = [];
    for (const key of documentedOperations()) {
      if (SERVED_BY_UNMOUNTED_ROUTERS.has(key)) continue;
      const statuses = [...(seen.get(key) ?? [])];
      // A redirect is the success of the operations documented with one.
      if (!statuses.some((s) => s < 300 || (s < 400 && String(s) in operation(...(key.split(" ") as [string, string])).responses))) missing.push(`${key}: no success`);
      const [method, path] = key.split(" ") as [string, string];
      const errorsDocumented = Object.keys(operation(method, path).responses).some((s) => s.startsWith("4"));
      if (errorsDocumented && !statuses.some((s) => s >= 400 && s < 500)) missing.push(`${key}: no client error`);
    }
    expect(missing).toEqual([]);
  });
});
