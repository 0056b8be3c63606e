import { beforeAll, describe, expect, it } from "vitest";
import * as ops from "../admin/ops.ts";
import { SecretBox } from "../infra/secretbox.ts";
import { SIGNING_KEY } from "./setup/stack.ts";
import { worldSuite, type WorldSuite } from "./setup/suite.ts";
import { call } from "./setup/world.ts";

// The native webhook management API (api/routes/hooks.ts) on an in-process stack. Nothing
// is ever delivered here: there is no dispatcher or delivery worker in the stack, no run is
// created, and every hook URL is loopback (or, on the strict stack, the hook is inactive).

const SECRET = "hooks-api-secret-7f3a91";
const HOOK_URL = "http://127.0.0.1:9/hook";

/** A request whose answer is also kept as raw text, to assert what never appears in it. */
async function send(s: WorldSuite, method: string, path: string, o: { token?: string; body?: unknown; raw?: string; type?: string } = {}) {
  const headers: Record<string, string> = {};
  if (o.token) headers.authorization = `Bearer ${o.token}`;
  const body = o.raw ?? (o.body === undefined ? undefined : JSON.stringify(o.body));
  if (body !== undefined) headers["content-type"] = o.type ?? "application/json";
  const r = await fetch(s.stack.url + path, { method, headers, body });
  const text = await r.text();
  return { status: r.status, text, json: text ? (JSON.parse(text) as any) : null, headers: r.headers };
}

const hookToken = async (s: WorldSuite, user: string) => (await ops.createToken(s.db.prisma, { user, scopes: ["repo:write", "admin:repo_hook"] })).token;
const hookCount = async (s: WorldSuite, repoId?: number) =>
  Number((await s.db.pool.query<{ n: string }>(`SELECT count(*)::text AS n FROM repo_hooks WHERE $1::bigint IS NULL OR repo_id = $1::bigint`, [repoId ?? null])).rows[0]!.n);
const hookRow = async (s: WorldSuite, id: number) =>
  (await s.db.pool.query<{ url: string; secret_encrypted: string | null; events: string[]; active: boolean }>(`SELECT url, secret_encrypted, events, active FROM repo_hooks WHERE id = $1`, [id])).rows[0];

