import type { IncomingMessage, ServerResponse } from 'node:http';
import { z } from 'zod';
import { HubError } from '../../core/errors.js';
import { FilterError, parseFilter } from '../../knowledge/filters.js';
import type { Attributes, Chunking, FileBatchRow, FileCounts, FileStatus, PageQuery, VectorStoreFileRow } from '../../knowledge/ports.js';
import { AUTO_CHUNKING } from '../../knowledge/vector-stores.js';
import type { Caller, FileToAdd, StoreView } from '../../knowledge/vector-stores.js';
import { openAIErrorBody } from '../../protocols/openai-chat/errors.js';
import { parseJSONBody, validate } from '../../protocols/validate.js';
import type { Principal } from '../../tenancy/types.js';
import type { HubContext } from '../context.js';
import { readBody, sendJSON } from '../http.js';

// Bounds from OpenAI's API reference (vector stores, files, file batches, search): 16 metadata /
// attribute pairs, keys ≤ 64 and string values ≤ 512 characters; static chunks of 100–4096 tokens
// overlapping by at most half; a batch of 1–2000 files; 1–50 search results.
const MAX_PAIRS = 16;
const MAX_FILES = 2000;
const MAX_LIST = 100;
const MAX_QUERY_CHARS = 4096;
const MAX_QUERIES = 16;
/** How soon the SDK's poll helpers should ask again while ingestion runs (they wait 5 s without it). */
const POLL_AFTER_MS = '200';

/**
 * Text the stores keep: never a NUL (PostgreSQL's text cannot hold one, and no name needs it).
 * Ids are the hub's own shapes (letters, digits, `_`, `-`); anything else names nothing.
 */
const text = (max: number, min = 0) => z.string().min(min).max(max).refine((s) => !s.includes('\u0000'), 'must not contain NUL characters');
const ID = /^[A-Za-z0-9_-]{1,200}$/;
/**
 * Metadata and attributes: no `__proto__` key. JSON.parse makes it an own key, but zod's records
 * (and any object the hub builds) drop it, so it would vanish from what the client stored.
 */
const pairs = <S extends z.ZodType>(record: S) =>
  z
    .unknown()
    .refine((v) => typeof v !== 'object' || v === null || !Object.hasOwn(v, '__proto__'), 'keys must not be __proto__')
    .pipe(record);

const metadata = pairs(z.record(text(64, 1), text(512)).refine((m) => Object.keys(m).length <= MAX_PAIRS, `at most ${MAX_PAIRS} pairs`)).nullable();
const attributes = pairs(
  z.record(text(64, 1), z.union([text(512), z.number().finite(), z.boolean()])).refine((m) => Object.keys(m).length <= MAX_PAIRS, `at most ${MAX_PAIRS} pairs`),
).nullable();
const chunkingStrategy = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('auto') }),
  z.strictObject({
    type: z.literal('static'),
    static: z
      .strictObject({ max_chunk_size_tokens: z.number().int().min(100).max(4096), chunk_overlap_tokens: z.number().int().min(0) })
      .refine((s) => s.chunk_overlap_tokens <= s.max_chunk_size_tokens / 2, 'chunk_overlap_tokens may be at most half of max_chunk_size_tokens'),
  }),
]);
const fileId = z.string().regex(ID, 'expected a file id');
const expiresAfter = z.strictObject({ anchor: z.literal('last_active_at'), days: z.number().int().min(1).max(365) });
/** The hub's extension: which model embeds the store's chunks (null: keyword search only). */
const embeddingModel = text(200, 1).nullable();

