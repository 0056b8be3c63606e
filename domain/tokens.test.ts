import { describe, expect, it } from "vitest";
import {
  PAT_PREFIX,
  credentialsFrom,
  isWellFormedPat,
  newOpaqueToken,
  newPat,
  randomBase62,
  sha256,
  type Credentials,
} from "./tokens.ts";

const PAT = `shithub_pat_${"aZ09".repeat(8)}`;
const basic = (userPass: string) => `Basic ${Buffer.from(userPass, "utf8").toString("base64")}`;

describe("credentialsFrom", () => {
  const rows: [string, string | undefined, Credentials][] = [
    ["no header", undefined, { kind: "none" }],
    ["empty header", "", { kind: "none" }],
    ["blank header", "   ", { kind: "none" }],
    ["Bearer", `Bearer ${PAT}`, { kind: "token", token: PAT }],
    ["bearer (lower case)", `bearer ${PAT}`, { kind: "token", token: PAT }],
    ["BEARER (upper case)", `BEARER ${PAT}`, { kind: "token", token: PAT }],
    ["token", `token ${PAT}`, { kind: "token", token: PAT }],
    ["Token", `Token ${PAT}`, { kind: "token", token: PAT }],
    ["extra whitespace", `  Bearer \t ${PAT}  `, { kind: "token", token: PAT }],
    ["token value is passed through unchecked", "Bearer not-a-pat", { kind: "token", token: "not-a-pat" }],
    ["Basic with a user name", basic(`octocat:${PAT}`), { kind: "token", token: PAT }],
    ["Basic with an empty user name", basic(`:${PAT}`), { kind: "token", token: PAT }],
    ["Basic: password keeps its colons", basic("x-access-token:a:b"), { kind: "token", token: "a:b" }],
    ["basic (lower case)", basic(`git:${PAT}`).replace("Basic", "basic"), { kind: "token", token: PAT }],
    ["Basic without a colon", basic(PAT), { kind: "malformed" }],
    ["scheme only", "Bearer", { kind: "malformed" }],
    ["token only", PAT, { kind: "malformed" }],
    ["three parts", `Bearer ${PAT} extra`, { kind: "malformed" }],
    ["unknown scheme", `Digest ${PAT}`, { kind: "malformed" }],
  ];
  it.each(rows)("%s", (_name, header, want) => {
    expect(credentialsFrom(header)).toEqual(want);
  });
});

describe("isWellFormedPat", () => {
  const rows: [string, string, boolean][] = [
    ["prefix + 32 base62", PAT, true],
    ["all digits", `${PAT_PREFIX}${"0".repeat(32)}`, true],
    ["31 characters", PAT.slice(0, -1), false],
    ["33 characters", `${PAT}a`, false],
    ["no prefix", "aZ09".repeat(8), false],
    ["wrong prefix", `github_pat_${"aZ09".repeat(8)}`, false],
    ["upper-case prefix", PAT.replace("shithub_pat_", "SHITHUB_PAT_"), false],
    ["underscore in body", `${PAT.slice(0, -1)}_`, false],
    ["dash in body", `${PAT.slice(0, -1)}-`, false],
    ["non-ASCII letter", `${PAT.slice(0, -1)}é`, false],
    ["trailing newline", `${PAT}\n`, false],
    ["leading space", ` ${PAT}`, false],
    ["empty", "", false],
  ];
  it.each(rows)("%s → %s", (_name, s, want) => {
    expect(isWellFormedPat(s)).toBe(want);
  });
});

describe("randomBase62", () => {
  it.each([0, 1, 32, 40, 1000])("length %i", (len) => {
    const s = randomBase62(len);
    expect(s).toHaveLength(len);
    expect(s).toMatch(/^[0-9A-Za-z]*$/);
  });

  it("uses the whole alphabet", () => {
    // 62 × 200 draws: the chance that some character never appears is about 62·e^-200.
    expect(new Set(randomBase62(62 * 200)).size).toBe(62);
  });
});

describe("newPat and newOpaqueToken", () => {
  it("a new PAT is well formed, hashed with SHA-256 and shown by a short prefix", () => {
    const { token, hash, prefix } = newPat();
    expect(isWellFormedPat(token)).toBe(true);
    expect(hash).toBe(sha256(token));
    expect(hash).toMatch(/^[0-9a-f]{64}$/);
    expect(prefix).toBe(token.slice(0, PAT_PREFIX.length + 4));
    expect(prefix.startsWith(PAT_PREFIX)).toBe(true);
  });

  it("tokens differ from call to call", () => {
    const tokens = new Set(Array.from({ length: 50 }, () => newPat().token));
    expect(tokens.size).toBe(50);
  });

  it("opaque tokens carry their prefix and hash", () => {
    const { token, hash } = newOpaqueToken("shithub_rnr_");
    expect(token).toMatch(/^shithub_rnr_[0-9A-Za-z]{40}$/);
    expect(hash).toBe(sha256(token));
  });

  it("sha256 is the standard digest in hex", () => {
    expect(sha256("abc")).toBe("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  });
});
