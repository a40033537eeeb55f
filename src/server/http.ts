import type { IncomingMessage, ServerResponse } from 'node:http';
import { HubError } from '../core/errors.js';

/** `application/json`, with parameters (`; charset=utf-8`), or any `application/…+json` type. */
const JSON_TYPE = /^\s*application\/(?:[\w.!#$&^-]+\+)?json\s*(?:;|$)/i;

/**
 * A JSON body needs a JSON content type. Without this check a web page could make a browser
 * POST to the hub (text/plain, form and multipart bodies need no CORS preflight) and, with auth
 * off, spend money through it.
 */
function unsupportedType(req: IncomingMessage): HubError | undefined {
  const type = req.headers['content-type'];
  if (type !== undefined && JSON_TYPE.test(type)) return undefined;
  const sent = type === undefined ? 'no Content-Type' : `Content-Type ${JSON.stringify(type.length > 100 ? `${type.slice(0, 100)}…` : type)}`;
  return new HubError('bad_request', `The request body must be JSON sent as \`Content-Type: application/json\`; this request has ${sent} (with curl: -H 'Content-Type: application/json').`, {
    status: 415,
    code: 'unsupported_media_type',
  });
}

/**
 * Reads a JSON request body up to `limit` bytes. A body without a JSON content type is refused
 * (415) unread; over the limit: a 413 HubError, and the rest of the body is discarded rather
 * than buffered.
 */
export function readBody(req: IncomingMessage, limit: number): Promise<string> {
  const wrongType = unsupportedType(req);
  if (wrongType) {
    req.resume();
    return Promise.reject(wrongType);
  }
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) {
    req.resume();
    return Promise.reject(tooLarge(limit));
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (c: Buffer) => {
      size += c.length;
      if (size > limit) {
        req.off('data', onData);
        req.resume();
        reject(tooLarge(limit));
        return;
      }
      chunks.push(c);
    };
    req.on('data', onData);
    req.on('end', () => resolve(chunks.length === 1 ? chunks[0]!.toString('utf8') : Buffer.concat(chunks).toString('utf8')));
    req.on('error', (err) => reject(new HubError('canceled', 'Client went away while sending the request', { cause: err })));
  });
}

/**
 * Decodes one percent-encoded part of a URL path. Malformed encoding (`%ZZ`, a cut UTF-8
 * sequence) is the client's mistake: a 400, never an exception that escapes a handler.
 */
/**
 * A control character (NUL above all) is never part of an id, a name or a filter, and PostgreSQL
 * refuses NUL in text outright: refused here, once, for every path part and query value, so no
 * store sees one (it would answer a 500 for a client's bad request).
 */
const CONTROL = /[\u0000-\u001f\u007f]/;

export function decodePathPart(part: string): string {
  if (!part.includes('%')) return part;
  let decoded: string;
  try {
    decoded = decodeURIComponent(part);
  } catch {
    throw malformedPath();
  }
  if (CONTROL.test(decoded)) throw new HubError('bad_request', 'The URL path has a control character (percent-encoded): ids and names never hold one.', { code: 'invalid_url' });
  return decoded;
}

/** The query string's parameters; a control character in a name or a value is a 400 naming it. */
export function parseQuery(raw: string): URLSearchParams {
  const params = new URLSearchParams(raw);
  if (raw.includes('%')) {
    for (const [name, value] of params) {
      if (CONTROL.test(name) || CONTROL.test(value)) {
        const shown = name.replace(/[\u0000-\u001f\u007f]/g, '?').slice(0, 100);
        throw new HubError('bad_request', `Invalid query parameter '${shown}': it holds a control character.`, { code: 'invalid_url', param: shown });
      }
    }
  }
  return params;
}

export function malformedPath(): HubError {
  return new HubError('bad_request', 'The URL path has malformed percent-encoding (a % must be followed by two hex digits of valid UTF-8).', { code: 'invalid_url' });
}

function tooLarge(limit: number): HubError {
  return new HubError('payload_too_large', `Request body is larger than the limit of ${limit} bytes.`, { code: 'payload_too_large' });
}

export function sendJSON(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  sendRaw(res, status, JSON.stringify(body), headers);
}

export function sendRaw(res: ServerResponse, status: number, json: string, headers: Record<string, string> = {}): void {
  if (res.headersSent) return;
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(json), ...headers });
  res.end(json);
}

/** Node sets Connection itself: keep-alive unless the client asked to close. */
export const SSE_HEADERS = {
  'content-type': 'text/event-stream; charset=utf-8',
  'cache-control': 'no-cache',
  'x-accel-buffering': 'no',
} as const;

/**
 * A value safe to send as an HTTP header: printable ASCII as is, anything else (a model named
 * in Chinese, a stray control character) percent-encoded as UTF-8. Node refuses such values
 * outright, which would fail a request whose upstream has already answered.
 */
export function headerValue(value: string): string {
  return /^[\x20-\x7e]*$/.test(value) ? value : value.replace(/[^\x20-\x7e]/gu, encodeCodePoint);
}

function encodeCodePoint(c: string): string {
  try {
    return encodeURIComponent(c);
  } catch {
    return '%EF%BF%BD'; // a lone surrogate: U+FFFD
  }
}