const createStore = z.strictObject({
  name: text(256).optional(),
  description: text(512).optional(),
  file_ids: z.array(fileId).max(MAX_FILES).optional(),
  chunking_strategy: chunkingStrategy.optional(),
  expires_after: expiresAfter.optional(),
  metadata: metadata.optional(),
  embedding_model: embeddingModel.optional(),
  /** The hub's extension: index and embed each chunk with its "title › section" header (default true). */
  contextual_headers: z.boolean().optional(),
});
const modifyStore = z.strictObject({
  name: text(256).nullable().optional(),
  expires_after: expiresAfter.nullable().optional(),
  metadata: metadata.optional(),
  embedding_model: embeddingModel.optional(),
});
const createFile = z.strictObject({ file_id: fileId, attributes: attributes.optional(), chunking_strategy: chunkingStrategy.optional() });
const updateFile = z.strictObject({ attributes });
const createBatch = z
  .strictObject({
    file_ids: z.array(fileId).min(1).max(MAX_FILES).optional(),
    files: z.array(createFile).min(1).max(MAX_FILES).optional(),
    attributes: attributes.optional(),
    chunking_strategy: chunkingStrategy.optional(),
  })
  .refine((b) => (b.file_ids === undefined) !== (b.files === undefined), 'give exactly one of file_ids and files');
const searchBody = z.strictObject({
  query: z.union([text(MAX_QUERY_CHARS, 1), z.array(text(MAX_QUERY_CHARS, 1)).min(1).max(MAX_QUERIES)]),
  filters: z.unknown().optional(),
  max_num_results: z.number().int().min(1).max(50).optional(),
  ranking_options: z.strictObject({ ranker: z.enum(['none', 'auto', 'default-2024-11-15']).optional(), score_threshold: z.number().min(0).max(1).optional() }).optional(),
  // Accepted as the SDK sends it; the hub searches the query as given (search_query says so).
  rewrite_query: z.boolean().optional(),
  /**
   * The hub's extension: which ranking to use in a store with an embedding model — keyword,
   * vector, hybrid (both, fused), hybrid_rerank (and the rerank model, unless ranker is 'none').
   * Default: hybrid_rerank where a rerank model is configured, else hybrid.
   */
  baimo_mode: z.enum(['keyword', 'vector', 'hybrid', 'hybrid_rerank']).optional(),
});

type ChunkingParam = z.infer<typeof chunkingStrategy>;

function chunkingOf(p: ChunkingParam | undefined): Chunking {
  return p?.type === 'static' ? { maxTokens: p.static.max_chunk_size_tokens, overlapTokens: p.static.chunk_overlap_tokens } : AUTO_CHUNKING;
}

function callerOf(p: Principal): Caller {
  return p.kind === 'key' ? { owner: p.key.id, keyId: p.key.id } : { owner: undefined, keyId: null };
}

function counts(c: FileCounts): Record<string, number> {
  return { in_progress: c.in_progress, completed: c.completed, failed: c.failed, cancelled: c.cancelled, total: c.total };
}

function storeObject(v: StoreView): Record<string, unknown> {
  const s = v.store;
  return {
    id: s.id,
    object: 'vector_store',
    created_at: s.createdAt,
    name: s.name,
    usage_bytes: v.usageBytes,
    file_counts: counts(v.counts),
    status: v.status,
    last_active_at: s.lastActiveAt,
    metadata: s.metadata ?? {},
    ...(s.expiresAfterDays !== null && { expires_after: { anchor: 'last_active_at', days: s.expiresAfterDays } }),
    expires_at: s.expiresAt,
    embedding_model: s.embeddingModel,
    contextual_headers: s.contextualHeaders,
  };
}

function fileObject(f: VectorStoreFileRow): Record<string, unknown> {
  return {
    id: f.fileId,
    object: 'vector_store.file',
    usage_bytes: f.usageBytes,
    created_at: f.createdAt,
    vector_store_id: f.vectorStoreId,
    status: f.status,
    last_error: f.lastError,
    attributes: f.attributes ?? {},
    chunking_strategy: { type: 'static', static: { max_chunk_size_tokens: f.chunking.maxTokens, chunk_overlap_tokens: f.chunking.overlapTokens } },
  };
}

function batchObject(b: FileBatchRow, c: FileCounts): Record<string, unknown> {
  const status = b.cancelledAt !== null ? 'cancelled' : c.in_progress > 0 ? 'in_progress' : 'completed';
  return { id: b.id, object: 'vector_store.files_batch', created_at: b.createdAt, vector_store_id: b.vectorStoreId, status, file_counts: counts(c) };
}

