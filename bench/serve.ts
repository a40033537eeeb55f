import type { Server } from 'node:http';

/**
 * Starts a benchmark child's server on loopback with long keep-alive, prints its port on stdout
 * when listening, and exits with the benchmark that started it, even if that was killed
 * without cleaning up.
 */
export function serveOnLoopback(server: Server, port: number): void {
  server.keepAliveTimeout = 120_000;
  server.headersTimeout = 121_000;
  server.requestTimeout = 0;
  server.listen(port, '127.0.0.1', () => {
    const addr = server.address();
    process.stdout.write(`${typeof addr === 'object' && addr ? addr.port : 0}\n`);
  });
  const parent = process.ppid;
  setInterval(() => { if (process.ppid !== parent) process.exit(0); }, 1000).unref();
}
