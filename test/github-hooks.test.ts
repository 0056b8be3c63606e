import { Octokit } from "@octokit/rest";
import { beforeAll, describe, expect, it } from "vitest";
import * as ops from "../admin/ops.ts";
import { SecretBox } from "../infra/secretbox.ts";
import { GITHUB_HOOK_OPERATIONS } from "../api/v3/operations.ts";
import { expectGitHubShape, githubErrorSchemaErrors } from "./setup/github-schema.ts";
import { SIGNING_KEY } from "./setup/stack.ts";
import { worldSuite, type WorldSuite } from "./setup/suite.ts";
import { call } from "./setup/world.ts";

// GitHub's repository webhook API under /api/v3 (api/v3/hooks.ts): Octokit as a script
// would use it, every answer checked against GitHub's published schema (the oracle,
// test/setup/github-schema.ts) and against the database. Nothing is delivered: the stack
// has no dispatcher or delivery worker, no run is created, every URL is loopback.

const SECRET = "github-hooks-secret-55c2";
const HOOK_URL = "http://127.0.0.1:9/gh-hook";
const owner = "alice";
const repo = "demo";
const quiet = { debug() {}, info() {}, warn() {}, error() {} };
const P = "/repos/{owner}/{repo}/hooks";
const OP = {
  list: `GET ${P}`, create: `POST ${P}`, get: `GET ${P}/{hook_id}`, update: `PATCH ${P}/{hook_id}`, del: `DELETE ${P}/{hook_id}`,
  deliveries: `GET ${P}/{hook_id}/deliveries`, delivery: `GET ${P}/{hook_id}/deliveries/{delivery_id}`, redeliver: `POST ${P}/{hook_id}/deliveries/{delivery_id}/attempts`,
};

const hookToken = async (s: WorldSuite, user: string, scopes = ["repo:write", "admin:repo_hook"]) => (await ops.createToken(s.db.prisma, { user, scopes })).token;
const hookRow = async (s: WorldSuite, id: number) =>
  (await s.db.pool.query<{ url: string; secret_encrypted: string | null; events: string[]; active: boolean }>(`SELECT url, secret_encrypted, events, active FROM repo_hooks WHERE id = $1`, [id])).rows[0];
/** Everything a hook request could change. */
const hookState = async (s: WorldSuite) =>
  JSON.stringify((await s.db.pool.query(`SELECT (SELECT coalesce(json_agg(h ORDER BY id), '[]') FROM repo_hooks h) AS h, (SELECT coalesce(json_agg(d ORDER BY id), '[]') FROM hook_deliveries d) AS d`)).rows[0]);

/** A delivery row as the delivery worker leaves it; `queued`: not attempted yet (GitHub's non-null fields then come from defaults). */
async function insertDelivery(s: WorldSuite, hookId: number, guid: string, eventId: number, state: "delivered" | "queued"): Promise<number> {
  const done = state === "delivered";
  const { rows } = await s.db.pool.query<{ id: string }>(
    `INSERT INTO hook_deliveries (hook_id, guid, event_id, event, action, state, attempts, request_headers, status_code, response_headers, response_body, duration_ms, delivered_at)
     VALUES ($1, $2::uuid, $3, 'workflow_job', 'queued', $4::delivery_state, $5, $6::jsonb, $7, $8::jsonb, $9, $10, CASE WHEN $5 > 0 THEN now() END) RETURNING id::text`,
    [hookId, guid, eventId, state, done ? 1 : 0, done ? '{"X-GitHub-Event":"workflow_job"}' : null, done ? 202 : null, done ? '{"server":"receiver"}' : null, done ? "ok" : null, done ? 30 : null],
  );
  return Number(rows[0]!.id);
}

async function insertEvent(s: WorldSuite): Promise<number> {
  const { rows } = await s.db.pool.query<{ id: string }>(
    `INSERT INTO events (id, type, action, repo_id, snapshot, payload, dispatched_at)
     VALUES (nextval('events_dispatch_seq'), 'workflow_job', 'queued', $1, '{}'::jsonb, '{"action":"queued","marker":"gh-7"}'::jsonb, now()) RETURNING id::text`,
    [s.world.repos.pub.id],
  );
  return Number(rows[0]!.id);
}

