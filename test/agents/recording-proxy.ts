/**
 * A loopback pass-through proxy put between a coding agent and the hub, so a test can see exactly
 * what the agent sent (method, path, body) and what the hub answered (status, body), and print it
 * when something goes wrong. Bytes are forwarded unchanged in both directions, streams included.
 */
import { createServer, request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ProxiedExchange {
  method: string;
  /** Path and query as the agent sent them, e.g. `/v1/messages?beta=true`. */
  url: string;
  headers: Record<string, string | string[] | undefined>;
  /** Parsed JSON request body, or the raw text when it was not JSON. */
  body: any;
  /** The hub's status (undefined while the answer has not started). */
  status?: number;
  /** The hub's answer as text (a whole SSE stream for streaming requests). */
  response: string;
}

export interface RecordingProxy {
  /** e.g. http://127.0.0.1:54321 (no trailing slash, no /v1). */
  readonly url: string;
  readonly exchanges: ProxiedExchange[];
  close(): Promise<void>;
}

function parse(raw: Buffer): any {
  if (raw.length === 0) return undefined;
  const text = raw.toString('utf8');
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

export async function startRecordingProxy(target: string): Promise<RecordingProxy> {
  const to = new URL(target);
  const exchanges: ProxiedExchange[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks);
      const ex: ProxiedExchange = { method: req.method ?? 'GET', url: req.url ?? '/', headers: req.headers, body: parse(raw), response: '' };
      exchanges.push(ex);
      const upstream = httpRequest(
        { host: to.hostname, port: to.port, method: req.method, path: req.url, headers: { ...req.headers, host: to.host } },
        (answer) => {
          ex.status = answer.statusCode;
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.on('data', (d: Buffer) => {
            ex.response += d.toString('utf8');
            res.write(d);
          });
          answer.on('end', () => res.end());
          answer.on('error', () => res.destroy());
        },
      );
      upstream.on('error', (err) => {
        ex.status = 502;
        ex.response = `proxy error: ${err.message}`;
        if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' });
        res.end(ex.response);
      });
      res.on('close', () => upstream.destroy());
      upstream.end(raw);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    exchanges,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A short, readable account of the exchanges, for assertion messages. */
export function describeExchanges(exchanges: readonly ProxiedExchange[], max = 2000): string {
  return exchanges
    .map((e) => {
      const failed = (e.status ?? 0) >= 400;
      return `${e.method} ${e.url} -> ${e.status ?? 'no answer'}${failed ? `\n  ${e.response.slice(0, max)}` : ''}`;
    })
    .join('\n');
}
