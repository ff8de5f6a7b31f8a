import { readFileSync, rmSync } from 'node:fs';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import ipaddr from 'ipaddr.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isSwitchyardError } from '../../src/model/errors.ts';
import { checkAddress } from '../../src/runner/gate/address-policy.ts';
import { tcpDialer } from '../../src/runner/gate/connect.ts';
import { createGate, MAX_REDIRECTS, type Gate } from '../../src/runner/gate/gate.ts';
import { gateConfig } from '../support/runner-harness.ts';
import { makeTestCerts } from '../support/security-certs.ts';
import { startServer, type LocalServer } from '../support/runner-servers.ts';

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'NOT BLOCKED';
  } catch (err) {
    return isSwitchyardError(err) ? err.code : `other: ${(err as Error).message}`;
  }
}

/** Every attempt must be refused before a socket is opened: the dialer records any dial. */
function recordingGate(
  allow: string[] = [],
  resolver?: (h: string) => Promise<{ address: string; family: 4 | 6 }[]>,
) {
  const dials: string[] = [];
  const gate = createGate(gateConfig(allow), {
    dialer: (address, port) => {
      dials.push(`${address}:${port}`);
      return tcpDialer(address, port);
    },
    ...(resolver ? { resolver } : {}),
  });
  return { gate, dials };
}

describe('address policy', () => {
  it.each([
    ['127.0.0.1', 'loopback'],
    ['10.1.2.3', 'private'],
    ['172.16.0.1', 'private'],
    ['192.168.1.1', 'private'],
    ['169.254.169.254', 'linkLocal'],
    ['100.64.0.1', 'carrierGradeNat'],
    ['100.100.100.200', 'carrierGradeNat'],
    ['0.0.0.0', 'unspecified'],
    ['224.0.0.1', 'multicast'],
    ['255.255.255.255', 'broadcast'],
    ['::1', 'loopback'],
    ['::', 'unspecified'],
    ['fe80::1', 'linkLocal'],
    ['fd00:ec2::254', 'uniqueLocal'],
    ['ff02::1', 'multicast'],
    ['::ffff:127.0.0.1', 'ipv4Mapped(loopback)'],
    ['::ffff:8.8.8.8', 'ipv4Mapped(unicast)'],
    ['64:ff9b::7f00:1', 'rfc6052'],
    ['64:ff9b::a9fe:a9fe', 'rfc6052'],
    ['2002:7f00:1::', '6to4'],
    ['2001:0:4136:e378:8000:63bf:3fff:fdd2', 'teredo'],
    ['fec0::1', 'siteLocal'],
    ['fe80::1%eth0', 'linkLocal'],
  ])('refuses %s (%s)', (address, range) => {
    expect(checkAddress(address)).toEqual({ allowed: false, range });
  });

  it.each(['93.184.216.34', '8.8.8.8', '2606:4700::1111'])('allows public %s', (address) => {
    expect(checkAddress(address)).toEqual({ allowed: true });
  });
});

/**
 * The IANA IPv4 and IPv6 Special-Purpose Address Registries, every entry (as of 2025), with the
 * registry's "globally reachable" column. Every block is refused, its first and last address
 * both: the few globally reachable ones are refused too, for the reasons in docs/security.md
 * ("Special-purpose blocks").
 */
