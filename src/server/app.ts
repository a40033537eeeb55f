import { compileHooks } from '../gateway/hooks.js';
import type { Hook } from '../gateway/hooks.js';
import { timeOrderedId } from '../core/ids.js';
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { HubError } from '../core/errors.js';
import { openAIErrorBody } from '../protocols/openai-chat/errors.js';
import type { PriceBook } from '../catalog/prices.js';
import type { Registry } from '../routing/registry.js';
import type { BudgetLedger, RateLimits } from '../tenancy/ports.js';
import { Metrics } from '../usage/metrics.js';
import type { MetricsGroup } from '../usage/metrics.js';
import { logRecord } from './log.js';
import type { Logger } from './log.js';
import { RateLimiter } from '../tenancy/rate-limits.js';
import type { Tenancy } from '../tenancy/service.js';
import type { UsageRecorder } from '../usage/record.js';
import type { HubContext, HubStores } from './context.js';
import type { Gateway } from '../gateway/context.js';
import { decodePathPart, malformedPath, parseQuery, sendJSON } from './http.js';
import { anthropicErrorBody } from '../protocols/anthropic-messages/errors.js';
import { chatCompletions } from './routes/chat.js';
import { admin } from './routes/admin.js';
import { me } from './routes/me.js';
import { serveStatic } from './static.js';
import { embeddings } from './routes/embeddings.js';
import { rerank } from './routes/rerank.js';
import { files } from './routes/files.js';
import { evalsApi } from './routes/evals.js';
import { EvalRunService } from '../eval/service.js';
import { vectorStores } from './routes/vector-stores.js';
import type { KnowledgeService } from '../knowledge/vector-stores.js';
import { countTokens, messages } from './routes/messages.js';
import { createResponse, storedResponse } from './routes/responses.js';
import { getModel, listModels } from './routes/models.js';

export interface HubOptions {
  readonly registry: Registry;
  readonly recorder: UsageRecorder;
  readonly maxBodyBytes: number;
  readonly tenancy: Tenancy;
  readonly prices: PriceBook;
  readonly ledger: BudgetLedger;
  /** Rate limits; default in this process's memory (a Redis one is shared by replicas). */
  readonly limiter?: RateLimits;
  readonly stores: HubStores;
  /** Vector stores, made once the gateway exists (their ingestion runner is closed by whoever made it). */
  readonly knowledge?: ((gateway: Gateway) => KnowledgeService) | undefined;
  readonly logger: Logger;
  /** The hooks every model call runs through, in order (gateway/hooks.ts; body capture is one). */
  readonly hooks?: readonly Hook[];
  readonly limits?: ConnectionLimits;
  /** `required`: /metrics needs the admin key. Default `none`. */
  readonly metricsAuth?: 'required' | 'none';
  /** The other processes a scrape of /metrics answers for too (`baimo serve --workers N`); none: this one alone. */
  readonly metricsGroup?: MetricsGroup | undefined;
  /** Where eval runs through the API cache answers (the data directory's, shared with the CLI); none: no cache. */
  readonly evalCacheDir?: string | undefined;
}

/** How many sockets the hub holds at once and how long a client may take to send a request. */
export interface ConnectionLimits {
  /** Connections beyond this are closed as soon as they are accepted. */
  readonly maxConnections: number;
  /** Time from a request's first byte until its headers are complete. */
  readonly headersTimeoutMs: number;
  /** Time from a request's first byte until its whole body is received (not the response: streams are never cut by it). */
  readonly requestTimeoutMs: number;
}

export interface Hub {
  readonly server: Server;
  listen(port: number, host: string): Promise<string>;
  /** Stops accepting, lets in-flight requests finish (up to `graceMs`), then drains usage records. */
  close(graceMs?: number): Promise<void>;
}

function clientErrorAnswer(code: string | undefined): [number, string, string] {
  if (code === 'HPE_HEADER_OVERFLOW') return [431, 'Request Header Fields Too Large', 'The request line and headers are larger than the hub accepts (16 KB in all).'];
  if (code === 'ERR_HTTP_REQUEST_TIMEOUT') return [408, 'Request Timeout', 'The request was not received in time (headersTimeoutMs / requestTimeoutMs).'];
  return [400, 'Bad Request', 'Malformed HTTP request.'];
}

export const DEFAULT_LIMITS: ConnectionLimits = { maxConnections: 4096, headersTimeoutMs: 30_000, requestTimeoutMs: 120_000 };

function requestId(): string {
  return timeOrderedId('req_');
}

