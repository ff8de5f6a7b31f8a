/**
 * A small HTTP load balancer for the scale-out tests, on 127.0.0.1 only: each request goes to
 * the next backend in turn (round robin per request, not per TCP connection, so that a client
 * with keep-alive still spreads its requests as Traefik or nginx would). A backend that refuses
 * the connection (its process is dead) is skipped and the request tried on the next one, which
 * is safe because nothing was sent; any other failure answers 502 and the client decides.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export type LoadBalancer = {
  url: string;
  /** Requests answered by each backend, by index. */
  served: number[];
  close(): Promise<void>;
};

export async function startLoadBalancer(backendPorts: number[]): Promise<LoadBalancer> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  const served = backendPorts.map(() => 0);
  let next = 0;
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => forward(Buffer.concat(chunks), 0));

    function forward(body: Buffer, tried: number): void {
      const index = next++ % backendPorts.length;
      const upstream = http.request(
        {
          host: '127.0.0.1',
          port: backendPorts[index],
          method: req.method,
          path: req.url,
          headers: { ...req.headers, 'x-forwarded-for': req.socket.remoteAddress ?? '' },
          agent,
        },
        (up) => {
          served[index] = (served[index] ?? 0) + 1;
          res.writeHead(up.statusCode ?? 502, up.headers);
          up.pipe(res);
        },
      );
      upstream.on('error', (err: NodeJS.ErrnoException) => {
        if (res.headersSent) {
          res.destroy();
          return;
        }
        if (err.code === 'ECONNREFUSED' && tried + 1 < backendPorts.length) {
          forward(body, tried + 1);
          return;
        }
        res.writeHead(502, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: 'bad gateway', cause: err.code ?? err.message }));
      });
      upstream.end(body);
    }
  });
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    served,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      agent.destroy();
    },
  };
}
