import { describe, expect, it, vi } from "vitest";
import { checkHookUrl, classify, MAX_URL_LENGTH, parseHookUrl, type DeliveryKind } from "./webhook-http.ts";

// No sockets and no DNS here: names go through an injected resolver (or, once, the
// system resolver on "localhost", which /etc/hosts answers).
// The deliveries against local receivers are in webhook-http.post.test.ts.

describe("classify", () => {
  it.each<[number | null, string | null, DeliveryKind]>([
    [200, null, "delivered"],
    [201, null, "delivered"],
    [202, null, "delivered"],
    [204, null, "delivered"],
    [299, null, "delivered"],
    [200, "timeout after 10000 ms", "retryable"], // headers came, the body did not
    [200, "aborted", "retryable"],
    [null, "connect ECONNREFUSED 127.0.0.1:9", "retryable"],
    [null, "timeout after 10000 ms", "retryable"],
    [null, "getaddrinfo ENOTFOUND hooks.example.com", "retryable"],
    [null, null, "retryable"],
    [500, null, "retryable"],
    [502, null, "retryable"],
    [503, null, "retryable"],
    [599, null, "retryable"],
    [408, null, "retryable"],
    [429, null, "retryable"],
    [503, "timeout after 10000 ms", "retryable"],
    [300, null, "final"],
    [301, null, "final"],
    [302, null, "final"],
    [307, null, "final"],
    [308, null, "final"],
    [400, null, "final"],
    [401, null, "final"],
    [403, null, "final"],
    [404, null, "final"],
    [405, null, "final"],
    [409, null, "final"],
    [410, null, "final"],
    [413, null, "final"],
    [422, null, "final"],
    [499, null, "final"],
    [404, "timeout after 10000 ms", "final"], // the receiver has answered; the body does not change it
    [101, null, "final"],
    [600, null, "final"],
  ])("status %s, error %s: %s", (status, error, kind) => {
    expect(classify(status, error)).toBe(kind);
  });
});

const PUBLIC = "93.184.216.34";
const HINT = "set WEBHOOK_ALLOW_PRIVATE=true to allow it";

/** A resolver from a fixed table, recording what it was asked. */
function table(answers: Record<string, string[]>) {
  const asked: string[] = [];
  const resolve = async (host: string): Promise<string[]> => {
    asked.push(host);
    const found = answers[host];
    if (found) return found;
    throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: "ENOTFOUND" });
  };
  return { asked, resolve };
}

