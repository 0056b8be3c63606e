import { num } from "../../domain/ids.ts";
import type { DeliveryDetail, DeliverySummary, Hook } from "../../domain/data/hooks.ts";
import type { Links } from "../../domain/github/views.ts";
import { deliveryView } from "../routes/hooks-views.ts";

// GitHub's `hook`, `hook-delivery-item` and `hook-delivery` (REST API 2022-11-28) from the
// native hook data. A delivery's fields come from the native view, so both dialects say
// the same thing about it; only the names and GitHub's non-null requirements differ.

/** What GitHub shows for a set secret: it never shows the secret either. */
export const SECRET_MASK = "********";

export function hookUrl(links: Links, hookId: bigint): string {
  return `${links.repoApi}/hooks/${hookId}`;
}

export function githubHookView(h: Hook, links: Links) {
  const url = hookUrl(links, h.id);
  return {
    type: "Repository", id: num(h.id), name: "web", active: h.active, events: h.events,
    // We always verify TLS and always send JSON: insecure_ssl "0", content_type "json".
    config: { url: h.url, content_type: "json", insecure_ssl: "0", ...(h.hasSecret ? { secret: SECRET_MASK } : {}) },
    updated_at: h.updatedAt.toISOString(), created_at: h.createdAt.toISOString(),
    url, test_url: `${url}/test`, ping_url: `${url}/pings`, deliveries_url: `${url}/deliveries`,
    // GitHub's answer for a hook that has not delivered yet is status "unused".
    last_response: h.last === null
      ? { code: null, status: "unused", message: null }
      : { code: h.last.statusCode, status: h.last.state === "delivered" ? "active" : h.last.state, message: h.last.error },
  };
}

export function githubDeliveryItem(d: DeliverySummary, repoId: bigint) {
  const v = deliveryView(d);
  // GitHub requires delivered_at, duration and status_code: a delivery not yet attempted
  // shows when it was created, 0 s and code 0 (GitHub's code when nothing answered).
  return {
    id: v.id, guid: v.guid, delivered_at: v.delivered_at ?? v.created_at, redelivery: v.redelivery, duration: v.duration ?? 0,
    status: v.status, status_code: v.status_code ?? 0, event: v.event, action: v.action, installation_id: null, repository_id: num(repoId),
  };
}

export function githubDeliveryView(d: DeliveryDetail, repoId: bigint, links: Links, hookId: bigint) {
  return {
    ...githubDeliveryItem(d, repoId),
    url: `${hookUrl(links, hookId)}/deliveries/${d.id}`,
    request: { headers: d.requestHeaders, payload: d.payload === null ? null : (JSON.parse(d.payload) as Record<string, unknown>) },
    response: { headers: d.responseHeaders, payload: d.responseBody },
  };
}
