/**
 * Which IP addresses an outgoing request may connect to. Only globally routable unicast
 * passes: ipaddr.js names every special-purpose range (IANA registries), and we refuse all
 * of them rather than list the dangerous ones, so a range we did not think of stays closed.
 * IPv6 addresses that embed an IPv4 address (v4-mapped, NAT64 64:ff9b::/96, 6to4, Teredo)
 * are refused as a whole: their ranges are not 'unicast'.
 */
import ipaddr from 'ipaddr.js';

export type AddressVerdict = { allowed: true } | { allowed: false; range: string };

/** Deprecated site-local fec0::/10 is 'unicast' to ipaddr.js but routes privately. */
const extraBlockedV6: [ipaddr.IPv6, number][] = [[ipaddr.IPv6.parse('fec0::'), 10]];

export function checkAddress(address: string): AddressVerdict {
  const bare = address.startsWith('[') && address.endsWith(']') ? address.slice(1, -1) : address;
  // Zone ids (fe80::1%eth0) are link-local by definition.
  if (bare.includes('%')) return { allowed: false, range: 'linkLocal' };
  // ipaddr.isValid accepts classful shorthands like "127.1"; only canonical forms reach here
  // from URL parsing and DNS, and the connect check sees the kernel's own notation.
  if (!ipaddr.isValid(bare)) return { allowed: false, range: 'invalid' };
  let ip = ipaddr.parse(bare);
  if (ip.kind() === 'ipv6') {
    const v6 = ip as ipaddr.IPv6;
    if (v6.isIPv4MappedAddress()) {
      // Report the embedded address's range; mapped addresses are refused either way.
      const inner = v6.toIPv4Address().range();
      return { allowed: false, range: `ipv4Mapped(${inner})` };
    }
    for (const [net, bits] of extraBlockedV6)
      if (v6.match(net, bits)) return { allowed: false, range: 'siteLocal' };
    ip = v6;
  }
  const range = ip.range();
  return range === 'unicast' ? { allowed: true } : { allowed: false, range };
}