const ianaSpecialPurpose: Array<[block: string, name: string, rfc: string, global: boolean]> = [
  // IPv4 (iana-ipv4-special-registry)
  ['0.0.0.0/8', '"This network"', 'RFC 791', false],
  ['0.0.0.0/32', '"This host on this network"', 'RFC 1122', false],
  ['10.0.0.0/8', 'Private-Use', 'RFC 1918', false],
  ['100.64.0.0/10', 'Shared Address Space', 'RFC 6598', false],
  ['127.0.0.0/8', 'Loopback', 'RFC 1122', false],
  ['169.254.0.0/16', 'Link Local', 'RFC 3927', false],
  ['172.16.0.0/12', 'Private-Use', 'RFC 1918', false],
  ['192.0.0.0/24', 'IETF Protocol Assignments', 'RFC 6890', false],
  ['192.0.0.0/29', 'IPv4 Service Continuity Prefix', 'RFC 7335', false],
  ['192.0.0.8/32', 'IPv4 dummy address', 'RFC 7600', false],
  ['192.0.0.9/32', 'Port Control Protocol Anycast', 'RFC 7723', true],
  ['192.0.0.10/32', 'Traversal Using Relays around NAT Anycast', 'RFC 8155', true],
  ['192.0.0.170/32', 'NAT64/DNS64 Discovery', 'RFC 8880, RFC 7050', false],
  ['192.0.0.171/32', 'NAT64/DNS64 Discovery', 'RFC 8880, RFC 7050', false],
  ['192.0.2.0/24', 'Documentation (TEST-NET-1)', 'RFC 5737', false],
  ['192.31.196.0/24', 'AS112-v4', 'RFC 7535', true],
  ['192.52.193.0/24', 'AMT', 'RFC 7450', true],
  ['192.88.99.0/24', 'Deprecated (6to4 Relay Anycast)', 'RFC 7526', false],
  ['192.88.99.2/32', '6a44-relay anycast address', 'RFC 6751', false],
  ['192.168.0.0/16', 'Private-Use', 'RFC 1918', false],
  ['192.175.48.0/24', 'Direct Delegation AS112 Service', 'RFC 7534', true],
  ['198.18.0.0/15', 'Benchmarking', 'RFC 2544', false],
  ['198.51.100.0/24', 'Documentation (TEST-NET-2)', 'RFC 5737', false],
  ['203.0.113.0/24', 'Documentation (TEST-NET-3)', 'RFC 5737', false],
  ['240.0.0.0/4', 'Reserved', 'RFC 1112', false],
  ['255.255.255.255/32', 'Limited Broadcast', 'RFC 8190, RFC 919', false],
  // IPv6 (iana-ipv6-special-registry)
  ['::1/128', 'Loopback Address', 'RFC 4291', false],
  ['::/128', 'Unspecified Address', 'RFC 4291', false],
  ['::ffff:0:0/96', 'IPv4-mapped Address', 'RFC 4291', false],
  ['64:ff9b::/96', 'IPv4-IPv6 Translat.', 'RFC 6052', true],
  ['64:ff9b:1::/48', 'IPv4-IPv6 Translat.', 'RFC 8215', false],
  ['100::/64', 'Discard-Only Address Block', 'RFC 6666', false],
  ['100:0:0:1::/64', 'Dummy IPv6 Prefix', 'RFC 9780', false],
  ['2001::/23', 'IETF Protocol Assignments', 'RFC 2928', false],
  ['2001::/32', 'TEREDO', 'RFC 4380, RFC 8190', false],
  ['2001:1::1/128', 'Port Control Protocol Anycast', 'RFC 7723', true],
  ['2001:1::2/128', 'Traversal Using Relays around NAT Anycast', 'RFC 8155', true],
  ['2001:1::3/128', 'DNS-SD Service Registration Protocol Anycast', 'RFC 9665', true],
  ['2001:2::/48', 'Benchmarking', 'RFC 5180', false],
  ['2001:3::/32', 'AMT', 'RFC 7450', true],
  ['2001:4:112::/48', 'AS112-v6', 'RFC 7535', true],
  ['2001:10::/28', 'Deprecated (previously ORCHID)', 'RFC 4843', false],
  ['2001:20::/28', 'ORCHIDv2', 'RFC 7343', true],
  ['2001:30::/28', 'Drone Remote ID Protocol Entity Tags (DETs) Prefix', 'RFC 9374', true],
  ['2001:db8::/32', 'Documentation', 'RFC 3849', false],
  ['2002::/16', '6to4', 'RFC 3056', false],
  ['2620:4f:8000::/48', 'Direct Delegation AS112 Service', 'RFC 7534', true],
  ['3fff::/20', 'Documentation', 'RFC 9637', false],
  ['5f00::/16', 'Segment Routing (SRv6) SIDs', 'RFC 9602', false],
  ['fc00::/7', 'Unique-Local', 'RFC 4193, RFC 8190', false],
  ['fe80::/10', 'Link-Local Unicast', 'RFC 4291', false],
  // Not in the special-purpose registries, refused all the same
  ['224.0.0.0/4', 'Multicast', 'RFC 5771', false],
  ['ff00::/8', 'Multicast', 'RFC 4291', false],
  ['::/96', 'IPv4-compatible (deprecated)', 'RFC 4291 §2.5.5.1', false],
  ['fec0::/10', 'Site-local (deprecated)', 'RFC 3879', false],
  ['4000::/3', 'Unassigned (outside 2000::/3)', 'IANA IPv6 Address Space', false],
];

function firstAndLast(block: string): [string, string] {
  const [net, bits] = ipaddr.parseCIDR(block);
  const bytes = net.toByteArray();
  const last = bytes.map((b, i) => {
    const hostBits = Math.min(8, Math.max(0, (i + 1) * 8 - bits));
    return b | ((1 << hostBits) - 1);
  });
  return [net.toString(), ipaddr.fromByteArray(last).toString()];
}

