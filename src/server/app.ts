import { timeOrderedId } from '../core/ids.js';
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { HubError } from '../core/errors.js';
import { openAIErrorBody } from '../protocols/openai-chat/errors.js';
import type { PriceBook } from '../catalog/prices.js';
import type { Registry } from '../routing/registry.js';
import type { Ledger } from '../tenancy/ledger.js';
import { Metrics } from '../usage/metrics.js';
import { logRecord } from './log.js';
import type { Logger } from './log.js';
import { RateLimiter } from '../tenancy/rate-limits.js';
import type { Tenancy } from '../tenancy/service.js';
import type { UsageRecorder } from '../usage/record.js';
import type { HubContext } from './context.js';
import { sendJSON } from './http.js';
import { chatCompletions } from './routes/chat.js';
import type { SQLiteStore } from '../store/sqlite.js';
import { admin } from './routes/admin.js';
import { me } from './routes/me.js';
import { serveStatic } from './static.js';
import { embeddings } from './routes/embeddings.js';
import { countTokens, messages } from './routes/messages.js';
import { createResponse, storedResponse } from './routes/responses.js';
import { getModel, listModels } from './routes/models.js';

export interface HubOptions {
  readonly registry: Registry;
  readonly recorder: UsageRecorder;
  readonly maxBodyBytes: number;
  readonly tenancy: Tenancy;
  readonly prices: PriceBook;
  readonly ledger: Ledger;
  readonly store: SQLiteStore;
  readonly logger: Logger;
  readonly captureBodies?: { readonly maxBytes: number };
}

export interface Hub {
  readonly server: Server;
  listen(port: number, host: string): Promise<string>;
  /** Stops accepting, lets in-flight requests finish (up to `graceMs`), then drains usage records. */
  close(graceMs?: number): Promise<void>;
}

function requestId(): string {
  return timeOrderedId('req_');
}

function notFound(res: ServerResponse, method: string, path: string): void {
  const e = new HubError('not_found', `Unknown request URL: ${method} ${path}.`, { code: 'unknown_url' });
  sendJSON(res, 404, openAIErrorBody(e));
}

function methodNotAllowed(res: ServerResponse, method: string, path: string, allow: string): void {
  const e = new HubError('bad_request', `Method ${method} is not allowed on ${path}; use ${allow}.`, {
    status: 405,
    code: 'method_not_allowed',
  });
  sendJSON(res, 405, openAIErrorBody(e), { allow });
}

export function createHub(o: HubOptions): Hub {
  const ctx: HubContext = {
    registry: o.registry,
    recorder: o.recorder,
    maxBodyBytes: o.maxBodyBytes,
    captureBodies: o.captureBodies,
    tenancy: o.tenancy,
    prices: o.prices,
    ledger: o.ledger,
    limiter: new RateLimiter(),
    store: o.store,
    startedAt: Math.floor(Date.now() / 1000),
  };

  /** Answers 401 itself when the caller may not use the model API. */
  function authenticated(req: IncomingMessage, res: ServerResponse): boolean {
    try {
      ctx.tenancy.authenticate(req.headers);
      return true;
    } catch (err) {
      const e = err instanceof HubError ? err : new HubError('authentication', 'Invalid API key.');
      sendJSON(res, e.status, openAIErrorBody(e));
      return false;
    }
  }

  const metrics = new Metrics(o.registry);
  o.recorder.onRecord((r) => {
    metrics.observe(r);
    logRecord(o.logger, r);
  });

  function route(req: IncomingMessage, res: ServerResponse): void | Promise<void> {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q === -1 ? url : url.slice(0, q);
    const method = req.method ?? 'GET';
    switch (path) {
      case '/v1/chat/completions':
      case '/chat/completions':
        return method === 'POST' ? chatCompletions(ctx, req, res, requestId()) : methodNotAllowed(res, method, path, 'POST');
      case '/v1/embeddings':
      case '/embeddings':
        return method === 'POST' ? embeddings(ctx, req, res, requestId()) : methodNotAllowed(res, method, path, 'POST');
      case '/v1/responses':
      case '/responses':
        return method === 'POST' ? createResponse(ctx, req, res, requestId()) : methodNotAllowed(res, method, path, 'POST');
      case '/v1/messages':
        return method === 'POST' ? messages(ctx, req, res, requestId()) : methodNotAllowed(res, method, path, 'POST');
      case '/v1/messages/count_tokens':
        return method === 'POST' ? countTokens(ctx, req, res, requestId()) : methodNotAllowed(res, method, path, 'POST');
      case '/v1/models':
      case '/models':
        if (method !== 'GET') return methodNotAllowed(res, method, path, 'GET');
        return authenticated(req, res) ? listModels(ctx, req, res) : undefined;
      case '/healthz':
        return sendJSON(res, 200, { status: 'ok' });
      case '/metrics':
        return metrics.text().then((text) => {
          res.writeHead(200, { 'content-type': metrics.registry.contentType });
          res.end(text);
        });
    }
    const query = () => new URLSearchParams(q === -1 ? '' : url.slice(q + 1));
    if (path.startsWith('/admin/')) return admin(ctx, req, res, path, query());
    if (path === '/v1/me' || path.startsWith('/v1/me/') || path.startsWith('/v1/arena/')) return me(ctx, req, res, path, query());
    if (method === 'GET' && (path === '/' || path.startsWith('/assets/') || path === '/favicon.svg')) return serveStatic(res, path);
    if (path.startsWith('/v1/responses/') && (method === 'GET' || method === 'DELETE')) {
      return storedResponse(ctx, req, res, decodeURIComponent(path.slice('/v1/responses/'.length)));
    }
    for (const prefix of ['/v1/models/', '/models/']) {
      if (path.startsWith(prefix) && path.length > prefix.length) {
        if (method !== 'GET') return methodNotAllowed(res, method, path, 'GET');
        if (!authenticated(req, res)) return;
        let id: string;
        try {
          id = decodeURIComponent(path.slice(prefix.length));
        } catch {
          id = path.slice(prefix.length);
        }
        return getModel(ctx, req, res, id);
      }
    }
    return notFound(res, method, path);
  }

  const server = createServer({ keepAliveTimeout: 65_000 }, (req, res) => {
    const r = route(req, res);
    if (r) {
      r.catch((err: unknown) => {
        // Route handlers answer their own errors; this is the last line of defence.
        o.logger.error({ msg: 'unhandled error in request handler', err_name: (err as Error)?.name, err_message: (err as Error)?.message });
        if (!res.headersSent) sendJSON(res, 500, openAIErrorBody(new HubError('upstream', 'Internal error', { status: 500 })));
        else res.destroy();
      });
    }
  });
  server.headersTimeout = 66_000;

  return {
    server,
    listen(port, host) {
      return new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => {
          server.off('error', reject);
          const a = server.address() as AddressInfo;
          const h = a.family === 'IPv6' ? `[${a.address}]` : a.address;
          resolve(`http://${h}:${a.port}`);
        });
      });
    },
    async close(graceMs = 10_000) {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      const timer = setTimeout(() => server.closeAllConnections(), graceMs);
      timer.unref();
      await closed;
      clearTimeout(timer);
      await o.recorder.close();
    },
  };
}
