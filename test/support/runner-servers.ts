import http from 'node:http';
import type { AddressInfo } from 'node:net';

export type Recorded = {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
};

export type LocalServer = {
  url: string;
  port: number;
  /** host:port for GATE_ALLOW_HTTP_HOSTS. */
  hostPort: string;
  requests: Recorded[];
  close(): Promise<void>;
};

/** A plain-HTTP server on 127.0.0.1 that records every request (body included). */
export async function startServer(
  handler: (req: Recorded, res: http.ServerResponse) => void | Promise<void>,
): Promise<LocalServer> {
  const requests: Recorded[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const rec: Recorded = {
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
      };
      requests.push(rec);
      Promise.resolve(handler(rec, res)).catch((err: unknown) => {
        res.statusCode = 500;
        res.end(String(err));
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    hostPort: `127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export function sendJson(
  res: http.ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
}
