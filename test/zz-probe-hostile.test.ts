import { afterAll, beforeAll, it } from "vitest";
import http from "node:http";
import { createTestDb, type TestDb } from "./setup/db.ts";
import { startStack, type Stack } from "./setup/stack.ts";
import { buildWorld, call, claim, pushAndRun, registerTestRunner, TWO_JOBS } from "./setup/world.ts";

let db: TestDb; let stack: Stack; let world: any;
beforeAll(async () => { db = await createTestDb("probe"); stack = await startStack(db, { registrationToken: "regsecret" }); world = await buildWorld(db.prisma); });
afterAll(async () => { await stack?.stop(); await db?.drop(); });

function raw(method: string, path: string, headers: Record<string, string>, body?: Buffer | string): Promise<string> {
  const u = new URL(stack.url);
  return new Promise((resolve) => {
    const req = http.request({ host: u.hostname, port: u.port, method, path, headers }, (res) => {
      let b = ""; res.setEncoding("latin1"); res.on("data", (c) => (b += c)); res.on("end", () => resolve(`${res.statusCode} ${b.slice(0, 300)}`));
    });
    req.on("error", (e) => resolve(`ERR ${e.message}`));
    req.end(body);
  });
}

it("probe", async () => {
  const r = await pushAndRun(db.prisma, "alice/demo", TWO_JOBS, "abcd0001");
  const runner = await registerTestRunner(db.prisma, "p1");
  const c = await claim(stack.url, runner.token);
  const jt = c.body.token; const jid = c.body.job.id; const sid = c.body.job.steps[0].id;
  const out: string[] = [];
  const p = async (label: string, f: () => Promise<any>) => { const x = await f(); out.push(`${label}: ${typeof x === "string" ? x : `${x.status} ${JSON.stringify(x.body).slice(0, 300)}`}`); };
  await p("log NUL", () => call(stack.url, "POST", `/api/v1/jobs/${jid}/logs`, { token: jt, body: { step_id: sid, seq: 0, content: "a\u0000b" } }));
  await p("log lone surrogate", () => call(stack.url, "POST", `/api/v1/jobs/${jid}/logs`, { token: jt, raw: `{"step_id":${sid},"seq":1,"content":"\\ud800"}` }));
  await p("hb hostname NUL", () => call(stack.url, "POST", `/api/v1/runners/heartbeat`, { token: runner.token, body: { host_name: "a\u0000" } }));
  await p("hb labels NUL", () => call(stack.url, "POST", `/api/v1/runners/heartbeat`, { token: runner.token, body: { labels: ["a\u0000"] } }));
  await p("hb version NUL", () => call(stack.url, "POST", `/api/v1/runners/heartbeat`, { token: runner.token, body: { version: "\u0000" } }));
  await p("step huge", () => call(stack.url, "POST", `/api/v1/jobs/${jid}/steps/9007199254740991/status`, { token: jt, body: { status: "running" } }));
  await p("gzip garbage", () => raw("POST", `/api/v1/jobs/${jid}/logs`, { authorization: `Bearer ${jt}`, "content-type": "application/json", "content-encoding": "gzip" }, "garbage"));
  await p("deflate garbage", () => raw("POST", `/api/v1/jobs/1/cancel`, { authorization: `Bearer ${world.tokens.alice}`, "content-type": "application/json", "content-encoding": "deflate" }, "garbage"));
  await p("br garbage", () => raw("POST", `/api/v1/jobs/1/cancel`, { authorization: `Bearer ${world.tokens.alice}`, "content-type": "application/json", "content-encoding": "br" }, "garbage"));
  await p("bad pct", () => raw("GET", `/api/v1/jobs/%E0%A4%A`, { authorization: `Bearer ${world.tokens.alice}` }));
  await p("bad pct2", () => raw("GET", `/api/v1/jobs/%`, { authorization: `Bearer ${world.tokens.alice}` }));
  await p("high bytes path", () => raw("GET", `/api/v1/jobs/\u00e9\u00ff`, { authorization: `Bearer ${world.tokens.alice}` }));
  await p("hdr 9k", () => raw("GET", `/api/v1/jobs/1`, { authorization: `Bearer ${"a".repeat(9 * 1024)}` }));
  await p("hdr 20k", () => raw("GET", `/api/v1/jobs/1`, { authorization: `Bearer ${"a".repeat(20 * 1024)}` }));
  await p("after", () => raw("GET", `/healthz`, {}));
  await p("idem high", () => raw("POST", `/api/v1/jobs/${r.job_ids[1]}/cancel`, { authorization: `Bearer ${world.tokens.alice}`, "idempotency-key": "\u00e9abc" }));
  await p("charset latin1", () => raw("POST", `/api/v1/jobs/1/cancel`, { authorization: `Bearer ${world.tokens.alice}`, "content-type": "application/json; charset=latin1" }, "{}"));
  await p("charset bad", () => raw("POST", `/api/v1/jobs/1/cancel`, { authorization: `Bearer ${world.tokens.alice}`, "content-type": "application/json; charset=\"" }, "{}"));
  await p("ct garbage", () => raw("POST", `/api/v1/jobs/1/cancel`, { authorization: `Bearer ${world.tokens.alice}`, "content-type": ";;;/" }, "{}"));
  await p("deep", () => raw("POST", `/api/v1/jobs/1/cancel`, { authorization: `Bearer ${world.tokens.alice}`, "content-type": "application/json" }, "[".repeat(100000) + "]".repeat(100000)));
  await p("register NUL", () => call(stack.url, "POST", `/api/v1/runners/register`, { token: "regsecret", body: { name: "x", labels: ["\u0000"] } }));
  await p("options", () => raw("OPTIONS", `/api/v1/jobs/1/cancel`, {}));
  await p("trace", () => raw("TRACE", `/api/v1/jobs/1/cancel`, {}));
  await p("basic weird", () => raw("GET", `/api/v1/jobs/1`, { authorization: "Basic ////" }));
  await p("proto key", () => call(stack.url, "POST", `/api/v1/jobs/${jid}/status`, { token: jt, raw: '{"__proto__":{"x":1},"status":"running"}' }));
  await p("proto key2", () => call(stack.url, "POST", `/api/v1/jobs/1/cancel`, { token: world.tokens.alice, raw: '{"__proto__":{"x":1}}' }));
  await p("constructor", () => call(stack.url, "POST", `/api/v1/jobs/1/cancel`, { token: world.tokens.alice, raw: '{"constructor":{"prototype":1}}' }));
  console.log(out.join("\n"));
});
