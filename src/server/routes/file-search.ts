/**
 * The `file_search` tool of /v1/responses, for every model: the hub searches the vector stores it
 * holds for the request's last user message and grounds the model in what it found (a system
 * message with numbered passages; knowledge/grounding.ts). The answer carries a file_search_call
 * item and file_citation annotations (protocols/openai-responses). One search per request, made
 * before the model is called, so any model can use it, tools or not; its query embedding and
 * rerank are the key's own calls, recorded and charged like any other.
 */
import { z } from 'zod';
import { HubError } from '../../core/errors.js';
import type { ChatEvent, ChatRequest, RetrievedPassage } from '../../core/types.js';
import { FilterError, parseFilter } from '../../knowledge/filters.js';
import { groundedRequest, lastUserText } from '../../knowledge/grounding.js';
import type { ResponsesRequest } from '../../protocols/openai-responses/schema.js';
import type { Principal } from '../../tenancy/types.js';
import type { HubContext } from '../context.js';

// As OpenAI's FileSearchTool: vector_store_ids, max_num_results 1–50, filters, ranking_options.
const fileSearchTool = z.looseObject({
  type: z.literal('file_search'),
  vector_store_ids: z.array(z.string().min(1).max(200)).min(1).max(16),
  max_num_results: z.number().int().min(1).max(50).optional(),
  filters: z.unknown().optional(),
  ranking_options: z
    .looseObject({
      ranker: z.enum(['none', 'auto', 'default-2024-11-15']).optional(),
      score_threshold: z.number().min(0).max(1).optional(),
    })
    .optional(),
});

type FileSearchTool = z.infer<typeof fileSearchTool>;

/** The request's file_search tool, checked; undefined when it has none. */
export function fileSearchOf(body: ResponsesRequest): FileSearchTool | undefined {
  const tools = (body.tools ?? []) as { type?: unknown }[];
  const i = tools.findIndex((t) => t.type === 'file_search');
  if (i < 0) return undefined;
  if (tools.findIndex((t, j) => j > i && t.type === 'file_search') >= 0) {
    throw new HubError('bad_request', "Invalid 'tools': give at most one file_search tool.", { param: 'tools' });
  }
  const r = fileSearchTool.safeParse(tools[i]);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    const path = ['tools', i, ...issue.path].map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`)).join('').slice(1);
    throw new HubError('bad_request', `Invalid '${path}': ${issue.message}.`, { param: path });
  }
  return r.data;
}

/**
 * Searches for the request's last user message and returns the grounded request with the
 * `retrieval` event the answer announces. Stores the caller's key does not own are not found (404).
 */
export async function groundInFiles(ctx: HubContext, principal: Principal, tool: FileSearchTool, request: ChatRequest, signal: AbortSignal): Promise<{ request: ChatRequest; retrieval: Extract<ChatEvent, { type: 'retrieval' }> }> {
  const k = ctx.knowledge;
  if (!k) throw new HubError('bad_request', 'The file_search tool needs the hub’s knowledge bases, which this hub does not run.', { param: 'tools' });
  let filter;
  try {
    filter = tool.filters === undefined || tool.filters === null ? undefined : parseFilter(tool.filters);
  } catch (err) {
    if (err instanceof FilterError) throw new HubError('bad_request', err.message, { param: err.param });
    throw err;
  }
  const query = lastUserText(request);
  const caller = principal.kind === 'key' ? { owner: principal.key.id, keyId: principal.key.id } : { owner: undefined, keyId: null };
  let passages: RetrievedPassage[] = [];
  if (query) {
    const r = await k.searchStores(
      tool.vector_store_ids,
      caller,
      { queries: [query], filter, maxResults: tool.max_num_results ?? 10, threshold: tool.ranking_options?.score_threshold, rerank: tool.ranking_options?.ranker !== 'none' },
      signal,
    );
    passages = r.hits.map((h) => ({ fileId: h.fileId, filename: h.filename, vectorStoreId: h.vectorStoreId, score: h.score, text: h.text, ...(h.attributes && { attributes: h.attributes }) }));
  } else {
    // Nothing to search for; still refuse stores the key may not see.
    for (const id of new Set(tool.vector_store_ids)) await k.get(id, caller);
  }
  return { request: groundedRequest(request, passages, query), retrieval: { type: 'retrieval', queries: query ? [query] : [], results: passages } };
}
