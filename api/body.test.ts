import { describe, expect, it } from "vitest";
import { bodyVerdict, isJson } from "./body.ts";

describe("isJson", () => {
  const cases: [string | undefined, boolean][] = [
    ["application/json", true],
    ["application/json; charset=utf-8", true],
    ["application/json;charset=UTF-8", true],
    ["APPLICATION/JSON", true],
    [" application/json ", true],
    ["application/json; charset=latin1", true], // body-parser answers 415 unsupported charset
    [undefined, false],
    ["", false],
    ["text/plain", false],
    ["application/x-www-form-urlencoded", false],
    ["multipart/form-data; boundary=x", false],
    ["application/merge-patch+json", false],
    ["application/jsonx", false],
    ["application/json, text/plain", false],
    ["*/*", false],
    ["json", false],
  ];
  it.each(cases)("%j → %s", (ct, want) => {
    expect(isJson(ct)).toBe(want);
  });
});

describe("bodyVerdict", () => {
  const form = { "content-type": "application/x-www-form-urlencoded", "content-length": "27" };
  const cases: [string, string, Record<string, string>, "accept" | "refuse"][] = [
    ["form body on a POST", "POST", form, "refuse"],
    ["form body on PUT", "PUT", form, "refuse"],
    ["form body on PATCH", "PATCH", form, "refuse"],
    ["form body on DELETE", "DELETE", form, "refuse"],
    ["body without a content type", "POST", { "content-length": "2" }, "refuse"],
    ["chunked body without a content type", "POST", { "transfer-encoding": "chunked" }, "refuse"],
    ["chunked text", "POST", { "transfer-encoding": "chunked", "content-type": "text/plain" }, "refuse"],
    ["JSON body", "POST", { "content-type": "application/json", "content-length": "2" }, "accept"],
    ["chunked JSON", "POST", { "content-type": "application/json", "transfer-encoding": "chunked" }, "accept"],
    ["bare POST", "POST", {}, "accept"],
    ["bare POST with a stray content type", "POST", { "content-type": "text/plain", "content-length": "0" }, "accept"],
    ["GET with a form body (reads ignore bodies)", "GET", form, "accept"],
    ["HEAD", "HEAD", form, "accept"],
    ["OPTIONS", "OPTIONS", form, "accept"],
  ];
  it.each(cases)("%s", (_name, method, headers, want) => {
    const v = bodyVerdict(method, headers);
    expect(v.kind).toBe(want);
    if (v.kind === "refuse") expect(v).toEqual({ kind: "refuse", status: 415, message: "Content-Type must be application/json" });
  });
});