describe("hooks API, private URLs allowed (loopback only)", () => {
  const s = worldSuite("hooks-api", { allowPrivateHooks: true });
  const H = "/api/v1/repos/alice/demo/hooks";
  const t = {} as Record<"alice" | "bob" | "dave" | "carol", string>;
  const create = (body: Record<string, unknown>, path = H, token = t.alice) => send(s, "POST", path, { token, body: { url: HOOK_URL, active: false, ...body } });

  beforeAll(async () => {
    for (const u of ["alice", "bob", "dave", "carol"] as const) t[u] = await hookToken(s, u);
  });

  it("creates a hook with defaults, never shows its secret, and stores it sealed", async () => {
    const r = await send(s, "POST", H, { token: t.alice, body: { url: HOOK_URL, secret: SECRET } });
    expect(r.status, r.text).toBe(201);
    expect(r.json).toMatchObject({ url: HOOK_URL, events: ["workflow_job", "workflow_run"], active: true, has_secret: true, content_type: "json" });
    expect(r.json.id).toEqual(expect.any(Number));
    expect(new Date(r.json.created_at).toISOString()).toBe(r.json.created_at);
    expect(r.text).not.toContain(SECRET);
    const row = await hookRow(s, r.json.id);
    expect(row?.secret_encrypted).toEqual(expect.any(String));
    expect(row!.secret_encrypted).not.toContain(SECRET);
    // Sealed, not lost: the delivery side can open it again.
    expect(new SecretBox(SIGNING_KEY).open(row!.secret_encrypted!)).toBe(SECRET);
    for (const path of [H, `${H}/${r.json.id}`]) {
      const read = await send(s, "GET", path, { token: t.alice });
      expect(read.status).toBe(200);
      expect(read.text).not.toContain(SECRET);
      expect(read.text).not.toContain(row!.secret_encrypted!);
    }
    expect((await send(s, "GET", H, { token: t.alice })).json.map((h: { id: number }) => h.id)).toContain(r.json.id);
    expect((await send(s, "DELETE", `${H}/${r.json.id}`, { token: t.alice })).status).toBe(204);
  });

  it("PATCHes events, active, the secret (null removes it) and the url (checked again)", async () => {
    const { json: h } = await create({ secret: SECRET });
    const patch = (body: unknown) => send(s, "PATCH", `${H}/${h.id}`, { token: t.alice, body });
    expect((await patch({ events: ["workflow_run"], active: true })).json).toMatchObject({ events: ["workflow_run"], active: true, has_secret: true });
    expect(await hookRow(s, h.id)).toMatchObject({ events: ["workflow_run"], active: true });
    const other = "http://127.0.0.1:10/other";
    expect((await patch({ url: other, active: false })).json).toMatchObject({ url: other, active: false });
    const refused = await patch({ url: "ftp://127.0.0.1/x" });
    expect([refused.status, refused.json.error]).toEqual([422, "url must use http or https"]);
    expect((await hookRow(s, h.id))?.url).toBe(other);
    const removed = await patch({ secret: null });
    expect([removed.status, removed.json.has_secret]).toEqual([200, false]);
    expect((await hookRow(s, h.id))?.secret_encrypted).toBeNull();
    const again = await patch({ secret: "another-secret-1" });
    expect([again.json.has_secret, again.text.includes("another-secret-1")]).toEqual([true, false]);
    expect(new SecretBox(SIGNING_KEY).open((await hookRow(s, h.id))!.secret_encrypted!)).toBe("another-secret-1");
  });

  it("DELETE is 204, then the hook is 404", async () => {
    const { json: h } = await create({});
    expect((await send(s, "DELETE", `${H}/${h.id}`, { token: t.alice })).status).toBe(204);
    expect(await hookRow(s, h.id)).toBeUndefined();
    expect((await send(s, "GET", `${H}/${h.id}`, { token: t.alice })).status).toBe(404);
    expect((await send(s, "DELETE", `${H}/${h.id}`, { token: t.alice })).status).toBe(404);
  });

  it("answers 404 for a hook of another repository, and leaves it alone", async () => {
    const { json: h } = await create({}, "/api/v1/repos/alice/other/hooks");
    expect((await send(s, "GET", `${H}/${h.id}`, { token: t.alice })).status).toBe(404);
    expect((await send(s, "PATCH", `${H}/${h.id}`, { token: t.alice, body: { active: true } })).status).toBe(404);
    expect((await send(s, "DELETE", `${H}/${h.id}`, { token: t.alice })).status).toBe(404);
    expect((await send(s, "GET", `${H}/${h.id}/deliveries`, { token: t.alice })).status).toBe(404);
    expect(await hookRow(s, h.id)).toMatchObject({ active: false, url: HOOK_URL });
    expect((await send(s, "GET", `/api/v1/repos/alice/other/hooks/${h.id}`, { token: t.alice })).status).toBe(200);
  });

  it("refuses a repository's 21st hook and stores nothing", async () => {
    const repo = await ops.createRepo(s.db.prisma, { owner: "alice", name: "many-hooks" });
    const path = "/api/v1/repos/alice/many-hooks/hooks";
    for (let i = 0; i < 20; i++) expect((await create({ url: `http://127.0.0.1:9/h${i}` }, path)).status).toBe(201);
    const r = await create({ url: "http://127.0.0.1:9/h20" }, path);
    expect([r.status, r.json.error]).toEqual([422, "a repository has at most 20 hooks"]);
    expect(await hookCount(s, repo.id)).toBe(20);
  });

  it("refuses bad bodies with 400 (415 for a non-JSON type) and stores nothing", async () => {
    const before = await hookCount(s);
    const cases: [unknown, RegExp][] = [
      [{ url: HOOK_URL, colour: "red" }, /unknown field: colour/],
      [{ url: HOOK_URL, events: ["push"] }, /events/],
      [{ url: HOOK_URL, events: ["workflow_run", "workflow_run"] }, /must not repeat an event/],
      [{ url: HOOK_URL, events: [] }, /events/],
      [{ url: HOOK_URL, active: "yes" }, /active/],
      [{}, /url/],
    ];
    for (const [body, message] of cases) {
      const r = await send(s, "POST", H, { token: t.alice, body });
      expect([r.status, r.json.error], JSON.stringify(body)).toEqual([400, expect.stringMatching(message)]);
    }
    const text = await send(s, "POST", H, { token: t.alice, raw: JSON.stringify({ url: HOOK_URL }), type: "text/plain" });
    expect(text.status).toBe(415);
    expect(await hookCount(s)).toBe(before);
  });

  it("needs the admin role, the scope and a token", async () => {
    const before = await hookCount(s);
    const bobDemo = await create({}, H, t.bob);
    expect([bobDemo.status, bobDemo.json.error]).toEqual([403, "managing webhooks needs the admin role on the repository"]);
    expect((await send(s, "GET", H, { token: t.bob })).status).toBe(403);
    expect((await create({}, H, t.carol)).status).toBe(403);
    expect((await create({}, "/api/v1/repos/alice/secret/hooks", t.dave)).status).toBe(404);
    expect((await send(s, "GET", "/api/v1/repos/alice/secret/hooks", { token: t.dave })).status).toBe(404);
    expect((await create({}, H, t.dave)).status).toBe(403);
    const noScope = await create({}, H, s.world.tokens.alice);
    expect([noScope.status, noScope.json.error]).toEqual([403, "token lacks required scope: admin:repo_hook"]);
    const anonymous = await send(s, "POST", H, { body: { url: HOOK_URL } });
    expect(anonymous.status).toBe(401);
    expect(await hookCount(s)).toBe(before);
    // Where bob is an admin collaborator, the same token may.
    const old = "/api/v1/repos/alice/old/hooks";
    const made = await create({}, old, t.bob);
    expect(made.status, made.text).toBe(201);
    expect((await send(s, "GET", old, { token: t.bob })).json).toEqual([expect.objectContaining({ id: made.json.id })]);
    expect((await send(s, "DELETE", `${old}/${made.json.id}`, { token: t.bob })).status).toBe(204);
  });

  describe("deliveries", () => {
    let hookId: number;
    let otherHookId: number;
    let ids: number[];
    let otherDelivery: number;
    const GUIDS = ["6f1c0f7a-0000-4000-8000-000000000001", "6f1c0f7a-0000-4000-8000-000000000002", "6f1c0f7a-0000-4000-8000-000000000003"];

    /** A delivered (or failed) row, as the delivery worker would leave it. */
    async function insertDelivery(hook: number, guid: string, eventId: number, code: number, state = "delivered"): Promise<number> {
      const { rows } = await s.db.pool.query<{ id: string }>(
        `INSERT INTO hook_deliveries (hook_id, guid, event_id, event, action, state, attempts, request_headers, status_code, response_headers, response_body, duration_ms, delivered_at)
         VALUES ($1, $2::uuid, $3, 'workflow_run', 'completed', $4::delivery_state, 1, '{"X-GitHub-Event":"workflow_run"}'::jsonb, $5, '{"content-type":"text/plain"}'::jsonb, 'thanks', 12, now())
         RETURNING id::text`,
        [hook, guid, eventId, state, code],
      );
      return Number(rows[0]!.id);
    }

    beforeAll(async () => {
      hookId = (await create({})).json.id;
      otherHookId = (await create({ url: "http://127.0.0.1:9/second" })).json.id;
      expect((await send(s, "GET", `${H}/${hookId}/deliveries`, { token: t.alice })).json).toEqual([]);
      const { rows } = await s.db.pool.query<{ id: string }>(
        `INSERT INTO events (id, type, action, repo_id, snapshot, payload, dispatched_at)
         VALUES (nextval('events_dispatch_seq'), 'workflow_run', 'completed', $1, '{}'::jsonb, '{"action":"completed","marker":"m-41"}'::jsonb, now()) RETURNING id::text`,
        [s.world.repos.pub.id],
      );
      const eventId = Number(rows[0]!.id);
      ids = [];
      for (const [i, g] of GUIDS.entries()) ids.push(await insertDelivery(hookId, g, eventId, i === 1 ? 500 : 200, i === 1 ? "failed" : "delivered"));
      otherDelivery = await insertDelivery(otherHookId, "6f1c0f7a-0000-4000-8000-0000000000ff", eventId, 200);
    });

    it("lists newest first, a page at a time, with a Link to the next", async () => {
      const D = `${H}/${hookId}/deliveries`;
      const all = await send(s, "GET", D, { token: t.alice });
      expect(all.json.map((d: { id: number }) => d.id)).toEqual([...ids].reverse());
      expect(all.json.map((d: { guid: string }) => d.guid)).toEqual([...GUIDS].reverse());
      expect(all.headers.get("link")).toBeNull();
      const first = await send(s, "GET", `${D}?per_page=2`, { token: t.alice });
      expect(first.json.map((d: { id: number }) => d.id)).toEqual([ids[2], ids[1]]);
      expect(first.json[1]).toMatchObject({ state: "failed", status_code: 500, redelivery: false, event: "workflow_run" });
      const link = /^<([^>]+)>; rel="next"$/.exec(first.headers.get("link") ?? "");
      expect(link).not.toBeNull();
      const next = new URL(link![1]!);
      expect(next.searchParams.get("cursor")).toBe(String(ids[1]));
      const second = await send(s, "GET", next.pathname + next.search, { token: t.alice });
      expect(second.json.map((d: { id: number }) => d.id)).toEqual([ids[0]]);
      expect(second.headers.get("link")).toBeNull();
      expect((await send(s, "GET", `${D}?per_page=0`, { token: t.alice })).status).toBe(400);
      expect((await send(s, "GET", `${D}?cursor=abc`, { token: t.alice })).status).toBe(400);
    });

    it("shows a delivery in detail, and 404 for another hook's", async () => {
      const r = await send(s, "GET", `${H}/${hookId}/deliveries/${ids[0]}`, { token: t.alice });
      expect(r.status).toBe(200);
      expect(r.json).toMatchObject({
        id: ids[0], guid: GUIDS[0], status_code: 200, duration: 0.012,
        request: { headers: { "X-GitHub-Event": "workflow_run" }, payload: { action: "completed", marker: "m-41" } },
        response: { headers: { "content-type": "text/plain" }, payload: "thanks" },
      });
      expect((await send(s, "GET", `${H}/${hookId}/deliveries/${otherDelivery}`, { token: t.alice })).status).toBe(404);
      expect((await send(s, "GET", `${H}/${otherHookId}/deliveries/${otherDelivery}`, { token: t.alice })).status).toBe(200);
    });

    it("redelivers as a new delivery with the same guid (202), and not another hook's", async () => {
      const r = await send(s, "POST", `${H}/${hookId}/deliveries/${ids[1]}/attempts`, { token: t.alice });
      expect([r.status, r.json.redelivery]).toEqual([202, true]);
      const { rows } = await s.db.pool.query(`SELECT id::text, hook_id::text, guid::text, redelivery, state::text FROM hook_deliveries WHERE guid = $1 ORDER BY id`, [GUIDS[1]]);
      expect(rows).toEqual([
        { id: String(ids[1]), hook_id: String(hookId), guid: GUIDS[1], redelivery: false, state: "failed" },
        { id: String(r.json.id), hook_id: String(hookId), guid: GUIDS[1], redelivery: true, state: "queued" },
      ]);
      expect((await send(s, "GET", `${H}/${hookId}/deliveries?per_page=1`, { token: t.alice })).json[0]).toMatchObject({ id: r.json.id, redelivery: true });
      const count = async () => Number((await s.db.pool.query(`SELECT count(*) AS n FROM hook_deliveries`)).rows[0].n);
      const before = await count();
      expect((await send(s, "POST", `${H}/${hookId}/deliveries/${otherDelivery}/attempts`, { token: t.alice })).status).toBe(404);
      expect((await send(s, "POST", `${H}/${hookId}/deliveries/${ids[0]}/attempts`, { token: t.bob })).status).toBe(403);
      expect(await count()).toBe(before);
    });
  });
});

