import { describe, expect, it } from "vitest";
import { sha256 } from "../../domain/tokens.ts";
import { newSecret, readSecret } from "./secrets.ts";

describe("dashboard secrets", () => {
  it("round-trips kind and grant, and hashes the whole string", () => {
    for (const grant of ["admin:read", "admin:write"] as const) {
      const t = newSecret("ticket", grant);
      expect(t.secret).toMatch(/^dbt_[rw]_[0-9A-Za-z]{40}$/);
      expect(t.hash).toBe(sha256(t.secret));
      expect(readSecret("ticket", t.secret)).toEqual({ grant, hash: t.hash });
      expect(readSecret("session", t.secret)).toBeNull();
    }
  });

  it("a grant letter changed by hand hashes to something never issued", () => {
    const t = newSecret("session", "admin:read");
    const forged = t.secret.replace(/^dbs_r_/, "dbs_w_");
    const read = readSecret("session", forged)!;
    expect(read.grant).toBe("admin:write");
    expect(read.hash).not.toBe(t.hash);
  });

  it.each([undefined, "", "dbt_x_" + "a".repeat(40), "dbt_r_" + "a".repeat(39), "dbt_r_" + "a".repeat(41), "dbt_r_" + "a".repeat(39) + "-", " dbt_r_" + "a".repeat(40)])(
    "refuses %j",
    (s) => {
      expect(readSecret("ticket", s)).toBeNull();
    },
  );
});