function notFound(res: ServerResponse, method: string, path: string): void {
  if (path.startsWith('/v1/v1/')) {
    // A client whose base URL already ends in /v1 and that adds /v1 itself (the Anthropic SDKs do).
    const anthropic = path.startsWith('/v1/v1/messages');
    const e = new HubError(
      'not_found',
      `Unknown request URL: ${method} ${path}. The path has /v1 twice: remove /v1 from the end of the client's base URL` +
        (anthropic ? ' (an Anthropic SDK wants http://host:port, without /v1).' : ' (an OpenAI SDK wants http://host:port/v1; other clients may add /v1 themselves).'),
      { code: 'unknown_url' },
    );
    return sendJSON(res, 404, anthropic ? anthropicErrorBody(e) : openAIErrorBody(e));
  }
  const e = new HubError('not_found', `Unknown request URL: ${method} ${path}.`, { code: 'unknown_url' });
  sendJSON(res, 404, openAIErrorBody(e));
}

/** The answer to an error of the hub's own making: no detail, and never blamed on an upstream. */
const INTERNAL_ERROR = openAIErrorBody(new HubError('internal', 'Internal error in the hub; the details are in its log.', { code: 'internal_error' }));

function methodNotAllowed(res: ServerResponse, method: string, path: string, allow: string): void {
  const e = new HubError('bad_request', `Method ${method} is not allowed on ${path}; use ${allow}.`, {
    status: 405,
    code: 'method_not_allowed',
  });
  sendJSON(res, 405, openAIErrorBody(e), { allow });
}

