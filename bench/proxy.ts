/**
 * The calibration proxy: a plain-Node keep-alive pass-through that does nothing but relay
 * (node:http server in, node:http Agent with keep-alive out, bodies piped both ways). It is
 * the ceiling of any Node gateway on this machine, so the hub is judged against it rather
 * than against the upstream alone.
 *
 *   node --import tsx bench/proxy.ts --upstream <port>
 *
 * Prints its port on stdout when listening.
 */
import { Agent, createServer, request } from 'node:http';
import { parseArgs } from 'node:util';
import { serveOnLoopback } from './serve.js';

const { values } = parseArgs({ options: { upstream: { type: 'string' }, port: { type: 'string' } } });
const upstreamPort = Number(values.upstream);
const agent = new Agent({ keepAlive: true, maxSockets: 4096, maxFreeSockets: 4096 });
const HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade']);
const strip = (h: Record<string, string | string[] | undefined>) => Object.fromEntries(Object.entries(h).filter(([k]) => !HOP.has(k)));

const server = createServer((req, res) => {
  const up = request({ host: '127.0.0.1', port: upstreamPort, agent, method: req.method, path: req.url, headers: strip(req.headers) }, (ur) => {
    res.writeHead(ur.statusCode ?? 502, strip(ur.headers));
    ur.pipe(res);
  });
  up.on('error', () => { if (!res.headersSent) res.writeHead(502); res.end(); });
  res.on('close', () => { if (!res.writableFinished) up.destroy(); });
  req.pipe(up);
});
serveOnLoopback(server, Number(values.port ?? 0));
