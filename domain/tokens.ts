import { createHash, randomBytes } from "node:crypto";

const BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
export const PAT_PREFIX = "shithub_pat_";
const PAT = /^shithub_pat_[0-9A-Za-z]{32}$/;

export function sha256(s: string): string {
  return createHash("sha256").update(s).digest("hex");
}

/** Unbiased base62: bytes >= 248 are dropped (248 = 4 * 62). */
export function randomBase62(len: number): string {
  let out = "";
  while (out.length < len) {
    for (const b of randomBytes(len * 2)) {
      if (b < 248 && out.length < len) out += BASE62[b % 62];
    }
  }
  return out;
}

export function newPat(): { token: string; hash: string; prefix: string } {
  const token = PAT_PREFIX + randomBase62(32);
  return { token, hash: sha256(token), prefix: token.slice(0, PAT_PREFIX.length + 4) };
}

export function isWellFormedPat(s: string): boolean {
  return PAT.test(s);
}

export type Credentials = { kind: "none" } | { kind: "malformed" } | { kind: "token"; token: string };

/**
 * Reads a credential from an Authorization header: `Bearer <t>`, `token <t>`, or Basic
 * auth with the token as password (any user name, as git clients send it).
 */
export function credentialsFrom(header: string | undefined): Credentials {
  if (header === undefined || header.trim() === "") return { kind: "none" };
  const m = /^\s*(\S+)\s+(\S+)\s*$/.exec(header);
  if (!m) return { kind: "malformed" };
  const scheme = m[1]!.toLowerCase();
  const value = m[2]!;
  if (scheme === "bearer" || scheme === "token") return { kind: "token", token: value };
  if (scheme === "basic") {
    const decoded = Buffer.from(value, "base64").toString("utf8");
    const colon = decoded.indexOf(":");
    if (colon < 0) return { kind: "malformed" };
    return { kind: "token", token: decoded.slice(colon + 1) };
  }
  return { kind: "malformed" };
}

/** Runner registration and per-job tokens: opaque, only their hash is stored. */
export function newOpaqueToken(prefix: string): { token: string; hash: string } {
  const token = prefix + randomBase62(40);
  return { token, hash: sha256(token) };
}
