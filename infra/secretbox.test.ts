import { describe, expect, it } from "vitest";
import { SecretBox } from "./secretbox.ts";

const K1 = "k".repeat(32);
const K2 = "j".repeat(32);

describe("SecretBox", () => {
  it("opens what it sealed, and the text is not the secret", () => {
    const box = new SecretBox(K1);
    const sealed = box.seal("s3cret-value");
    expect(sealed).not.toContain("s3cret");
    expect(box.open(sealed)).toBe("s3cret-value");
    expect(box.seal("s3cret-value")).not.toBe(sealed);
  });

  it("after a rotation the previous key still opens, another key does not", () => {
    const old = new SecretBox(K1).seal("x");
    expect(new SecretBox(K2, K1).open(old)).toBe("x");
    expect(new SecretBox(K2).open(old)).toBeNull();
  });

  it("refuses altered or foreign text", () => {
    const box = new SecretBox(K1);
    const sealed = box.seal("abc");
    const raw = Buffer.from(sealed.slice(3), "base64");
    raw[raw.length - 1] = raw[raw.length - 1]! ^ 1;
    expect(box.open(`v1:${raw.toString("base64")}`)).toBeNull();
    expect(box.open("plain")).toBeNull();
    expect(box.open("v1:AAAA")).toBeNull();
  });
});
