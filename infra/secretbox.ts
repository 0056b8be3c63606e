import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from "node:crypto";

// Hook secrets must be read back to sign deliveries, so they cannot be hashed like tokens;
// they are kept encrypted (AES-256-GCM) under a key derived from INTENT_SIGNING_KEY, which
// the API (that stores them) and the workers (that sign with them) already share. A
// database dump alone then reveals no secret. During a key rotation the previous key
// still opens what it sealed.

const VERSION = "v1";

function keyOf(signingKey: string): Buffer {
  return Buffer.from(hkdfSync("sha256", signingKey, "actions-lifecycle", "hook-secrets", 32));
}

export class SecretBox {
  private readonly keys: Buffer[];
  constructor(signingKey: string, previous?: string | null) {
    this.keys = [keyOf(signingKey), ...(previous ? [keyOf(previous)] : [])];
  }

  seal(plain: string): string {
    const iv = randomBytes(12);
    const c = createCipheriv("aes-256-gcm", this.keys[0]!, iv);
    const body = Buffer.concat([c.update(plain, "utf8"), c.final()]);
    return `${VERSION}:${Buffer.concat([iv, c.getAuthTag(), body]).toString("base64")}`;
  }

  /** The secret, or null when no key of ours sealed it (or it was altered). */
  open(sealed: string): string | null {
    if (!sealed.startsWith(`${VERSION}:`)) return null;
    const raw = Buffer.from(sealed.slice(VERSION.length + 1), "base64");
    if (raw.length < 28) return null;
    for (const key of this.keys) {
      try {
        const d = createDecipheriv("aes-256-gcm", key, raw.subarray(0, 12));
        d.setAuthTag(raw.subarray(12, 28));
        return Buffer.concat([d.update(raw.subarray(28)), d.final()]).toString("utf8");
      } catch {
        // Not this key's: try the previous one.
      }
    }
    return null;
  }
}