describe("hooks API, private URLs refused", () => {
  const s = worldSuite("hooks-api-strict", { allowPrivateHooks: false });
  const H = "/api/v1/repos/alice/demo/hooks";
  let token: string;
  beforeAll(async () => {
    token = await hookToken(s, "alice");
  });

  it("refuses loopback, private and link-local URLs with 422 naming why, and stores nothing", async () => {
    const cases: [string, RegExp][] = [
      ["http://127.0.0.1/x", /^url host is a loopback address \(127\.0\.0\.1\)/],
      ["http://10.0.0.1/x", /^url host is a private address \(10\.0\.0\.1\)/],
      ["http://[::1]/x", /^url host is a loopback address \(::1\)/],
      ["http://169.254.169.254/latest", /^url host is a link-local address \(169\.254\.169\.254\)/],
      // /etc/hosts: resolved on this machine, no DNS query leaves it.
      ["http://localhost/x", /^url resolves to a loopback address/],
    ];
    for (const [url, message] of cases) {
      const r = await call(s.stack.url, "POST", H, { token, body: { url, active: false } });
      expect([r.status, r.body.error], url).toEqual([422, expect.stringMatching(message)]);
    }
    expect(await hookCount(s)).toBe(0);
  });

  it("refuses a PATCH to a private url and keeps the one it had", async () => {
    // An inactive hook stored as an earlier policy allowed (loopback): nothing is sent.
    const { rows } = await s.db.pool.query<{ id: string }>(
      `INSERT INTO repo_hooks (repo_id, url, events, active) VALUES ($1, 'http://127.0.0.1:9/hook', '{workflow_run}', false) RETURNING id::text`,
      [s.world.repos.pub.id],
    );
    const id = Number(rows[0]!.id);
    const r = await call(s.stack.url, "PATCH", `${H}/${id}`, { token, body: { url: "http://10.1.2.3/x" } });
    expect([r.status, r.body.error]).toEqual([422, expect.stringMatching(/private address/)]);
    expect((await hookRow(s, id))?.url).toBe("http://127.0.0.1:9/hook");
    // A PATCH that leaves the url alone is taken: it was the address that was refused.
    const ok = await call(s.stack.url, "PATCH", `${H}/${id}`, { token, body: { events: ["workflow_job"] } });
    expect([ok.status, ok.body.url, ok.body.events]).toEqual([200, "http://127.0.0.1:9/hook", ["workflow_job"]]);
  });
});