describe("checkHookUrl", () => {
  const dns = table({
    "hooks.example.com": [PUBLIC],
    "dual.example.com": [PUBLIC, "2606:2800:220:1::1"],
    "internal.example.com": ["10.0.0.5"],
    "mixed.example.com": [PUBLIC, "192.168.1.1"],
    "mixed6.example.com": ["2606:2800:220:1::1", "fd00::1"],
    "metadata.example.com": ["169.254.169.254"],
    "mapped.example.com": ["::ffff:127.0.0.1"],
    localhost: ["127.0.0.1", "::1"],
    "empty.example.com": [],
    "junk.example.com": ["not-an-address"],
  });
  const strict = { allowPrivate: false, resolve: dns.resolve };
  const open = { allowPrivate: true, resolve: dns.resolve };

  it("accepts a public name, returning the parsed URL", async () => {
    const r = await checkHookUrl("https://hooks.example.com/github?x=1", strict);
    expect(r.ok && r.url.href).toBe("https://hooks.example.com/github?x=1");
    expect((await checkHookUrl("http://dual.example.com:8080/", strict)).ok).toBe(true);
    expect((await checkHookUrl(`http://${PUBLIC}/hook`, strict)).ok).toBe(true);
    expect((await checkHookUrl("http://[2606:4700:4700::1111]/hook", strict)).ok).toBe(true);
  });

  it.each<[string, string]>([
    ["http://internal.example.com/", `url resolves to a private address (10.0.0.5); ${HINT}`],
    ["http://mixed.example.com/", `url resolves to a private address (192.168.1.1); ${HINT}`],
    ["http://mixed6.example.com/", `url resolves to a unique-local address (fd00::1); ${HINT}`],
    ["http://metadata.example.com/latest/meta-data/", `url resolves to a link-local address (169.254.169.254); ${HINT}`],
    ["http://mapped.example.com/", `url resolves to a loopback address (::ffff:127.0.0.1); ${HINT}`],
    ["http://localhost:3000/", `url resolves to a loopback address (127.0.0.1); ${HINT}`],
    ["http://junk.example.com/", `url resolves to an invalid address (not-an-address); ${HINT}`],
  ])("refuses %s when a resolved address is refused", async (url, message) => {
    expect(await checkHookUrl(url, strict)).toEqual({ ok: false, message });
  });

  it.each<[string, string]>([
    ["http://127.0.0.1:8080/", "127.0.0.1"],
    ["http://10.1.2.3/", "10.1.2.3"],
    ["http://[::1]/", "::1"],
    ["http://[::ffff:127.0.0.1]/", "::ffff:7f00:1"], // WHATWG URL rewrites the mapped form
    ["http://[fe80::1]/", "fe80::1"],
    ["http://0x7f.1/", "127.0.0.1"], // and the shorthand IPv4 forms, before we see them
    ["http://2130706433/", "127.0.0.1"],
    ["http://0.0.0.0/", "0.0.0.0"],
  ])("checks the IP literal in %s directly, without resolving", async (url, ip) => {
    const before = dns.asked.length;
    const r = await checkHookUrl(url, strict);
    expect(r.ok).toBe(false);
    expect(!r.ok && r.message).toMatch(new RegExp(`^url host is an? [a-z -]+ address \\(${ip.replaceAll(".", "\\.")}\\); `));
    expect(dns.asked.length).toBe(before);
  });

  it("lets loopback and private addresses through when allowPrivate is set", async () => {
    for (const url of ["http://localhost:3000/hook", "http://127.0.0.1:8080/", "http://[::1]/", "http://internal.example.com/", "http://mixed.example.com/"]) {
      const r = await checkHookUrl(url, open);
      expect(r.ok, url).toBe(true);
    }
  });

  it("uses the system resolver when none is given", async () => {
    expect(await checkHookUrl("http://localhost:3000/", { allowPrivate: false })).toEqual({
      ok: false, message: `url resolves to a loopback address (127.0.0.1); ${HINT}`,
    });
  });

  it("refuses a name that does not resolve, even when private addresses are allowed", async () => {
    for (const opts of [strict, open]) {
      expect(await checkHookUrl("https://nope.invalid/", opts)).toEqual({ ok: false, message: "url host nope.invalid does not resolve" });
      expect(await checkHookUrl("https://empty.example.com/", opts)).toEqual({ ok: false, message: "url host empty.example.com does not resolve" });
    }
  });

  it("says so when the resolver fails for another reason", async () => {
    const failing = async (): Promise<string[]> => Promise.reject(Object.assign(new Error("queryA EAI_AGAIN x"), { code: "EAI_AGAIN" }));
    expect(await checkHookUrl("https://x.example.com/", { allowPrivate: false, resolve: failing })).toEqual({
      ok: false, message: "url host x.example.com could not be resolved (queryA EAI_AGAIN x)",
    });
  });

  it("gives up on a resolver that does not answer", async () => {
    vi.useFakeTimers();
    try {
      const pending = checkHookUrl("https://slow.example.com/", { allowPrivate: false, resolve: () => new Promise(() => {}) });
      await vi.advanceTimersByTimeAsync(5000);
      expect(await pending).toEqual({ ok: false, message: "url host slow.example.com could not be resolved (resolving slow.example.com did not answer within 5000 ms)" });
    } finally {
      vi.useRealTimers();
    }
  });

  it.each<[string, string]>([
    ["ftp://hooks.example.com/", "url must use http or https"],
    ["file:///etc/passwd", "url must use http or https"],
    ["javascript:alert(1)", "url must use http or https"],
    ["gopher://hooks.example.com:70/", "url must use http or https"],
    ["ws://hooks.example.com/", "url must use http or https"],
    ["data:text/plain,hi", "url must use http or https"],
    ["", "url is not a valid URL"],
    ["not a url", "url is not a valid URL"],
    ["hooks.example.com/path", "url is not a valid URL"],
    ["http://", "url is not a valid URL"],
    ["http://exa mple.com/", "url is not a valid URL"],
    ["http://[::1/", "url is not a valid URL"],
    ["http://300.1.1.1/", "url is not a valid URL"],
    ["https://hooks.example.com/" + "x".repeat(MAX_URL_LENGTH), `url must be at most ${MAX_URL_LENGTH} characters`],
  ])("refuses %s", async (url, message) => {
    expect(await checkHookUrl(url, open)).toEqual({ ok: false, message });
  });

  it("accepts a URL of exactly the maximum length", () => {
    const base = "https://hooks.example.com/";
    expect(parseHookUrl(base + "x".repeat(MAX_URL_LENGTH - base.length)).ok).toBe(true);
  });
});
