/**
 * The server scaffolding every loopback upstream (openai.ts, anthropic.ts, gemini.ts) stands on:
 * listen on a free loopback port, log each request with its parsed JSON body, count the clients
 * that leave before their answer is finished, turn a bug in a fixture into a 500, and close every
 * socket on close. Each upstream keeps only what its provider does differently: routes, auth,
 * wire shapes and error bodies. Only node:http is used, so the fixtures cannot drift with a
 * dependency.
 */
import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RecordedRequest {
  method: string;
  path: string;
  headers: Record<string, string | string[] | undefined>;
  /** Parsed JSON body, or undefined when there was none or it was not valid JSON. */
  body: any;
}

/** One request as the scaffolding hands it to an upstream's handler. */
export interface Incoming<R extends RecordedRequest> {
  /** Already in the request log; its `body` is set when the body parsed. */
  record: R;
  /** The parsed JSON body; undefined when there was none or it was not valid JSON. */
  body: unknown;
  /** JSON.parse's message when the body was present but not valid JSON. */
  badJson: string | undefined;
  /** Call before cutting an answer on purpose, so the cut is not counted as a client leaving. */
  markCut: () => void;
}

/** What every loopback upstream's start function returns. */
export interface LoopbackUpstream<R extends RecordedRequest = RecordedRequest> {
  /** Where a client points its SDK, e.g. http://127.0.0.1:54321/v1 */
  readonly baseURL: string;
  /** Every request received, in arrival order. */
  readonly requests: R[];
  /** Number of requests whose client went away before the response finished. */
  readonly aborted: () => number;
  /** Closes the server and every open socket. */
  close(): Promise<void>;
}

/** What every loopback upstream's start function takes. */
export interface LoopbackUpstreamOptions {
  /** When set, every request must carry this key, where and how the provider expects it. */
  apiKey?: string;
  /** How long model `slow` waits before sending headers. Default 1500 ms. */
  slowFirstByteMs?: number;
}

export interface LoopbackOptions<R extends RecordedRequest> {
  /** The path the SDKs' base URL ends with (`/v1`, `/v1beta`, or '' when the SDK adds it). */
  basePath: string;
  /** What the request log keeps of a request (its `body` is filled in later). */
  record(req: IncomingMessage): R;
  /** Answers one request; a throw becomes `fixtureError` (or a cut once headers are out). */
  handle(req: IncomingMessage, res: ServerResponse, incoming: Incoming<R>): Promise<void>;
  /** Sends the provider's own 500 for a bug in the fixture, so it fails loudly instead of hanging a test. */
  fixtureError(res: ServerResponse, message: string): void;
}

/** The log entry most upstreams keep: method, path without the query, headers. */
export function basicRecord(req: IncomingMessage): RecordedRequest {
  const path = (req.url ?? '/').split('?')[0] ?? '/';
  return { method: req.method ?? 'GET', path, headers: { ...req.headers }, body: undefined };
}

/** The request's body as text; a client that goes away mid-body gives what arrived. */
export function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    // A client that goes away mid-body still gets recorded with what arrived.
    req.on('error', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('aborted', () => resolve(Buffer.concat(chunks).toString('utf8')));
  });
}

export async function startLoopback<R extends RecordedRequest>(opts: LoopbackOptions<R>): Promise<LoopbackUpstream<R>> {
  const requests: R[] = [];
  let abortedCount = 0;
  let closing = false;

  async function receive(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const record = opts.record(req);
    requests.push(record);

    let cutOnPurpose = false;
    const markCut = () => (cutOnPurpose = true);
    res.on('close', () => {
      // A response that closes unfinished means the client left, unless we cut it or are shutting down.
      if (!res.writableFinished && !cutOnPurpose && !closing) abortedCount++;
    });

    const raw = await readBody(req);
    let body: unknown;
    let badJson: string | undefined;
    if (raw.length > 0) {
      try {
        body = JSON.parse(raw);
        record.body = body;
      } catch (err) {
        badJson = err instanceof Error ? err.message : String(err);
      }
    }
    await opts.handle(req, res, { record, body, badJson, markCut });
  }

  const server = createServer((req, res) => {
    receive(req, res).catch((err: unknown) => {
      if (!res.headersSent && !res.destroyed) {
        opts.fixtureError(res, `upstream fixture error: ${String(err)}`);
      } else {
        res.destroy();
      }
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;

  return {
    baseURL: `http://127.0.0.1:${port}${opts.basePath}`,
    requests,
    aborted: () => abortedCount,
    close() {
      closing = true;
      return new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      });
    },
  };
}

/** Resolves after `ms`, or as soon as the response closes (so a gone client stops a wait early). */
export function sleep(ms: number, res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    if (res.destroyed) return resolve();
    const timer = setTimeout(done, ms);
    res.once('close', done);
    function done() {
      clearTimeout(timer);
      res.off('close', done);
      resolve();
    }
  });
}

/** Writes, then kills the socket once the bytes are flushed, so the client sees them and then a cut. */
export function writeThenDestroy(res: ServerResponse, data: string): void {
  res.write(data, () => res.socket?.destroy());
}

/** Splits text into word-ish tokens (leading space kept, like BPE tokens); joins back exactly. */
export function tokenize(text: string): string[] {
  return text.match(/\s*\S+|\s+/g) ?? [];
}

/** Splits a string into `parts` contiguous, non-empty pieces (fewer only if it is too short). */
export function splitInto(text: string, parts: number): string[] {
  const size = Math.max(1, Math.ceil(text.length / parts));
  const pieces: string[] = [];
  for (let i = 0; i < text.length; i += size) pieces.push(text.slice(i, i + size));
  return pieces;
}
