import type { IncomingMessage, ServerResponse } from 'node:http';
import { Request } from 'undici';
import { HubError } from '../../core/errors.js';
import { timeOrderedId } from '../../core/ids.js';
import type { FileOwner, StoredFile } from '../../knowledge/ports.js';
import { openAIErrorBody } from '../../protocols/openai-chat/errors.js';
import type { Principal } from '../../tenancy/types.js';
import type { HubContext } from '../context.js';
import { sendJSON } from '../http.js';

/** The purposes OpenAI's Files API accepts on upload (the SDK's `FilePurpose`). */
const PURPOSES = new Set(['assistants', 'batch', 'fine-tune', 'vision', 'user_data', 'evals']);

/** OpenAI's list bounds: `limit` from 1 to 10,000, 10,000 when not given; larger asks are clamped. */
const MAX_LIST = 10_000;

/** OpenAI's bounds on `expires_after[seconds]`: an hour to 30 days. */
const MIN_EXPIRY_S = 3600;
const MAX_EXPIRY_S = 2_592_000;

/** Filenames are cut to this many characters, as most file systems allow. */
const MAX_FILENAME = 255;

function badRequest(message: string, param: string | null = null): HubError {
  return new HubError('bad_request', message, param === null ? {} : { param });
}

function noSuchFile(id: string): HubError {
  // OpenAI's own wording and shape: `param: "id"`, no code.
  return new HubError('not_found', `No such File object: ${id.slice(0, 200)}`, { param: 'id' });
}

function tooLarge(limit: number): HubError {
  return new HubError('payload_too_large', `Request body is larger than the limit of ${limit} bytes.`, { code: 'payload_too_large' });
}

/** A key sees its own files; the admin and an open hub see every file. */
function ownerOf(p: Principal): FileOwner {
  return p.kind === 'key' ? p.key.id : undefined;
}

/** The file object of the API. */
function fileObject(f: StoredFile): Record<string, unknown> {
  return {
    id: f.id,
    object: 'file',
    bytes: f.bytes,
    created_at: f.createdAt,
    filename: f.filename,
    purpose: f.purpose,
    // Deprecated by OpenAI but still sent, and typed as required by the SDK: stored files are ready at once.
    status: 'processed',
    expires_at: f.expiresAt,
    status_details: null,
  };
}

/**
 * The name a file is kept under: the last path segment only (a client's local directories, or
 * `../` aimed at anything that one day writes files out, are not the hub's business), without
 * control characters (they would corrupt a log line or a Content-Disposition header), at most
 * 255 characters. Nothing left is refused rather than invented.
 */
export function cleanFilename(raw: string): string {
  const last = raw.split(/[/\\]/).pop() ?? '';
  // eslint-disable-next-line no-control-regex
  const name = Array.from(last.replace(/[\u0000-\u001f\u007f-\u009f]/g, '').trim()).slice(0, MAX_FILENAME).join('');
  if (name === '' || name === '.' || name === '..') throw badRequest(`The uploaded file's name ${JSON.stringify(raw.slice(0, 100))} has nothing usable once paths and control characters are removed; send a plain file name.`, 'file');
  return name;
}

/**
 * Reads a multipart/form-data body, refusing one over `limit` bytes (declared or sent) with a
 * 413 — the rest of such a body is discarded, never buffered. Parsing is undici's (the fetch
 * standard's `Request.formData()`), fed through a counting stream.
 */
