import type { Request } from "express";
import { num } from "../../domain/ids.ts";
import type { DeliveryDetail, DeliverySummary, Hook } from "../../domain/data/hooks.ts";

// The native shapes of hooks and deliveries (docs/events.md, "Webhooks"). A secret is never
// shown: `has_secret` says whether one is set.

const iso = (d: Date | null) => (d === null ? null : d.toISOString());

export function hookView(h: Hook, req: Request, origin: string) {
  const url = `${origin}${req.baseUrl}/api/v1/repos/${req.params.owner}/${req.params.repo}/hooks/${h.id}`;
  return {
    id: num(h.id), url: h.url, events: h.events, active: h.active, has_secret: h.hasSecret, content_type: "json",
    created_at: h.createdAt.toISOString(), updated_at: h.updatedAt.toISOString(),
    last_response: h.last === null ? null : { code: h.last.statusCode, status: h.last.state, message: h.last.error },
    deliveries_url: `${url}/deliveries`,
  };
}

export function deliveryView(d: DeliverySummary) {
  return {
    id: num(d.id), guid: d.guid, event: d.event, action: d.action, state: d.state, redelivery: d.redelivery, attempts: d.attempts,
    status_code: d.statusCode, status: d.error ?? (d.statusCode === null ? d.state : `HTTP ${d.statusCode}`),
    duration: d.durationMs === null ? null : d.durationMs / 1000, created_at: d.createdAt.toISOString(), delivered_at: iso(d.deliveredAt),
    run_id: d.runId === null ? null : num(d.runId),
  };
}

export function deliveryDetailView(d: DeliveryDetail) {
  return {
    ...deliveryView(d),
    request: { headers: d.requestHeaders, payload: d.payload === null ? null : JSON.parse(d.payload) },
    response: { headers: d.responseHeaders, payload: d.responseBody },
  };
}
