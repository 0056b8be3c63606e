import { describe, expect, it } from "vitest";
import * as ops from "../admin/ops.ts";
import { waitFor } from "./setup/db.ts";
import { systemSuite } from "./setup/system.ts";
import { startReceiver } from "./setup/receiver.ts";
import { call } from "./setup/world.ts";

// A receiver that hangs must not slow other hooks (docs/events.md, "Delivery"): with four
// delivery slots and at most two per hook, a hook whose receiver never answers holds two
// slots for the whole timeout, and another hook's deliveries go out meanwhile.

const ENV = {
  WEBHOOK_ALLOW_PRIVATE: "true", WEBHOOK_CONCURRENCY: "4", WEBHOOK_HOOK_CONCURRENCY: "2", WEBHOOK_TIMEOUT_MS: "6000",
  WEBHOOK_BACKOFF_MS: "100", EVENTS_POLL_MS: "20",
};
const s = systemSuite("hookiso", {}, ENV);

describe("a hanging receiver and another hook", () => {
  it("the other hook hears every event of six runs while the hanging one holds only its two slots", async () => {
    const token = (await ops.createToken(s.db.prisma, { user: "alice", scopes: ["repo:write", "admin:repo_hook"] })).token;
    const hanging = await startReceiver("a-secret", () => "hang");
    const healthy = await startReceiver("b-secret");
    const hooks: number[] = [];
    for (const [url, secret] of [[hanging.url, "a-secret"], [healthy.url, "b-secret"]] as const) {
      const r = await call(s.api, "POST", "/api/v1/repos/alice/demo/hooks", { token, body: { url, secret } });
      expect(r.status).toBe(201);
      hooks.push(r.body.id);
    }
    try {
      const runs = [];
      for (let i = 0; i < 6; i++) {
        runs.push(await ops.createRunFromSource(s.db.prisma, {
          repo: "alice/demo", workflowFile: ".shithub/workflows/parked.yml", headSha: String(i + 1).repeat(40),
          source: "name: Parked\non: push\njobs:\n  only:\n    runs-on: nobody-serves-this\n    steps:\n      - run: echo\n",
        }));
      }
      for (const r of runs) expect((await call(s.api, "POST", `/api/v1/runs/${r.run_id}/cancel`, { token, body: {} })).status).toBe(202);
      const cancelled = Date.now();
      // Each run: requested, queued, completed (the job), completed (the run).
      await waitFor("the healthy hook to hear all 24 events", async () => healthy.accepted().length >= 24, 20_000);
      const took = Date.now() - cancelled;
      expect(healthy.accepted().length).toBe(24);
      // Well inside the hanging receiver's first timeout: nothing waited for it.
      expect(took).toBeLessThan(5_000);
      expect(hanging.received.length).toBeLessThanOrEqual(2);
      expect(hanging.received.length).toBeGreaterThanOrEqual(1);
    } finally {
      for (const id of hooks) await call(s.api, "PATCH", `/api/v1/repos/alice/demo/hooks/${id}`, { token, body: { active: false } });
      await hanging.close();
      await healthy.close();
    }
  }, 60_000);
});