describe('address policy against the IANA special-purpose registries', () => {
  it.each(ianaSpecialPurpose)('refuses %s (%s, %s)', (block) => {
    const [first, last] = firstAndLast(block);
    expect(checkAddress(first).allowed).toBe(false);
    expect(checkAddress(last).allowed).toBe(false);
  });

  it('refuses IPv4-compatible IPv6 as the kernel writes it', () => {
    expect(checkAddress('::7f00:1')).toEqual({ allowed: false, range: 'ipv4Compatible(loopback)' });
    expect(checkAddress('::a9fe:a9fe')).toEqual({
      allowed: false,
      range: 'ipv4Compatible(linkLocal)',
    });
    expect(checkAddress('::808:808')).toEqual({ allowed: false, range: 'ipv4Compatible(unicast)' });
  });

  it.each([
    '1.1.1.1',
    '100.63.255.255',
    '100.128.0.0',
    '172.32.0.0',
    '192.0.1.1',
    '198.17.255.255',
    '198.20.0.0',
    '223.255.255.254',
    '2001:200::1',
    '2001:4860:4860::8888',
    '2a00:1450:4001::1',
    '2620:4f:8001::1',
    '3ffe:ffff::1',
  ])('allows public %s next to the special blocks', (address) => {
    expect(checkAddress(address)).toEqual({ allowed: true });
  });
});