describe("GitHub's webhook API under /api/v3", () => {
  const s = worldSuite("github-hooks", { allowPrivateHooks: true });
  const kit = (token: string) => new Octokit({ auth: token, baseUrl: `${s.stack.url}/api/v3`, log: quiet });
  const t = {} as Record<"alice" | "bob" | "dave", string>;
  let octokit: Octokit;
  beforeAll(async () => {
    for (const u of ["alice", "bob", "dave"] as const) t[u] = await hookToken(s, u);
    octokit = kit(t.alice);
  });

  it("creates, lists, gets, updates and deletes a hook with Octokit, in GitHub's shapes", async () => {
    const created = await octokit.rest.repos.createWebhook({ owner, repo, name: "web", config: { url: HOOK_URL, content_type: "json", secret: SECRET, insecure_ssl: "0" }, events: ["workflow_run"], active: false });
    expect(created.status).toBe(201);
    expectGitHubShape(OP.create, 201, created.data);
    const id = created.data.id;
    const url = `${s.stack.url}/api/v3/repos/alice/demo/hooks/${id}`;
    expect(created.data).toMatchObject({
      type: "Repository", name: "web", active: false, events: ["workflow_run"], url, deliveries_url: `${url}/deliveries`, ping_url: `${url}/pings`,
      config: { url: HOOK_URL, content_type: "json", insecure_ssl: "0", secret: "********" }, last_response: { code: null, status: "unused", message: null },
    });
    expect(created.headers["x-github-request-id"]).toEqual(expect.any(String));
    const row = await hookRow(s, id);
    expect(row).toMatchObject({ url: HOOK_URL, events: ["workflow_run"], active: false });
    expect(row!.secret_encrypted).not.toContain(SECRET);
    expect(new SecretBox(SIGNING_KEY).open(row!.secret_encrypted!)).toBe(SECRET);

    const listed = await octokit.rest.repos.listWebhooks({ owner, repo });
    expectGitHubShape(OP.list, 200, listed.data);
    expect(listed.data.map((h) => h.id)).toEqual([id]);
    const got = await octokit.rest.repos.getWebhook({ owner, repo, hook_id: id });
    expectGitHubShape(OP.get, 200, got.data);
    expect(JSON.stringify([created.data, listed.data, got.data])).not.toContain(SECRET);

    const other = "http://127.0.0.1:10/gh-other";
    const updated = await octokit.rest.repos.updateWebhook({ owner, repo, hook_id: id, config: { url: other }, add_events: ["workflow_job"], active: true });
    expectGitHubShape(OP.update, 200, updated.data);
    expect(updated.data).toMatchObject({ events: ["workflow_job", "workflow_run"], active: true, config: { url: other, secret: "********" } });
    expect(await hookRow(s, id)).toMatchObject({ url: other, events: ["workflow_job", "workflow_run"], active: true });
    const cleared = await octokit.rest.repos.updateWebhook({ owner, repo, hook_id: id, config: { secret: "" }, remove_events: ["workflow_run"], active: false });
    expect(cleared.data.config).not.toHaveProperty("secret");
    expect(await hookRow(s, id)).toMatchObject({ secret_encrypted: null, events: ["workflow_job"], active: false });
    await expect(octokit.rest.repos.updateWebhook({ owner, repo, hook_id: id, remove_events: ["workflow_job"] })).rejects.toMatchObject({ status: 422 });

    const deleted = await octokit.rest.repos.deleteWebhook({ owner, repo, hook_id: id });
    expectGitHubShape(OP.del, 204, deleted.data);
    expect([deleted.status, await hookRow(s, id)]).toEqual([204, undefined]);
    const gone = await octokit.rest.repos.getWebhook({ owner, repo, hook_id: id }).catch((e) => e);
    expect([gone.status, gone.response.data.message, githubErrorSchemaErrors(gone.response.data)]).toEqual([404, "hook not found", []]);
  });

  it("lists deliveries newest first across pages, shows one, and redelivers it", async () => {
    const { data: hook } = await octokit.rest.repos.createWebhook({ owner, repo, config: { url: HOOK_URL }, active: false });
    const { data: otherHook } = await octokit.rest.repos.createWebhook({ owner, repo, config: { url: HOOK_URL }, active: false });
    const fresh = await octokit.rest.repos.listWebhookDeliveries({ owner, repo, hook_id: hook.id });
    expect(fresh.data).toEqual([]);
    const eventId = await insertEvent(s);
    const guids = ["7a000000-0000-4000-8000-000000000001", "7a000000-0000-4000-8000-000000000002", "7a000000-0000-4000-8000-000000000003"];
    const ids = [
      await insertDelivery(s, hook.id, guids[0]!, eventId, "delivered"), await insertDelivery(s, hook.id, guids[1]!, eventId, "delivered"),
      await insertDelivery(s, hook.id, guids[2]!, eventId, "queued"),
    ];
    const foreign = await insertDelivery(s, otherHook.id, "7a000000-0000-4000-8000-0000000000ff", eventId, "delivered");

    const page = await octokit.rest.repos.listWebhookDeliveries({ owner, repo, hook_id: hook.id, per_page: 2 });
    expectGitHubShape(OP.deliveries, 200, page.data);
    expect(page.data.map((d) => d.id)).toEqual([ids[2], ids[1]]);
    // Not attempted yet: GitHub's required fields from defaults (when it was created, 0 s, code 0).
    expect(page.data[0]).toMatchObject({ guid: guids[2], status_code: 0, duration: 0, redelivery: false, repository_id: s.world.repos.pub.id, installation_id: null });
    expect(page.data[1]).toMatchObject({ status_code: 202, duration: 0.03, event: "workflow_job", action: "queued" });
    expect(page.headers.link).toMatch(new RegExp(`cursor=${ids[1]}`));
    // Octokit follows the Link header's cursor to the end.
    const all = await octokit.paginate(octokit.rest.repos.listWebhookDeliveries, { owner, repo, hook_id: hook.id, per_page: 1 });
    expect(all.map((d) => d.id)).toEqual([...ids].reverse());

    const one = await octokit.rest.repos.getWebhookDelivery({ owner, repo, hook_id: hook.id, delivery_id: ids[0]! });
    expectGitHubShape(OP.delivery, 200, one.data);
    expect(one.data).toMatchObject({
      id: ids[0], guid: guids[0], url: `${hook.url}/deliveries/${ids[0]}`,
      request: { headers: { "X-GitHub-Event": "workflow_job" }, payload: { action: "queued", marker: "gh-7" } }, response: { headers: { server: "receiver" }, payload: "ok" },
    });
    await expect(octokit.rest.repos.getWebhookDelivery({ owner, repo, hook_id: hook.id, delivery_id: foreign })).rejects.toMatchObject({ status: 404 });

    const again = await octokit.rest.repos.redeliverWebhookDelivery({ owner, repo, hook_id: hook.id, delivery_id: ids[0]! });
    expect(again.status).toBe(202);
    expectGitHubShape(OP.redeliver, 202, again.data);
    const { rows } = await s.db.pool.query(`SELECT hook_id::text, redelivery, state::text FROM hook_deliveries WHERE guid = $1 ORDER BY id`, [guids[0]]);
    expect(rows).toEqual([{ hook_id: String(hook.id), redelivery: false, state: "delivered" }, { hook_id: String(hook.id), redelivery: true, state: "queued" }]);
    const before = await hookState(s);
    await expect(octokit.rest.repos.redeliverWebhookDelivery({ owner, repo, hook_id: hook.id, delivery_id: foreign })).rejects.toMatchObject({ status: 404 });
    expect(await hookState(s)).toBe(before);
  });

  it("refuses with 422 what it cannot honour, and stores nothing", async () => {
    const before = await hookState(s);
    const post = (body: unknown) => call(s.stack.url, "POST", "/api/v3/repos/alice/demo/hooks", { token: t.alice, body });
    const cases: [unknown, RegExp][] = [
      [{ config: { url: HOOK_URL, insecure_ssl: "1" } }, /insecure_ssl: only "0" is supported/],
      [{ config: { url: HOOK_URL, insecure_ssl: 1 } }, /insecure_ssl/],
      [{ config: { url: HOOK_URL, content_type: "form" } }, /content_type: only json/],
      [{ config: { url: HOOK_URL }, events: ["push"] }, /events/],
      [{ config: { url: HOOK_URL }, events: [] }, /events/],
      [{ name: "email", config: { url: HOOK_URL } }, /name/],
      [{ config: { url: HOOK_URL }, colour: "red" }, /colour/],
      [{ config: {} }, /config\.url/],
      [{ config: { url: "ftp://127.0.0.1/x" } }, /url must use http or https/],
    ];
    for (const [body, message] of cases) {
      const r = await post(body);
      expect([r.status, r.body.message, r.body.status], JSON.stringify(body)).toEqual([422, expect.stringMatching(message), "422"]);
      expect(githubErrorSchemaErrors(r.body)).toEqual([]);
    }
    // insecure_ssl 0 as a number is GitHub's other spelling of verified TLS.
    const ok = await post({ config: { url: HOOK_URL, insecure_ssl: 0 }, active: false });
    expect(ok.status, JSON.stringify(ok.body)).toBe(201);
    await octokit.rest.repos.deleteWebhook({ owner, repo, hook_id: ok.body.id });
    expect(await hookState(s)).toBe(before);
  });

  it("answers every operation by the native rules: 404 hidden, 403 not admin or no scope, 401 no token", async () => {
    const { data: hook } = await octokit.rest.repos.createWebhook({ owner, repo, config: { url: HOOK_URL }, active: false });
    const delivery = await insertDelivery(s, hook.id, "7a000000-0000-4000-8000-0000000000aa", await insertEvent(s), "delivered");
    const noScope = await hookToken(s, "alice", ["repo:write"]);
    const fill = (path: string, o: string, r: string) =>
      `/api/v3${path.replace("{owner}", o).replace("{repo}", r).replace("{hook_id}", String(hook.id)).replace("{delivery_id}", String(delivery))}`;
    const body = { config: { url: HOOK_URL }, active: false };
    const before = await hookState(s);
    for (const op of Object.values(GITHUB_HOOK_OPERATIONS)) {
      const label = `${op.method} ${op.path}`;
      const send = (o: string, r: string, token?: string) => call(s.stack.url, op.method.toUpperCase(), fill(op.path, o, r), { token, body: op.method === "get" || op.method === "delete" ? undefined : body });
      const hidden = await send("alice", "secret", t.dave);
      expect([hidden.status, hidden.body?.status], label).toEqual([404, "404"]);
      expect((await send("alice", "demo", t.dave)).body, label).toMatchObject({ message: "managing webhooks needs the admin role on the repository", status: "403" });
      expect((await send("alice", "demo", t.bob)).status, label).toBe(403);
      expect((await send("alice", "demo", noScope)).body, label).toMatchObject({ message: "token lacks required scope: admin:repo_hook", status: "403" });
      expect((await send("alice", "demo")).status, label).toBe(401);
    }
    expect(await hookState(s)).toBe(before);
    // Where bob is an admin collaborator, the same token may.
    const bob = kit(t.bob);
    const made = await bob.rest.repos.createWebhook({ owner: "alice", repo: "old", config: { url: HOOK_URL }, active: false });
    expect((await bob.rest.repos.listWebhooks({ owner: "alice", repo: "old" })).data.map((h) => h.id)).toEqual([made.data.id]);
    expect((await bob.rest.repos.deleteWebhook({ owner: "alice", repo: "old", hook_id: made.data.id })).status).toBe(204);
    await expect(bob.rest.repos.getWebhook({ owner, repo, hook_id: hook.id })).rejects.toMatchObject({ status: 403 });
    // A hook id of another repository is not found.
    await expect(octokit.rest.repos.getWebhook({ owner: "alice", repo: "other", hook_id: hook.id })).rejects.toMatchObject({ status: 404 });
  });
});

