/**
 * Which IP addresses an outgoing request may connect to. Only globally routable unicast
 * passes: ipaddr.js names the special-purpose ranges of the IANA registries, and we refuse
 * every one of them rather than list the dangerous ones, so a range we did not think of stays
 * closed. IPv6 must moreover lie in 2000::/3, the only block IANA allocates as global unicast:
 * that closes what ipaddr.js calls plain 'unicast' although it routes nowhere public, such as
 * the deprecated IPv4-compatible ::/96 (::127.0.0.1), the dummy prefix 100:0:0:1::/64 and any
 * future assignment outside 2000::/3. IPv6 addresses that embed an IPv4 address (v4-mapped,
 * v4-compatible, NAT64 64:ff9b::/96, 6to4, Teredo) are refused as a whole. docs/security.md
 * lists each IANA block, its RFC and why the few "globally reachable" ones are refused too.
 */
import ipaddr from 'ipaddr.js';

export type AddressVerdict = { allowed: true } | { allowed: false; range: string };

/** Deprecated site-local fec0::/10 is 'unicast' to ipaddr.js but routes privately. */
const extraBlockedV6: [ipaddr.IPv6, number, string][] = [
  [ipaddr.IPv6.parse('fec0::'), 10, 'siteLocal'],
];
/** IANA's global unicast block (RFC 4291 §2.4, the IPv6 Address Space registry). */
const globalUnicastV6: [ipaddr.IPv6, number] = [ipaddr.IPv6.parse('2000::'), 3];
/** Deprecated IPv4-compatible addresses (RFC 4291 §2.5.5.1): the last 32 bits are IPv4. */
const ipv4CompatibleV6: [ipaddr.IPv6, number] = [ipaddr.IPv6.parse('::'), 96];

export function checkAddress(address: string): AddressVerdict {
  const bare = address.startsWith('[') && address.endsWith(']') ? address.slice(1, -1) : address;
  // Zone ids (fe80::1%eth0) are link-local by definition.
  if (bare.includes('%')) return { allowed: false, range: 'linkLocal' };
  // ipaddr.isValid accepts classful shorthands like "127.1"; only canonical forms reach here
  // from URL parsing and DNS, and the connect check sees the kernel's own notation.
  if (!ipaddr.isValid(bare)) return { allowed: false, range: 'invalid' };
  const ip = ipaddr.parse(bare);
  if (ip.kind() === 'ipv4') {
    const range = ip.range();
    return range === 'unicast' ? { allowed: true } : { allowed: false, range };
  }
  const v6 = ip as ipaddr.IPv6;
  if (v6.isIPv4MappedAddress()) {
    // Report the embedded address's range; mapped addresses are refused either way.
    return { allowed: false, range: `ipv4Mapped(${v6.toIPv4Address().range()})` };
  }
  for (const [net, bits, name] of extraBlockedV6)
    if (v6.match(net, bits)) return { allowed: false, range: name };
  const range = v6.range();
  if (range !== 'unicast') return { allowed: false, range };
  if (v6.match(ipv4CompatibleV6)) {
    const inner = ipaddr.fromByteArray(v6.toByteArray().slice(12)).range();
    return { allowed: false, range: `ipv4Compatible(${inner})` };
  }
  if (!v6.match(globalUnicastV6)) return { allowed: false, range: 'notGlobalUnicast' };
  return { allowed: true };
}
