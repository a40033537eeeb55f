import { createServer } from 'node:http';
import type { Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A minimal OpenAI chat-completions upstream whose health a test controls: a failure rate of
 * 500s, and down (connection refused) / up on the same port. For routing and load tests.
 */
export interface FaultyUpstream {
  readonly name: string;
  readonly baseURL: string;
  /** Requests that reached it, by outcome. */
  readonly served: { ok: number; failed: number };
  failRate: number;
  /** The status a failure answers with (default 500), in OpenAI's error shape. */
  failStatus: number;
  /** A Retry-After header for failures, when set. */
  retryAfter: string | undefined;
  down(): Promise<void>;
  up(): Promise<void>;
  close(): Promise<void>;
}

function completion(name: string, model: string): string {
  return JSON.stringify({
    id: `chatcmpl-${name}`,
    object: 'chat.completion',
    created: Math.floor(Date.now() / 1000),
    model,
    choices: [{ index: 0, message: { role: 'assistant', content: `served by ${name}` }, logprobs: null, finish_reason: 'stop' }],
    usage: { prompt_tokens: 5, completion_tokens: 3, total_tokens: 8 },
  });
}

function fail(res: ServerResponse, status = 500, retryAfter?: string): void {
  const error =
    status === 429
      ? { message: 'Rate limit reached for requests', type: 'requests', param: null, code: 'rate_limit_exceeded' }
      : status >= 500
        ? { message: 'The server had an error while processing your request.', type: 'server_error', param: null, code: null }
        : { message: `Request rejected (${status})`, type: 'invalid_request_error', param: null, code: null };
  const body = JSON.stringify({ error });
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), ...(retryAfter !== undefined && { 'retry-after': retryAfter }) });
  res.end(body);
}

export async function startFaultyUpstream(name: string, random: () => number = Math.random): Promise<FaultyUpstream> {
  let server: Server | undefined;
  let port = 0;
  const served = { ok: 0, failed: 0 };
  const state: { failRate: number; failStatus: number; retryAfter: string | undefined } = { failRate: 0, failStatus: 500, retryAfter: undefined };

  const listen = () =>
    new Promise<void>((resolve, reject) => {
      const s = createServer((req, res) => {
        const chunks: Buffer[] = [];
        req.on('data', (c: Buffer) => chunks.push(c));
        req.on('end', () => {
          let model = 'unknown';
          try {
            model = (JSON.parse(Buffer.concat(chunks).toString('utf8')) as { model?: string }).model ?? model;
          } catch {
            // a test upstream: any body is fine
          }
          if (random() < state.failRate) {
            served.failed++;
            return fail(res, state.failStatus, state.retryAfter);
          }
          served.ok++;
          const body = completion(name, model);
          res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
          res.end(body);
        });
      });
      s.keepAliveTimeout = 30_000;
      s.once('error', reject);
      s.listen(port, '127.0.0.1', () => {
        port = (s.address() as AddressInfo).port;
        server = s;
        resolve();
      });
    });

  const stop = () =>
    new Promise<void>((resolve) => {
      if (!server) return resolve();
      const s = server;
      server = undefined;
      s.close(() => resolve());
      s.closeAllConnections();
    });

  await listen();
  return {
    name,
    get baseURL() {
      return `http://127.0.0.1:${port}/v1`;
    },
    served,
    get failRate() {
      return state.failRate;
    },
    set failRate(v: number) {
      state.failRate = v;
    },
    get failStatus() {
      return state.failStatus;
    },
    set failStatus(v: number) {
      state.failStatus = v;
    },
    get retryAfter() {
      return state.retryAfter;
    },
    set retryAfter(v: string | undefined) {
      state.retryAfter = v;
    },
    down: stop,
    up: listen,
    close: stop,
  };
}