async function readForm(req: IncomingMessage, limit: number): Promise<FormData> {
  const type = req.headers['content-type'];
  if (type === undefined || !/^\s*multipart\/form-data\s*(?:;|$)/i.test(type)) {
    req.resume();
    throw new HubError('bad_request', 'Uploading a file needs a multipart/form-data body with `file` and `purpose` fields.', { status: 415, code: 'unsupported_media_type' });
  }
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) {
    req.resume();
    throw tooLarge(limit);
  }
  let size = 0;
  let over = false;
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      req.on('data', (c: Buffer) => {
        if (over) return;
        size += c.length;
        if (size > limit) {
          over = true;
          controller.error(tooLarge(limit));
          return;
        }
        controller.enqueue(new Uint8Array(c.buffer, c.byteOffset, c.byteLength));
      });
      req.on('end', () => {
        if (!over) controller.close();
      });
      req.on('error', (err) => {
        if (!over) controller.error(new HubError('canceled', 'Client went away while sending the request', { cause: err }));
      });
    },
  });
  try {
    return (await new Request('http://hub.invalid/v1/files', { method: 'POST', headers: { 'content-type': type }, body, duplex: 'half' }).formData()) as unknown as FormData;
  } catch (err) {
    if (over) throw tooLarge(limit);
    if (err instanceof HubError) throw err;
    throw new HubError('bad_request', `The multipart/form-data body could not be read: ${(err as Error).message}`, { code: 'invalid_multipart' });
  } finally {
    // Whatever is left (a body cut off at the limit) is discarded, so the answer can be sent.
    req.resume();
  }
}

/** `expires_after[anchor]` and `expires_after[seconds]`, as the SDK sends them: the file's expiry (unix s) or null. */
function expiry(form: FormData, createdAt: number): number | null {
  const anchor = form.get('expires_after[anchor]');
  const seconds = form.get('expires_after[seconds]');
  if (anchor === null && seconds === null) return null;
  if (anchor !== 'created_at') throw badRequest(`Invalid 'expires_after[anchor]': expected 'created_at'.`, 'expires_after.anchor');
  const s = typeof seconds === 'string' && /^\d+$/.test(seconds) ? Number(seconds) : NaN;
  if (!(s >= MIN_EXPIRY_S && s <= MAX_EXPIRY_S)) throw badRequest(`Invalid 'expires_after[seconds]': expected an integer from ${MIN_EXPIRY_S} (an hour) to ${MAX_EXPIRY_S} (30 days).`, 'expires_after.seconds');
  return createdAt + s;
}

/**
 * A multipart POST is a "simple" request a web page can make a browser send anywhere without a
 * CORS preflight, so on a hub without keys any site its user visits could fill it with files.
 * The hub answers no CORS, so no other origin has a legitimate upload: one whose Origin is not
 * the hub's own is refused. The SDKs and curl send no Origin.
 */
function refuseCrossOrigin(req: IncomingMessage): void {
  const origin = req.headers.origin;
  if (origin === undefined) return;
  let host: string | undefined;
  try {
    host = new URL(origin).host;
  } catch {
    host = undefined;
  }
  if (host === undefined || host !== req.headers.host) {
    throw new HubError('permission', `Uploads from a web page on another origin (${origin.slice(0, 100)}) are refused.`, { code: 'cross_origin_upload' });
  }
}

/** `POST /v1/files`: stores an uploaded file under the caller's key. */
async function upload(ctx: HubContext, req: IncomingMessage, res: ServerResponse, principal: Principal): Promise<void> {
  refuseCrossOrigin(req);
  const form = await readForm(req, ctx.maxBodyBytes);
  const purpose = form.get('purpose');
  if (purpose === null) throw badRequest(`Missing required parameter: 'purpose'.`, 'purpose');
  if (typeof purpose !== 'string' || !PURPOSES.has(purpose)) {
    throw badRequest(`Invalid 'purpose': ${JSON.stringify(String(purpose).slice(0, 100))}. Expected one of ${[...PURPOSES].map((p) => `'${p}'`).join(', ')}.`, 'purpose');
  }
  const file = form.get('file');
  if (file === null) throw badRequest(`Missing required parameter: 'file'.`, 'file');
  if (typeof file === 'string') throw badRequest(`Invalid 'file': expected a file part (with a filename), got a plain field.`, 'file');
  const filename = cleanFilename(file.name);
  const createdAt = Math.floor(Date.now() / 1000);
  const stored: StoredFile = {
    id: timeOrderedId('file-'),
    keyId: principal.kind === 'key' ? principal.key.id : null,
    filename,
    purpose,
    bytes: file.size,
    createdAt,
    expiresAt: expiry(form, createdAt),
  };
  await ctx.stores.files.save(stored, new Uint8Array(await file.arrayBuffer()));
  sendJSON(res, 200, fileObject(stored));
}