function list<T extends { id: string }>(data: readonly T[], hasMore: boolean): Record<string, unknown> {
  return { object: 'list', data, first_id: data[0]?.id ?? null, last_id: data.at(-1)?.id ?? null, has_more: hasMore };
}

function pageQuery(query: URLSearchParams): PageQuery {
  const limitText = query.get('limit');
  const limit = limitText === null ? 20 : Number(limitText);
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIST) throw new HubError('bad_request', `Invalid 'limit': expected an integer from 1 to ${MAX_LIST}.`, { param: 'limit' });
  const order = query.get('order') ?? 'desc';
  if (order !== 'asc' && order !== 'desc') throw new HubError('bad_request', `Invalid 'order': expected 'asc' or 'desc'.`, { param: 'order' });
  const after = query.get('after') || undefined;
  const before = query.get('before') || undefined;
  for (const [name, v] of [['after', after], ['before', before]] as const) {
    if (v !== undefined && !ID.test(v)) throw new HubError('bad_request', `Invalid '${name}': expected an id from a previous page.`, { param: name });
  }
  return { limit, order, ...(after !== undefined && { after }), ...(before !== undefined && { before }) };
}

const STATUSES = new Set(['in_progress', 'completed', 'failed', 'cancelled']);

function statusFilter(query: URLSearchParams): FileStatus | undefined {
  const f = query.get('filter');
  if (f === null || f === '') return undefined;
  if (!STATUSES.has(f)) throw new HubError('bad_request', `Invalid 'filter': expected one of 'in_progress', 'completed', 'failed', 'cancelled'.`, { param: 'filter' });
  return f as FileStatus;
}

/** A store's embedding model must be one the hub serves: a typo is a 400 now, not a failed file later. */
function knownModel(ctx: HubContext, model: string | null | undefined): void {
  if (typeof model === 'string' && !ctx.registry.serves(model)) {
    throw new HubError('bad_request', `Invalid 'embedding_model': this hub serves no model '${model.slice(0, 200)}' (see GET /v1/models).`, { param: 'embedding_model', code: 'model_not_found' });
  }
}

async function body<S extends z.ZodType>(ctx: HubContext, req: IncomingMessage, schema: S): Promise<z.infer<S>> {
  const json = parseJSONBody(await readBody(req, ctx.maxBodyBytes));
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new HubError('bad_request', 'Request body must be a JSON object.', { code: 'invalid_request' });
  return validate(schema, json);
}

function notAllowed(method: string, allow: string): HubError {
  return new HubError('bad_request', `Method ${method} is not allowed here; use ${allow}.`, { status: 405, code: 'method_not_allowed', headers: { allow } });
}

function unknownURL(method: string, rest: string): HubError {
  return new HubError('not_found', `Unknown request URL: ${method} /v1/vector_stores${rest.slice(0, 200)}.`, { code: 'unknown_url' });
}

/**
 * OpenAI's Vector Stores API: `/v1/vector_stores` (create, list), `/{id}` (retrieve, modify,
 * delete), `/{id}/search`, `/{id}/files` (create, list), `/{id}/files/{file_id}` (retrieve,
 * update attributes, delete) and `…/content`, `/{id}/file_batches` (create), `/{batch_id}`,
 * `…/cancel`, `…/files`. `rest` is the decoded path after `/v1/vector_stores`. A key sees only
 * its own stores (another's is a 404), and adds only files it may see.
 */