describe('the gate', () => {
  let server: LocalServer;
  let gate: Gate;

  beforeAll(async () => {
    server = await startServer((req, res) => {
      if (req.url.startsWith('/loop')) {
        res.writeHead(302, { location: `/loop${Number(req.url.slice(5) || 0) + 1}` });
        res.end();
      } else if (req.url === '/to-metadata-http') {
        res.writeHead(302, { location: 'http://169.254.169.254/latest/meta-data/' });
        res.end();
      } else if (req.url === '/to-metadata-https') {
        res.writeHead(307, { location: 'https://169.254.169.254/latest/meta-data/' });
        res.end();
      } else if (req.url === '/to-localhost-other-port') {
        res.writeHead(302, { location: 'https://127.0.0.1:1/' });
        res.end();
      } else if (req.url === '/big') {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.end('x'.repeat(2048));
      } else if (req.url === '/big-chunked') {
        res.writeHead(200, { 'content-type': 'text/plain' });
        for (let i = 0; i < 10; i++) res.write('y'.repeat(512));
        res.end();
      } else if (req.url === '/hang') {
        // never answers
      } else if (req.url === '/slow-body') {
        res.writeHead(200, { 'content-type': 'text/plain' });
        const t = setInterval(() => res.write('.'), 100);
        res.on('close', () => clearInterval(t));
      } else if (req.url === '/redirect-once') {
        res.writeHead(303, { location: '/echo' });
        res.end();
      } else {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ url: req.url, method: req.method, headers: req.headers }));
      }
    });
    gate = createGate(
      gateConfig([server.hostPort], {
        maxResponseBytes: 1024,
        headersTimeoutMs: 300,
        totalTimeoutMs: 800,
      }),
    );
  });
  afterAll(() => server.close());

  describe('SSRF corpus with an empty allow-list', () => {
    const corpus = [
      'https://127.0.0.1/',
      'https://127.1/',
      'https://2130706433/',
      'https://017700000001/',
      'https://0177.0.0.1/',
      'https://0x7f.0.0.1/',
      'https://0x7f000001/',
      'https://127.000.000.001/',
      'https://%31%32%37.0.0.1/',
      'https://[::1]/',
      'https://[::ffff:127.0.0.1]/',
      'https://[0:0:0:0:0:ffff:7f00:1]/',
      'https://[::ffff:a9fe:a9fe]/',
      'https://[::127.0.0.1]/',
      'https://[::7f00:1]/',
      'https://[::169.254.169.254]/',
      'https://[64:ff9b::127.0.0.1]/',
      'https://[64:ff9b::a9fe:a9fe]/',
      'https://[2002:7f00:1::]/',
      'https://[fe80::1]/',
      'https://[fd00:ec2::254]/',
      'https://[::]/',
      'https://0.0.0.0/',
      'https://0/',
      'https://localhost/',
      'https://LOCALHOST./',
      'https://api.localhost/',
      'https://10.0.0.1/',
      'https://192.168.0.1/',
      'https://172.31.255.255/',
      'https://100.64.0.1/',
      'https://169.254.169.254/latest/meta-data/',
      'https://224.0.0.1/',
      'http://127.0.0.1/',
      'http://example.com/',
      'ftp://example.com/',
      'file:///etc/passwd',
      'https://user:pass@example.com/',
    ];
    it.each(corpus)('blocks %s before connecting', async (url) => {
      const { gate: g, dials } = recordingGate([]);
      expect(await codeOf(g.request({ method: 'GET', url }))).toBe('E_GATE_BLOCKED');
      expect(dials).toEqual([]);
    });

    it('blocks a local test server when it is not allow-listed', async () => {
      const { gate: g, dials } = recordingGate([]);
      expect(await codeOf(g.request({ method: 'GET', url: `${server.url}/echo` }))).toBe(
        'E_GATE_BLOCKED',
      );
      expect(
        await codeOf(g.request({ method: 'GET', url: `https://${server.hostPort}/echo` })),
      ).toBe('E_GATE_BLOCKED');
      expect(dials).toEqual([]);
    });

    it('blocks a host name whose DNS answer mixes a public and a loopback address', async () => {
      const { gate: g, dials } = recordingGate([], () =>
        Promise.resolve([
          { address: '93.184.216.34', family: 4 },
          { address: '127.0.0.1', family: 4 },
        ]),
      );
      expect(await codeOf(g.request({ method: 'GET', url: 'https://rebind.test/' }))).toBe(
        'E_GATE_BLOCKED',
      );
      expect(dials).toEqual([]);
    });

    it('checks each connection’s own DNS answer: public first, then 127.0.0.1 (rebinding)', async () => {
      let calls = 0;
      const dials: string[] = [];
      // Stands in for the public host: a local TCP listener that hangs up at once.
      const sink = net.createServer((s) => s.destroy());
      await new Promise<void>((r) => sink.listen(0, '127.0.0.1', r));
      const sinkPort = (sink.address() as net.AddressInfo).port;
      const g = createGate(gateConfig([]), {
        resolver: () => {
          calls++;
          return Promise.resolve([
            { address: calls === 1 ? '93.184.216.34' : '127.0.0.1', family: 4 },
          ]);
        },
        // Never sends anything to 93.184.216.34: "dials" it by connecting to the sink, and
        // the kernel's remoteAddress (127.0.0.1) is what the gate then checks.
        dialer: (address, port) => {
          dials.push(`${address}:${port}`);
          return net.connect({ host: '127.0.0.1', port: sinkPort });
        },
      });
      // 1st request: the answer is public, but the socket's peer is loopback → refused.
      expect(await codeOf(g.request({ method: 'GET', url: 'https://rebind.test/' }))).toBe(
        'E_GATE_BLOCKED',
      );
      // 2nd request: the resolver now answers 127.0.0.1 → refused before any dial.
      expect(await codeOf(g.request({ method: 'GET', url: 'https://rebind.test/' }))).toBe(
        'E_GATE_BLOCKED',
      );
      expect(dials).toEqual(['93.184.216.34:443']);
      expect(calls).toBe(2);
      await new Promise<void>((r) => sink.close(() => r()));
    });

    it('blocks a redirect to the metadata address (http and https), without dialling it', async () => {
      const { gate: g, dials } = recordingGate([server.hostPort]);
      expect(
        await codeOf(g.request({ method: 'GET', url: `${server.url}/to-metadata-http` })),
      ).toBe('E_GATE_BLOCKED');
      expect(
        await codeOf(g.request({ method: 'GET', url: `${server.url}/to-metadata-https` })),
      ).toBe('E_GATE_BLOCKED');
      expect(
        await codeOf(g.request({ method: 'GET', url: `${server.url}/to-localhost-other-port` })),
      ).toBe('E_GATE_BLOCKED');
      expect(dials.every((d) => d === server.hostPort)).toBe(true);
    });
  });

  it('allows plain HTTP to an allow-listed host:port and follows a redirect', async () => {
    const res = await gate.request({
      method: 'POST',
      url: `${server.url}/redirect-once`,
      body: 'x',
    });
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body.toString())).toMatchObject({ url: '/echo', method: 'GET' });
    expect(res.remoteAddress).toBe('127.0.0.1');
  });

  it('drops credentials on a redirect to another origin, keeps them on the same origin', async () => {
    const other = await startServer((req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(req.headers));
    });
    const hop = await startServer((req, res) => {
      res.writeHead(302, { location: req.url === '/same' ? '/echo' : `${other.url}/echo` });
      res.end();
    });
    try {
      const g = createGate(gateConfig([hop.hostPort, other.hostPort]));
      const headers = { authorization: 'Bearer abc', 'x-api-key': 'k', accept: 'x/y' };
      const cross = await g.request({
        method: 'GET',
        url: `${hop.url}/cross`,
        headers,
        sensitiveHeaders: ['X-Api-Key'],
      });
      const seen = JSON.parse(cross.body.toString()) as Record<string, string>;
      expect(seen.authorization).toBeUndefined();
      expect(seen['x-api-key']).toBeUndefined();
      expect(seen.accept).toBe('x/y');
      await g.request({
        method: 'GET',
        url: `${hop.url}/same`,
        headers,
        sensitiveHeaders: ['x-api-key'],
      });
      expect(hop.requests.at(-1)!.headers['x-api-key']).toBe('k');
      expect(hop.requests.at(-1)!.headers.authorization).toBe('Bearer abc');
    } finally {
      await hop.close();
      await other.close();
    }
  });

  it(`stops after ${MAX_REDIRECTS} redirects`, async () => {
    expect(await codeOf(gate.request({ method: 'GET', url: `${server.url}/loop` }))).toBe(
      'E_GATE_TOO_MANY_REDIRECTS',
    );
  });

  it('caps the response size (declared and streamed)', async () => {
    expect(await codeOf(gate.request({ method: 'GET', url: `${server.url}/big` }))).toBe(
      'E_GATE_RESPONSE_TOO_LARGE',
    );
    expect(await codeOf(gate.request({ method: 'GET', url: `${server.url}/big-chunked` }))).toBe(
      'E_GATE_RESPONSE_TOO_LARGE',
    );
  });

  it('times out waiting for headers, and in total', async () => {
    expect(await codeOf(gate.request({ method: 'GET', url: `${server.url}/hang` }))).toBe(
      'E_GATE_TIMEOUT',
    );
    const started = Date.now();
    expect(await codeOf(gate.request({ method: 'GET', url: `${server.url}/slow-body` }))).toBe(
      'E_GATE_TIMEOUT',
    );
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  it('times out connecting', async () => {
    const g = createGate(gateConfig([], { connectTimeoutMs: 200 }), {
      resolver: () => Promise.resolve([{ address: '93.184.216.34', family: 4 }]),
      dialer: () => new net.Socket(), // never connects, sends nothing
    });
    expect(await codeOf(g.request({ method: 'GET', url: 'https://slow.test/' }))).toBe(
      'E_GATE_TIMEOUT',
    );
  });

  it('ignores proxy variables', async () => {
    const saved = { ...process.env };
    process.env.HTTP_PROXY = 'http://127.0.0.1:9';
    process.env.HTTPS_PROXY = 'http://127.0.0.1:9';
    process.env.http_proxy = 'http://127.0.0.1:9';
    try {
      const res = await gate.request({ method: 'GET', url: `${server.url}/echo` });
      expect(res.status).toBe(200);
    } finally {
      for (const k of ['HTTP_PROXY', 'HTTPS_PROXY', 'http_proxy']) delete process.env[k];
      Object.assign(process.env, saved);
    }
  });

  it('aborts with the step signal', async () => {
    const ctl = new AbortController();
    setTimeout(() => ctl.abort(), 50);
    expect(
      await codeOf(gate.request({ method: 'GET', url: `${server.url}/hang` }, ctl.signal)),
    ).toBe('E_STEP_CANCELED');
  });
});

