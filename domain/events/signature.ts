import { createHmac } from "node:crypto";

/**
 * GitHub's `X-Hub-Signature-256` of a delivery: HMAC-SHA256 of the exact body bytes sent
 * (UTF-8), keyed with the hook's secret, as `sha256=<hex>`.
 */
export function signature256(secret: string, body: string): string {
  return `sha256=${createHmac("sha256", secret).update(body, "utf8").digest("hex")}`;
}
