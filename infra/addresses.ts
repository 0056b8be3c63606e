import { lookup as dnsLookup } from "node:dns/promises";
import type { LookupAddress } from "node:dns";
import { isIP, type LookupFunction } from "node:net";
import ipaddr from "ipaddr.js";

// Which addresses a webhook may reach. A hook URL is chosen by a user, and the service
// sits inside a network that the user does not: without this, a hook pointed at
// 169.254.169.254 or 10.x would make us fetch cloud credentials or internal admin
// pages for them. Only public unicast addresses pass; everything else is refused
// unless the operator opts in (WEBHOOK_ALLOW_PRIVATE=true, for tests and on-premises).

export type AddressVerdict = { ok: true } | { ok: false; reason: string };

/** Resolves a host name to its addresses (A and AAAA), as text. */
export type Resolve = (host: string) => Promise<string[]>;

export const ALLOW_PRIVATE_HINT = "set WEBHOOK_ALLOW_PRIVATE=true to allow it";

/** How a refusal names each of ipaddr.js's ranges; any range not named here is "a non-public address". */
const RANGE_REASONS: Record<string, string> = {
  loopback: "a loopback address",
  private: "a private address",
  linkLocal: "a link-local address",
  uniqueLocal: "a unique-local address",
  deprecatedSiteLocal: "a site-local address",
  unspecified: "an unspecified address",
  carrierGradeNat: "a carrier-grade NAT address",
  multicast: "a multicast address",
  broadcast: "a broadcast address",
  reserved: "a reserved address",
  benchmarking: "a benchmarking address",
};

// ipaddr.js files these under "reserved"; named apart so a 422 says what the user typed.
const DOCUMENTATION = ["192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "2001:db8::/32", "3fff::/20"].map((cidr) =>
  ipaddr.parseCIDR(cidr),
);

// Global unicast (RFC 4291 2.4): an IPv6 address outside it is not routed on the internet.
const GLOBAL_UNICAST_V6 = ipaddr.parseCIDR("2000::/3");
// The well-known NAT64 prefix (RFC 6052): on a DNS64 network a public name resolves into it,
// so its embedded IPv4 address decides. The local-use 64:ff9b:1::/48 stays refused.
const NAT64_WELL_KNOWN = ipaddr.parseCIDR("64:ff9b::/96");

const refuse = (reason: string): AddressVerdict => ({ ok: false, reason });
const rangeReason = (range: string): string => RANGE_REASONS[range] ?? "a non-public address";
const isDocumentation = (addr: ipaddr.IPv4 | ipaddr.IPv6): boolean =>
  DOCUMENTATION.some(([net, bits]) => net.kind() === addr.kind() && addr.match(net, bits));

/** Whether an address (as text, v4 or v6) is public unicast, and why not if it is not. */
export function addressVerdict(ip: string): AddressVerdict {
  const family = isIP(ip);
  if (family === 4) return v4Verdict(ipaddr.IPv4.parse(ip));
  const canonical = family === 6 ? canonicalV6(ip) : null;
  return canonical === null ? refuse("an invalid address") : v6Verdict(ipaddr.IPv6.parse(canonical));
}

/**
 * The address as the kernel would read it. ipaddr.js reads the deprecated IPv4-compatible
 * form "::a.b.c.d" as IPv4-mapped "::ffff:a.b.c.d", so "::1.2.3.4" would pass as 1.2.3.4
 * while a socket connects to ::102:304; the WHATWG URL parser reads it as the kernel does.
 * The zone (fe80::1%eth0) does not change the range, and URL refuses it, so it goes.
 */
function canonicalV6(ip: string): string | null {
  const bare = ip.split("%")[0] ?? ip;
  return URL.parse(`http://[${bare}]/`)?.hostname.slice(1, -1) ?? null;
}

function v4Verdict(addr: ipaddr.IPv4): AddressVerdict {
  if (isDocumentation(addr)) return refuse("a documentation address");
  const range: string = addr.range();
  return range === "unicast" ? { ok: true } : refuse(rangeReason(range));
}

function v6Verdict(addr: ipaddr.IPv6): AddressVerdict {
  if (addr.isIPv4MappedAddress()) return v4Verdict(addr.toIPv4Address());
  if (addr.match(NAT64_WELL_KNOWN)) return v4Verdict(embeddedV4(addr, 6));
  if (isDocumentation(addr)) return refuse("a documentation address");
  const range: string = addr.range();
  // 6to4 (2002::/16) carries the IPv4 address of its relay in bits 16-47.
  if (range === "6to4") return v4Verdict(embeddedV4(addr, 1));
  if (range !== "unicast") return refuse(rangeReason(range));
  return addr.match(GLOBAL_UNICAST_V6) ? { ok: true } : refuse("a non-public address");
}

function embeddedV4(addr: ipaddr.IPv6, firstPart: number): ipaddr.IPv4 {
  const high = addr.parts[firstPart] ?? 0;
  const low = addr.parts[firstPart + 1] ?? 0;
  return new ipaddr.IPv4([high >> 8, high & 0xff, low >> 8, low & 0xff]);
}

/** The first address that the policy refuses, with why; null when all may be reached. */
export function firstRefused(addresses: readonly string[], allowPrivate: boolean): { ip: string; reason: string } | null {
  if (allowPrivate) return null;
  for (const ip of addresses) {
    const verdict = addressVerdict(ip);
    if (!verdict.ok) return { ip, reason: verdict.reason };
  }
  return null;
}

/** The system resolver (getaddrinfo, as node:http would use), every address it returns. */
export const systemResolve: Resolve = async (host) => (await dnsLookup(host, { all: true })).map((a) => a.address);

/** A connection refused by the address policy: final, since retrying reaches the same address. */
export class RefusedAddressError extends Error {
  override readonly name = "RefusedAddressError";
}

/**
 * A `lookup` for net/http that resolves with `resolve` and refuses the whole answer if any
 * address in it is refused. It runs when the socket connects, so an answer that changed
 * since the URL was checked (DNS rebinding) is judged again on what is actually dialled.
 * Node skips `lookup` for an IP literal host: callers check those themselves.
 */
export function guardedLookup(resolve: Resolve, allowPrivate: boolean): LookupFunction {
  return (hostname, options, callback) => {
    resolve(hostname).then(
      (addresses) => {
        const refused = firstRefused(addresses, allowPrivate);
        if (refused) {
          const message = `${hostname} resolves to ${refused.reason} (${refused.ip}); ${ALLOW_PRIVATE_HINT}`;
          return callback(new RefusedAddressError(message), []);
        }
        const wanted = addresses
          .map((address): LookupAddress => ({ address, family: isIP(address) }))
          .filter((a) => a.family !== 0 && (!options.family || a.family === options.family));
        const first = wanted[0];
        if (!first) return callback(notFound(hostname), []);
        if (options.all) return callback(null, wanted);
        callback(null, first.address, first.family);
      },
      (err: NodeJS.ErrnoException) => callback(err, []),
    );
  };
}

function notFound(hostname: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: "ENOTFOUND", hostname });
}
