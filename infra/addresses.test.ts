import type { LookupAddress } from "node:dns";
import { describe, expect, it } from "vitest";
import { addressVerdict, firstRefused, guardedLookup, RefusedAddressError } from "./addresses.ts";

// Only strings are handled here: nothing in this file opens a socket or asks DNS.

describe("addressVerdict", () => {
  it.each([
    "1.1.1.1", "8.8.8.8", "93.184.216.34", "100.63.255.255", "100.128.0.0", "172.15.255.255", "172.32.0.0",
    "192.167.255.255", "192.169.0.0", "169.253.255.255", "223.255.255.255", "11.0.0.1", "126.255.255.255",
    "2606:4700:4700::1111", "2001:4860:4860::8888", "2a00:1450:4001:80b::200e",
    "::ffff:1.1.1.1", "::ffff:8.8.8.8", "64:ff9b::808:808", "2002:808:808::1",
  ])("passes public unicast %s", (ip) => {
    expect(addressVerdict(ip)).toEqual({ ok: true });
  });

  it.each<[string, string]>([
    // IPv4
    ["127.0.0.1", "a loopback address"],
    ["127.255.255.254", "a loopback address"],
    ["10.0.0.5", "a private address"],
    ["10.255.255.255", "a private address"],
    ["172.16.0.1", "a private address"],
    ["172.31.255.255", "a private address"],
    ["192.168.1.1", "a private address"],
    ["169.254.169.254", "a link-local address"],
    ["0.0.0.0", "an unspecified address"],
    ["0.1.2.3", "an unspecified address"],
    ["100.64.0.1", "a carrier-grade NAT address"],
    ["100.127.255.255", "a carrier-grade NAT address"],
    ["224.0.0.1", "a multicast address"],
    ["239.255.255.250", "a multicast address"],
    ["255.255.255.255", "a broadcast address"],
    ["240.0.0.1", "a reserved address"],
    ["192.0.0.8", "a reserved address"],
    ["198.18.0.1", "a reserved address"],
    ["192.0.2.1", "a documentation address"],
    ["198.51.100.7", "a documentation address"],
    ["203.0.113.9", "a documentation address"],
    ["192.88.99.1", "a reserved address"],
    // IPv6
    ["::1", "a loopback address"],
    ["0:0:0:0:0:0:0:1", "a loopback address"],
    ["::", "an unspecified address"],
    ["fe80::1", "a link-local address"],
    ["fe80::1%eth0", "a link-local address"],
    ["febf::1", "a link-local address"],
    ["fc00::1", "a unique-local address"],
    ["fd12:3456:789a::1", "a unique-local address"],
    ["fec0::1", "a site-local address"],
    ["ff02::1", "a multicast address"],
    ["ff05::1:3", "a multicast address"],
    ["2001:db8::1", "a documentation address"],
    ["3fff::1", "a documentation address"],
    ["2001:2::1", "a benchmarking address"],
    ["2001::1", "a non-public address"], // Teredo
    ["100::1", "a non-public address"], // discard-only
    ["5f00::1", "a non-public address"], // segment routing
    ["64:ff9b:1::1", "a non-public address"], // local-use NAT64
    ["1::1", "a non-public address"], // outside 2000::/3
    ["4000::1", "a non-public address"],
    // IPv4-mapped, -translated and -embedded forms of refused addresses
    ["::ffff:127.0.0.1", "a loopback address"],
    ["::ffff:7f00:1", "a loopback address"],
    ["0:0:0:0:0:ffff:7f00:1", "a loopback address"],
    ["::ffff:10.0.0.5", "a private address"],
    ["::ffff:169.254.169.254", "a link-local address"],
    ["::ffff:0.0.0.0", "an unspecified address"],
    ["::ffff:100.64.0.1", "a carrier-grade NAT address"],
    ["::ffff:255.255.255.255", "a broadcast address"],
    ["::ffff:192.0.2.1", "a documentation address"],
    ["::ffff:0:10.0.0.1", "a non-public address"], // RFC 6145 translated
    ["64:ff9b::127.0.0.1", "a loopback address"], // NAT64 of loopback
    ["64:ff9b::a00:5", "a private address"],
    ["2002:a00:5::1", "a private address"], // 6to4 relay in 10/8
    ["2002:7f00:1::", "a loopback address"],
    // ipaddr.js alone reads this IPv4-compatible form as ::ffff:1.2.3.4 (public); it is ::102:304
    ["::1.2.3.4", "a non-public address"],
    ["::127.0.0.1", "a non-public address"],
    // Not addresses, or not in the form a resolver returns
    ["", "an invalid address"],
    ["localhost", "an invalid address"],
    ["127.1", "an invalid address"],
    ["0x7f000001", "an invalid address"],
    ["2130706433", "an invalid address"],
    ["[::1]", "an invalid address"],
    ["1.2.3.4.5", "an invalid address"],
    ["1.1.1.1 ", "an invalid address"],
  ])("refuses %s as %s", (ip, reason) => {
    expect(addressVerdict(ip)).toEqual({ ok: false, reason });
  });
});