/** `GET /v1/files`: a page of the caller's files, newest first unless `order=asc`. */
async function list(ctx: HubContext, res: ServerResponse, query: URLSearchParams, principal: Principal): Promise<void> {
  const limitText = query.get('limit');
  const asked = limitText === null ? MAX_LIST : Number(limitText);
  if (!Number.isInteger(asked) || asked < 1) throw badRequest(`Invalid 'limit': expected an integer from 1 to ${MAX_LIST}.`, 'limit');
  const order = query.get('order') ?? 'desc';
  if (order !== 'asc' && order !== 'desc') throw badRequest(`Invalid 'order': expected 'asc' or 'desc'.`, 'order');
  const after = query.get('after') || undefined;
  const purpose = query.get('purpose') || undefined;
  const page = await ctx.stores.files.list({ owner: ownerOf(principal), limit: Math.min(asked, MAX_LIST), order, ...(after !== undefined && { after }), ...(purpose !== undefined && { purpose }) });
  const data = page.data.map(fileObject);
  sendJSON(res, 200, { object: 'list', data, first_id: page.data[0]?.id ?? null, last_id: page.data.at(-1)?.id ?? null, has_more: page.hasMore });
}

/** A file's bytes as uploaded, named by Content-Disposition (RFC 6266: ASCII fallback and UTF-8). */
function sendContent(res: ServerResponse, f: StoredFile, content: Uint8Array): void {
  const ascii = f.filename.replace(/[^\x20-\x7e]|["\\]/g, '_');
  res.writeHead(200, {
    'content-type': 'application/octet-stream',
    'content-length': content.byteLength,
    'content-disposition': `attachment; filename="${ascii}"; filename*=UTF-8''${encodeURIComponent(f.filename)}`,
  });
  res.end(content);
}

/**
 * The Files API: `POST`/`GET /v1/files`, `GET`/`DELETE /v1/files/{id}`, `GET
 * /v1/files/{id}/content`. `rest` is the decoded path after `/v1/files` (empty, or `/{id}…`).
 * Authenticated as the model API is; a key sees and deletes only its own files (another key's
 * file is a 404, as if absent), the admin and an open hub every file.
 */
export async function files(ctx: HubContext, req: IncomingMessage, res: ServerResponse, rest: string, query: URLSearchParams): Promise<void> {
  const method = req.method ?? 'GET';
  try {
    // Asks the shared store only when the cache misses (a key just made on another hub).
    const principal = await ctx.tenancy.authenticateShared(req.headers);
    if (rest === '' || rest === '/') {
      if (method === 'POST') return await upload(ctx, req, res, principal);
      if (method === 'GET') return await list(ctx, res, query, principal);
      throw notAllowed(method, 'GET, POST');
    }
    const parts = rest.slice(1).split('/');
    const id = parts[0]!;
    const owner = ownerOf(principal);
    if (parts.length === 2 && parts[1] === 'content') {
      if (method !== 'GET') throw notAllowed(method, 'GET');
      const [f, content] = await Promise.all([ctx.stores.files.get(id, owner), ctx.stores.files.content(id, owner)]);
      if (!f || !content) throw noSuchFile(id);
      return sendContent(res, f, content);
    }
    if (parts.length !== 1 || id === '') throw new HubError('not_found', `Unknown request URL: ${method} /v1/files${rest.slice(0, 200)}.`, { code: 'unknown_url' });
    if (method === 'GET') {
      const f = await ctx.stores.files.get(id, owner);
      if (!f) throw noSuchFile(id);
      return sendJSON(res, 200, fileObject(f));
    }
    if (method === 'DELETE') {
      if (!(await ctx.stores.files.delete(id, owner))) throw noSuchFile(id);
      return sendJSON(res, 200, { id, object: 'file', deleted: true });
    }
    throw notAllowed(method, 'GET, DELETE');
  } catch (err) {
    if (!(err instanceof HubError)) throw err;
    // A request refused before its body was read: the body is drained so the answer reaches the client.
    req.resume();
    sendJSON(res, err.status, openAIErrorBody(err), err.headers);
  }
}

function notAllowed(method: string, allow: string): HubError {
  return new HubError('bad_request', `Method ${method} is not allowed here; use ${allow}.`, { status: 405, code: 'method_not_allowed', headers: { allow } });
}
