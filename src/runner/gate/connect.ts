/**
 * Opens the socket of one outgoing request. We resolve and dial ourselves (instead of
 * handing a host name to node:http) so that the address we check is the address we connect
 * to: every DNS answer is checked before dialling, and the socket's remoteAddress is checked
 * again once connected. No agent, no keep-alive, no proxy: nothing is reused or inherited.
 */
import dns from 'node:dns';
import net from 'node:net';
import tls from 'node:tls';
import { SwitchyardError } from '../../model/errors.ts';
import { checkAddress } from './address-policy.ts';

export type ResolvedAddress = { address: string; family: 4 | 6 };
/** Resolves a host name to all its addresses (injected in tests to simulate DNS rebinding). */
export type Resolver = (host: string) => Promise<ResolvedAddress[]>;
/** Dials a TCP connection to an already-checked address (injected in tests only). */
export type Dialer = (address: string, port: number) => net.Socket;

export const systemResolver: Resolver = async (host) => {
  const answers = await dns.promises.lookup(host, { all: true, order: 'verbatim' });
  return answers.map((a) => ({ address: a.address, family: a.family === 6 ? 6 : 4 }));
};

export const tcpDialer: Dialer = (address, port) => net.connect({ host: address, port });

export type ConnectTarget = {
  /** URL host name without brackets. */
  host: string;
  port: number;
  tls: boolean;
  /** Loopback addresses are allowed for this target (operator allow-list). */
  allowLoopback: boolean;
};

export async function openSocket(
  target: ConnectTarget,
  opts: {
    resolver: Resolver;
    dialer: Dialer;
    connectTimeoutMs: number;
    signal: AbortSignal;
    /** Extra trusted CA certificates (PEM), replacing the system store; tests only. */
    ca?: string[];
  },
): Promise<net.Socket> {
  const name = target.host.toLowerCase().replace(/\.$/, '');
  // RFC 6761: localhost names are loopback whatever a resolver says.
  if (!target.allowLoopback && (name === 'localhost' || name.endsWith('.localhost')))
    throw new SwitchyardError('E_GATE_BLOCKED', `Blocked: ${target.host} is a loopback name`, {
      host: target.host,
      range: 'loopback',
    });
  const addresses =
    net.isIP(target.host) !== 0
      ? [target.host]
      : (await resolve(opts.resolver, target.host)).map((a) => a.address);
  if (addresses.length === 0)
    throw new SwitchyardError('E_NETWORK', `DNS: no address for ${target.host}`);
  // Every answer must pass: a resolver that mixes a public and a private answer is hostile.
  for (const a of addresses) assertAllowed(a, target);
  const address = addresses[0]!;
  const socket = opts.dialer(address, target.port);
  try {
    await waitFor(socket, 'connect', opts.connectTimeoutMs, opts.signal, target);
    // The kernel's view of the peer: catches any dialer or resolver that lied to us.
    assertAllowed(socket.remoteAddress ?? '', target);
    if (!target.tls) return socket;
    const secure = tls.connect({
      socket,
      // host: what the certificate is checked against (an IP literal too); SNI only for names.
      host: target.host,
      servername: net.isIP(target.host) === 0 ? target.host : undefined,
      ALPNProtocols: ['http/1.1'],
      minVersion: 'TLSv1.2',
      ...(opts.ca ? { ca: opts.ca } : {}),
    });
    await waitFor(secure, 'secureConnect', opts.connectTimeoutMs, opts.signal, target);
    return secure;
  } catch (err) {
    socket.destroy();
    throw err;
  }
}

function assertAllowed(address: string, target: ConnectTarget): void {
  const verdict = checkAddress(address);
  if (verdict.allowed) return;
  if (target.allowLoopback && isLoopback(address)) return;
  throw new SwitchyardError(
    'E_GATE_BLOCKED',
    `Blocked: ${target.host} resolves to ${address} (${verdict.range}); only public addresses are allowed`,
    { host: target.host, address, range: verdict.range },
  );
}

function isLoopback(address: string): boolean {
  const v = checkAddress(address);
  return !v.allowed && (v.range === 'loopback' || v.range === 'ipv4Mapped(loopback)');
}

async function resolve(resolver: Resolver, host: string): Promise<ResolvedAddress[]> {
  try {
    return await resolver(host);
  } catch (err) {
    throw new SwitchyardError(
      'E_NETWORK',
      `DNS lookup of ${host} failed: ${(err as Error).message}`,
      { host },
      err,
    );
  }
}

function waitFor(
  socket: net.Socket,
  event: 'connect' | 'secureConnect',
  timeoutMs: number,
  signal: AbortSignal,
  target: ConnectTarget,
): Promise<void> {
  return new Promise((resolve, reject) => {
    const done = (err?: Error) => {
      clearTimeout(timer);
      socket.off(event, onOk);
      socket.off('error', onError);
      signal.removeEventListener('abort', onAbort);
      if (err) reject(err);
      else resolve();
    };
    const onOk = () => done();
    const onError = (err: Error) =>
      done(
        new SwitchyardError(
          'E_NETWORK',
          `${event === 'connect' ? 'Connecting to' : 'TLS with'} ${target.host}:${target.port} failed: ${err.message}`,
          { host: target.host },
          err,
        ),
      );
    const onAbort = () =>
      done(signal.reason instanceof Error ? signal.reason : new Error('aborted'));
    const timer = setTimeout(
      () =>
        done(
          new SwitchyardError(
            'E_GATE_TIMEOUT',
            `Connecting to ${target.host}:${target.port} took longer than ${timeoutMs} ms`,
            { host: target.host, phase: 'connect' },
          ),
        ),
      timeoutMs,
    );
    socket.once(event, onOk);
    socket.once('error', onError);
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
  });
}