export async function vectorStores(ctx: HubContext, req: IncomingMessage, res: ServerResponse, rest: string, query: URLSearchParams): Promise<void> {
  const method = req.method ?? 'GET';
  try {
    const principal = await ctx.tenancy.authenticateShared(req.headers);
    const k = ctx.knowledge;
    if (!k) throw new HubError('not_found', 'Vector stores are not available on this hub: its store has no chunk index.', { status: 501, code: 'not_implemented' });
    const c = callerOf(principal);
    const parts = rest === '' || rest === '/' ? [] : rest.slice(1).split('/');
    if (parts.some((p) => p === '')) throw unknownURL(method, rest);
    const [id, sub, subId, leaf, ...more] = parts;
    if (more.length) throw unknownURL(method, rest);
    // An id of no shape the hub makes is no store, file or batch of the caller's: as if absent.
    if (id !== undefined && !ID.test(id)) throw new HubError('not_found', `No vector store found with id '${id.slice(0, 200)}'.`, { param: 'vector_store_id' });
    if (subId !== undefined && !ID.test(subId)) throw new HubError('not_found', `No ${sub === 'file_batches' ? 'file batch' : 'file'} found with id '${subId.slice(0, 200)}'.`);

    if (id === undefined) {
      if (method === 'POST') {
        const b = await body(ctx, req, createStore);
        knownModel(ctx, b.embedding_model);
        const chunking = chunkingOf(b.chunking_strategy);
        const view = await k.create(c, {
          name: b.name ?? '',
          metadata: b.metadata ?? null,
          expiresAfterDays: b.expires_after?.days ?? null,
          files: (b.file_ids ?? []).map((fileId) => ({ fileId, attributes: null, chunking })),
          ...(b.embedding_model !== undefined && { embeddingModel: b.embedding_model }),
          ...(b.contextual_headers !== undefined && { contextualHeaders: b.contextual_headers }),
        });
        return sendJSON(res, 200, storeObject(view));
      }
      if (method === 'GET') {
        const page = await k.list(c, pageQuery(query));
        return sendJSON(res, 200, list(page.data.map(storeObject) as { id: string }[], page.hasMore));
      }
      throw notAllowed(method, 'GET, POST');
    }

    if (sub === undefined) {
      if (method === 'GET') return sendJSON(res, 200, storeObject(await k.get(id, c)));
      if (method === 'POST') {
        const b = await body(ctx, req, modifyStore);
        knownModel(ctx, b.embedding_model);
        const view = await k.modify(id, c, {
          ...(b.name !== undefined && { name: b.name }),
          ...(b.metadata !== undefined && { metadata: b.metadata }),
          ...(b.expires_after !== undefined && { expiresAfterDays: b.expires_after?.days ?? null }),
          ...(b.embedding_model !== undefined && { embeddingModel: b.embedding_model }),
        });
        return sendJSON(res, 200, storeObject(view));
      }
      if (method === 'DELETE') {
        await k.delete(id, c);
        return sendJSON(res, 200, { id, object: 'vector_store.deleted', deleted: true });
      }
      throw notAllowed(method, 'GET, POST, DELETE');
    }

    if (sub === 'search' && subId === undefined) {
      if (method !== 'POST') throw notAllowed(method, 'POST');
      const b = await body(ctx, req, searchBody);
      let filter;
      try {
        filter = b.filters === undefined || b.filters === null ? undefined : parseFilter(b.filters);
      } catch (err) {
        if (err instanceof FilterError) throw new HubError('bad_request', err.message, { param: err.param, code: 'invalid_request' });
        throw err;
      }
      const queries = typeof b.query === 'string' ? [b.query] : b.query;
      const abort = new AbortController();
      res.once('close', () => abort.abort());
      const mode = b.baimo_mode;
      const r = await k.search(
        id,
        c,
        {
          queries,
          filter,
          maxResults: b.max_num_results ?? 10,
          threshold: b.ranking_options?.score_threshold,
          rerank: b.ranking_options?.ranker !== 'none' && (mode === undefined || mode === 'hybrid_rerank'),
          lists: mode === 'keyword' ? 'keyword' : mode === 'vector' ? 'vector' : 'both',
        },
        abort.signal,
      );
      return sendJSON(res, 200, {
        object: 'vector_store.search_results.page',
        search_query: queries,
        data: r.hits.map((h) => ({ file_id: h.fileId, filename: h.filename, score: h.score, attributes: h.attributes ?? {}, content: [{ type: 'text', text: h.text }] })),
        has_more: false,
        next_page: null,
      });
    }

    if (sub === 'files') {
      if (subId === undefined) {
        if (method === 'POST') {
          const b = await body(ctx, req, createFile);
          const { rows } = await k.addFiles(id, c, [{ fileId: b.file_id, attributes: (b.attributes ?? null) as Attributes | null, chunking: chunkingOf(b.chunking_strategy) }], false);
          return sendJSON(res, 200, fileObject(rows[0]!));
        }
        if (method === 'GET') {
          const status = statusFilter(query);
          const page = await k.listFiles(id, c, { ...pageQuery(query), ...(status && { status }) });
          return sendJSON(res, 200, list(page.data.map(fileObject) as { id: string }[], page.hasMore));
        }
        throw notAllowed(method, 'GET, POST');
      }
      if (leaf === 'content') {
        if (method !== 'GET') throw notAllowed(method, 'GET');
        const chunks = await k.content(id, subId, c);
        // OpenAI's content items are type and text; the hub adds each chunk's position and size (the console shows them).
        return sendJSON(res, 200, { object: 'vector_store.file_content.page', data: chunks.map((ch) => ({ type: 'text', text: ch.text, baimo_seq: ch.seq, baimo_tokens: ch.tokens })), has_more: false, next_page: null });
      }
      if (leaf !== undefined) throw unknownURL(method, rest);
      if (method === 'GET') {
        const f = await k.file(id, subId, c);
        return sendJSON(res, 200, fileObject(f), f.status === 'in_progress' ? { 'openai-poll-after-ms': POLL_AFTER_MS } : {});
      }
      if (method === 'POST') {
        const b = await body(ctx, req, updateFile);
        return sendJSON(res, 200, fileObject(await k.setAttributes(id, subId, c, b.attributes as Attributes | null)));
      }
      if (method === 'DELETE') {
        await k.removeFile(id, subId, c);
        return sendJSON(res, 200, { id: subId, object: 'vector_store.file.deleted', deleted: true });
      }
      throw notAllowed(method, 'GET, POST, DELETE');
    }

    if (sub === 'file_batches') {
      if (subId === undefined) {
        if (method !== 'POST') throw notAllowed(method, 'POST');
        const b = await body(ctx, req, createBatch);
        const files: FileToAdd[] = b.files
          ? b.files.map((f) => ({ fileId: f.file_id, attributes: (f.attributes ?? null) as Attributes | null, chunking: chunkingOf(f.chunking_strategy) }))
          : b.file_ids!.map((fileId) => ({ fileId, attributes: (b.attributes ?? null) as Attributes | null, chunking: chunkingOf(b.chunking_strategy) }));
        const { batch } = await k.addFiles(id, c, files, true);
        const r = await k.batch(id, batch!.id, c);
        return sendJSON(res, 200, batchObject(r.batch, r.counts));
      }
      if (leaf === undefined) {
        if (method !== 'GET') throw notAllowed(method, 'GET');
        const r = await k.batch(id, subId, c);
        return sendJSON(res, 200, batchObject(r.batch, r.counts), r.counts.in_progress > 0 ? { 'openai-poll-after-ms': POLL_AFTER_MS } : {});
      }
      if (leaf === 'cancel') {
        if (method !== 'POST') throw notAllowed(method, 'POST');
        const r = await k.cancelBatch(id, subId, c);
        return sendJSON(res, 200, batchObject(r.batch, r.counts));
      }
      if (leaf === 'files') {
        if (method !== 'GET') throw notAllowed(method, 'GET');
        await k.batch(id, subId, c);
        const status = statusFilter(query);
        const page = await k.listFiles(id, c, { ...pageQuery(query), batchId: subId, ...(status && { status }) });
        return sendJSON(res, 200, list(page.data.map(fileObject) as { id: string }[], page.hasMore));
      }
    }
    throw unknownURL(method, rest);
  } catch (err) {
    if (!(err instanceof HubError)) throw err;
    req.resume();
    sendJSON(res, err.status, openAIErrorBody(err), err.headers);
  }
}
