import { createHmac } from "node:crypto";
import { describe, expect, it } from "vitest";
import { startChaosReceiver } from "../chaos/receiver.ts";
import { reconcileDeliveries, type DeliveryRow, type EventRow } from "../chaos/webhooks.ts";

// The webhook-receiver-down scenario's judge on plain data (what counts as lost, duplicated,
// a retry, out of order), and its receiver going down and coming back on the same port.

const ev = (id: number, expected = true): EventRow => ({ id: BigInt(id), expected });
const del = (guid: string, eventId: number, runId: number, attempts = 1, state = "delivered"): DeliveryRow => ({ guid, eventId: BigInt(eventId), runId: BigInt(runId), state, attempts });
const got = (guid: string, answered = true, signed = true) => ({ guid, event: "workflow_job", signed, answered });

describe("reconcileDeliveries", () => {
  const deliveries = [del("a", 1, 10), del("b", 2, 10, 3), del("c", 3, 20)];
  const events = [ev(1), ev(2), ev(3)];

  it("counts nothing wrong when each event was answered once, a run's in order", () => {
    const t = reconcileDeliveries(events, deliveries, [got("a"), got("c"), got("b")]);
    expect(t).toMatchObject({ events: 3, received: 3, lost: 0, duplicated: 0, outOfOrder: 0, retried: 1, maxAttempts: 3, receiverRetries: 0, failed: 0, unknown: 0, badSignature: 0 });
  });

  it("takes a guid seen again after an unanswered request as a retry, after a 200 as a duplicate", () => {
    expect(reconcileDeliveries(events, deliveries, [got("a", false), got("a"), got("b"), got("c")])).toMatchObject({ receiverRetries: 1, duplicated: 0, lost: 0 });
    expect(reconcileDeliveries(events, deliveries, [got("a"), got("a"), got("b"), got("c")])).toMatchObject({ receiverRetries: 0, duplicated: 1, lost: 0 });
  });

  it("counts an event answered under two guids as duplicated", () => {
    const twice = [...deliveries, del("a2", 1, 10)];
    expect(reconcileDeliveries(events, twice, [got("a"), got("a2"), got("b"), got("c")]).duplicated).toBe(1);
  });

  it("counts a run's later event received before its earlier one, not across runs", () => {
    expect(reconcileDeliveries(events, deliveries, [got("b"), got("a"), got("c")]).outOfOrder).toBe(1);
    expect(reconcileDeliveries(events, deliveries, [got("c"), got("a"), got("b")]).outOfOrder).toBe(0);
  });

  it("counts an expected event never answered as lost, one before the hook not; failed, unknown and unsigned requests", () => {
    const t = reconcileDeliveries([ev(0, false), ...events], [...deliveries.slice(0, 2), del("c", 3, 20, 12, "failed")], [got("a", true, false), got("b"), got("c", false), got("zzz")]);
    expect(t).toMatchObject({ events: 3, received: 2, lost: 1, failed: 1, unknown: 1, badSignature: 1 });
  });
});

describe("the chaos receiver", () => {
  it("records signed requests, refuses connections while down, and answers on the same URL again", async () => {
    const secret = "s3cret";
    const r = await startChaosReceiver(secret);
    const post = (guid: string, sign: string) => fetch(r.url, {
      method: "POST", body: "{}", headers: { "x-github-delivery": guid, "x-github-event": "workflow_run", "x-hub-signature-256": sign },
    });
    try {
      const good = `sha256=${createHmac("sha256", secret).update("{}").digest("hex")}`;
      expect((await post("g1", good)).status).toBe(200);
      await r.down();
      await expect(post("g2", good)).rejects.toThrow();
      await r.reopen();
      expect((await post("g3", "sha256=00")).status).toBe(200);
      expect(r.received).toEqual([
        { guid: "g1", event: "workflow_run", signed: true, answered: true },
        { guid: "g3", event: "workflow_run", signed: false, answered: true },
      ]);
    } finally {
      await r.close();
    }
  });
});