export function createHub(o: HubOptions): Hub {
  // Knowledge is made from the gateway (its models are the gateway's calls) and is part of it (a
  // knowledge-grounded model retrieves through it), so it is set once made.
  const gateway: { -readonly [K in keyof Gateway]: Gateway[K] } = {
    registry: o.registry,
    recorder: o.recorder,
    hooks: compileHooks(o.hooks ?? []),
    prices: o.prices,
    ledger: o.ledger,
    limiter: o.limiter ?? new RateLimiter(),
  };
  const knowledge = o.knowledge?.(gateway);
  gateway.knowledge = knowledge;
  const evals = o.stores.evalRuns && new EvalRunService(gateway, o.stores.evalRuns, { cacheDir: o.evalCacheDir, warn: (msg, err) => o.logger.warn({ msg, err_message: (err as Error)?.message }) });
  const ctx: HubContext = {
    ...gateway,
    maxBodyBytes: o.maxBodyBytes,
    tenancy: o.tenancy,
    stores: o.stores,
    knowledge,
    evals,
    startedAt: Math.floor(Date.now() / 1000),
  };

  /** Runs an auth check; answers its refusal itself (OpenAI shape) and says whether to go on. */
  function allowed(res: ServerResponse, check: () => unknown): boolean {
    try {
      check();
      return true;
    } catch (err) {
      refuse(res, err);
      return false;
    }
  }
  /** Answers a refusal (a HubError) in the OpenAI shape; anything else is the hub's own fault. */
  function refuse(res: ServerResponse, err: unknown): void {
    if (!(err instanceof HubError)) throw err;
    sendJSON(res, err.status, openAIErrorBody(err));
  }
  /**
   * Runs `then` if the caller may use the model API, else answers 401 itself. Waits only when a
   * store shared with other hubs is asked about a key the cache does not know (made on another).
   */
  const whenAuthenticated = (req: IncomingMessage, res: ServerResponse, then: () => void | Promise<void>): void | Promise<void> => {
    let known: ReturnType<Tenancy['authenticateShared']>;
    try {
      known = ctx.tenancy.authenticateShared(req.headers);
    } catch (err) {
      return refuse(res, err);
    }
    if (!(known instanceof Promise)) return then();
    return known.then(then, (err: unknown) => refuse(res, err));
  };
  /** Scrapes need the admin key when metricsAuth is `required`. */
  const mayScrape = (req: IncomingMessage, res: ServerResponse): boolean => o.metricsAuth !== 'required' || allowed(res, () => ctx.tenancy.requireAdmin(req.headers));

  const metrics = new Metrics(o.registry, o.metricsGroup);
  o.recorder.onRecord((r) => {
    metrics.observe(r);
    logRecord(o.logger, r);
  });

  function route(req: IncomingMessage, res: ServerResponse): void | Promise<void> {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q === -1 ? url : url.slice(0, q);
    const method = req.method ?? 'GET';
    if (path.includes('%')) {
      try {
        decodeURIComponent(path);
      } catch {
        return sendJSON(res, 400, openAIErrorBody(malformedPath()));
      }
    }
    switch (path) {
      case '/v1/chat/completions':
      case '/chat/completions':
        return method === 'POST' ? chatCompletions(ctx, req, res, requestId()) : methodNotAllowed(res, method, path, 'POST');
      case '/v1/embeddings':
      case '/embeddings':
        return method === 'POST' ? embeddings(ctx, req, res, requestId()) : methodNotAllowed(res, method, path, 'POST');
      case '/v1/rerank':
      case '/rerank':
        return method === 'POST' ? rerank(ctx, req, res, requestId()) : methodNotAllowed(res, method, path, 'POST');
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
        return whenAuthenticated(req, res, () => listModels(ctx, req, res));
      case '/healthz':
        return sendJSON(res, 200, { status: 'ok' });
      case '/metrics':
        if (!mayScrape(req, res)) return;
        return metrics.text().then((text) => {
          res.writeHead(200, { 'content-type': metrics.registry.contentType });
          res.end(text);
        });
    }
    const query = () => parseQuery(q === -1 ? '' : url.slice(q + 1));
    if (path.startsWith('/admin/')) return admin(ctx, req, res, path, query());
    if (path === '/v1/me' || path.startsWith('/v1/me/') || path.startsWith('/v1/arena/')) return me(ctx, req, res, path, query());
    if (method === 'GET' && (path === '/' || path.startsWith('/assets/') || path === '/favicon.svg')) return serveStatic(res, path);
    if (path === '/v1/files' || path.startsWith('/v1/files/')) return files(ctx, req, res, decodePathPart(path.slice('/v1/files'.length)), query());
    if (path.startsWith('/v1/evals/')) return evalsApi(ctx, req, res, decodePathPart(path.slice('/v1/evals'.length)), query());
    if (path === '/v1/vector_stores' || path.startsWith('/v1/vector_stores/')) return vectorStores(ctx, req, res, decodePathPart(path.slice('/v1/vector_stores'.length)), query());
    if (path.startsWith('/v1/responses/') && (method === 'GET' || method === 'DELETE')) {
      return storedResponse(ctx, req, res, decodePathPart(path.slice('/v1/responses/'.length)));
    }
    for (const prefix of ['/v1/models/', '/models/']) {
      if (path.startsWith(prefix) && path.length > prefix.length) {
        if (method !== 'GET') return methodNotAllowed(res, method, path, 'GET');
        const name = decodePathPart(path.slice(prefix.length));
        return whenAuthenticated(req, res, () => getModel(ctx, req, res, name));
      }
    }
    return notFound(res, method, path);
  }

  /**
   * The last line of defence: route handlers answer their own errors, so anything that reaches
   * here is either a client error raised outside a handler (answered as such) or the hub's own
   * fault — logged, answered 500, and never blamed on an upstream.
   */
  function failed(req: IncomingMessage, res: ServerResponse, err: unknown): void {
    if (err instanceof HubError && err.kind !== 'upstream' && err.kind !== 'internal') {
      if (!res.headersSent) sendJSON(res, err.status, openAIErrorBody(err));
      else res.destroy();
      return;
    }
    o.logger.error({ msg: 'unhandled error in request handler', method: req.method, path: (req.url ?? '').split('?')[0]!.slice(0, 200), err_name: (err as Error)?.name, err_message: (err as Error)?.message });
    if (!res.headersSent) sendJSON(res, 500, INTERNAL_ERROR);
    else res.destroy();
  }

  const limits = o.limits ?? DEFAULT_LIMITS;
  const server = createServer(
    {
      keepAliveTimeout: 65_000,
      headersTimeout: limits.headersTimeoutMs,
      requestTimeout: limits.requestTimeoutMs,
      // How often Node looks for requests past those timeouts (its default, 30 s, would let a
      // slow client hold a socket half a minute longer than configured).
      connectionsCheckingInterval: Math.min(30_000, Math.max(100, Math.floor(Math.min(limits.headersTimeoutMs, limits.requestTimeoutMs) / 10))),
    },
    (req, res) => {
      let r: void | Promise<void>;
      try {
        r = route(req, res);
      } catch (err) {
        return failed(req, res, err);
      }
      if (r) r.catch((err: unknown) => failed(req, res, err));
    },
  );
  // Requests Node refuses before any handler runs (a malformed request line, headers over its
  // 16 KB limit, a client too slow to send its request) still get an error body a client can read.
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
    const started = (socket as { _httpMessage?: { headersSent?: boolean } })._httpMessage?.headersSent === true;
    if (err.code === 'ECONNRESET' || !socket.writable || started) return void socket.destroy();
    const [status, reason, message] = clientErrorAnswer(err.code);
    const body = JSON.stringify(openAIErrorBody(new HubError(status === 408 ? 'timeout' : 'bad_request', message, { status, code: 'invalid_http_request' })));
    socket.end(`HTTP/1.1 ${status} ${reason}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`);
  });
  server.maxConnections = limits.maxConnections;
  let lastDropWarning = 0;
  server.on('drop', () => {
    const now = Date.now();
    if (now - lastDropWarning < 10_000) return;
    lastDropWarning = now;
    o.logger.warn({ msg: 'connection refused: the hub holds maxConnections sockets already', max_connections: limits.maxConnections });
  });

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
      // Eval runs under way are stopped first (their calls are recorded like any other), kept as 'interrupted'.
      await evals?.close();
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