describe("GitHub's webhook API with private URLs refused", () => {
  const s = worldSuite("github-hooks-strict", { allowPrivateHooks: false });
  it("refuses a private URL on create and on update with the native check's 422", async () => {
    const octokit = new Octokit({ auth: await hookToken(s, "alice"), baseUrl: `${s.stack.url}/api/v3`, log: quiet });
    for (const [url, reason] of [["http://127.0.0.1/x", /loopback address/], ["http://10.0.0.1/x", /private address/], ["http://localhost/x", /resolves to a loopback address/]] as const) {
      const e = await octokit.rest.repos.createWebhook({ owner, repo, config: { url }, active: false }).catch((x) => x);
      expect([e.status, e.response?.data?.message], url).toEqual([422, expect.stringMatching(reason)]);
    }
    expect((await s.db.pool.query(`SELECT count(*)::int AS n FROM repo_hooks`)).rows[0].n).toBe(0);
    // An inactive hook stored as an earlier policy allowed (loopback): nothing is sent.
    const { rows } = await s.db.pool.query<{ id: string }>(
      `INSERT INTO repo_hooks (repo_id, url, events, active) VALUES ($1, 'http://127.0.0.1:9/hook', '{workflow_run}', false) RETURNING id::text`,
      [s.world.repos.pub.id],
    );
    const hookId = Number(rows[0]!.id);
    await expect(octokit.rest.repos.updateWebhook({ owner, repo, hook_id: hookId, config: { url: "http://[::1]/x" } })).rejects.toMatchObject({ status: 422 });
    expect((await hookRow(s, hookId))?.url).toBe("http://127.0.0.1:9/hook");
  });
});