describe("firstRefused", () => {
  it("names the first refused address, or none", () => {
    expect(firstRefused(["1.1.1.1", "10.0.0.5", "127.0.0.1"], false)).toEqual({ ip: "10.0.0.5", reason: "a private address" });
    expect(firstRefused(["1.1.1.1", "2606:4700:4700::1111"], false)).toBeNull();
    expect(firstRefused(["127.0.0.1", "10.0.0.5"], true)).toBeNull();
  });
});

type LookupResult = { err: NodeJS.ErrnoException | null; address: string | LookupAddress[]; family?: number };

function callLookup(addresses: string[], allowPrivate: boolean, options: { all?: boolean; family?: number }): Promise<LookupResult> {
  const lookup = guardedLookup(async () => addresses, allowPrivate);
  return new Promise((resolve) => lookup("hook.test", options, (err, address, family) => resolve({ err, address, family })));
}

describe("guardedLookup", () => {
  it("hands every address over when all are public (all: true, as autoSelectFamily asks)", async () => {
    const r = await callLookup(["93.184.216.34", "2606:2800:220:1::1"], false, { all: true });
    expect(r.err).toBeNull();
    expect(r.address).toEqual([{ address: "93.184.216.34", family: 4 }, { address: "2606:2800:220:1::1", family: 6 }]);
  });

  it("hands one address over when asked for one, honouring the family", async () => {
    expect(await callLookup(["93.184.216.34", "2606:2800:220:1::1"], false, { family: 6 })).toEqual({ err: null, address: "2606:2800:220:1::1", family: 6 });
    expect(await callLookup(["93.184.216.34"], false, {})).toEqual({ err: null, address: "93.184.216.34", family: 4 });
  });

  it("refuses the whole answer if any address is refused", async () => {
    const r = await callLookup(["93.184.216.34", "127.0.0.1"], false, { all: true });
    expect(r.err).toBeInstanceOf(RefusedAddressError);
    expect(r.err?.message).toBe("hook.test resolves to a loopback address (127.0.0.1); set WEBHOOK_ALLOW_PRIVATE=true to allow it");
  });

  it("lets private addresses through when allowed", async () => {
    expect(await callLookup(["127.0.0.1"], true, {})).toEqual({ err: null, address: "127.0.0.1", family: 4 });
  });

  it("passes the resolver's failure on, and an empty answer as ENOTFOUND", async () => {
    const failing = guardedLookup(async () => Promise.reject(Object.assign(new Error("boom"), { code: "EAI_AGAIN" })), false);
    const err = await new Promise<NodeJS.ErrnoException | null>((resolve) => failing("hook.test", {}, (e) => resolve(e)));
    expect(err?.code).toBe("EAI_AGAIN");
    expect((await callLookup([], false, {})).err?.code).toBe("ENOTFOUND");
  });
});