describe('the gate over TLS', () => {
  it('verifies the certificate (also for an IP literal) and refuses an untrusted one', async () => {
    const certs = await makeTestCerts(
      path.join(os.tmpdir(), `sy-gate-tls-${process.pid}-${Date.now()}`),
    );
    const server = https.createServer(
      { cert: readFileSync(certs.serverCert), key: readFileSync(certs.serverKey) },
      (_req, res) => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end('{"tls":true}');
      },
    );
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as net.AddressInfo).port;
    try {
      const trusted = createGate(gateConfig([`127.0.0.1:${port}`]), {
        ca: [readFileSync(certs.caCert, 'utf8')],
      });
      const res = await trusted.request({ method: 'GET', url: `https://127.0.0.1:${port}/` });
      expect(JSON.parse(res.body.toString())).toEqual({ tls: true });
      const untrusted = createGate(gateConfig([`127.0.0.1:${port}`]), {
        ca: [readFileSync(certs.otherCaCert, 'utf8')],
      });
      expect(
        await codeOf(untrusted.request({ method: 'GET', url: `https://127.0.0.1:${port}/` })),
      ).toBe('E_NETWORK');
      // Not allow-listed: the loopback address is refused before any TLS.
      expect(
        await codeOf(
          createGate(gateConfig([])).request({ method: 'GET', url: `https://127.0.0.1:${port}/` }),
        ),
      ).toBe('E_GATE_BLOCKED');
    } finally {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
      rmSync(certs.dir, { recursive: true, force: true });
    }
  });
});
