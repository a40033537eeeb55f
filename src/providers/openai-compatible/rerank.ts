/**
 * The rerank wire format that OpenAI-compatible servers offer beside chat completions: Jina's
 * `POST /v1/rerank`, which SiliconFlow, Qwen (DashScope's compatible-api `/reranks`), vLLM,
 * Xinference and GPUStack serve as well, and Cohere's v2 rerank, which has the same request and
 * results. Followed:
 *
 * - Jina (https://jina.ai/reranker, the API's own page): request {model, query, documents, top_n,
 *   return_documents}; response {model, results: [{index, relevance_score, document?: {text}}],
 *   usage: {total_tokens}}.
 * - SiliconFlow (https://docs.siliconflow.cn/cn/api-reference/rerank/create-rerank): the same
 *   request (top_n ≥ 1); response {id, results: [...], tokens: {input_tokens, output_tokens}}; some
 *   versions put the counts under `meta.tokens`, as Cohere does.
 * - Qwen (https://docs.qwencloud.com/api-reference/rerank/openai-rerank, DashScope
 *   `…/compatible-api/v1/reranks`): the same request; response {id, object, model, results,
 *   usage: {total_tokens}}.
 * - Cohere v2 (https://docs.cohere.com/reference/rerank-1, `POST /v2/rerank`): results the same;
 *   `meta.tokens.input_tokens` where given, else only `meta.billed_units.search_units` (one query
 *   of up to 100 documents), which is no token count: the hub then estimates the tokens.
 *
 * The hub never asks for the documents back (`return_documents: false`): it holds them, and
 * renders them from its own copy by index.
 */
import { HubError } from '../../core/errors.js';
import type { RerankRequest, RerankResult, Usage } from '../../core/types.js';
import type { Dialect } from '../index.js';

/** DashScope's OpenAI-compatible chat path, and where the same host reranks (see `rerankURL`). */
const DASHSCOPE_CHAT = '/compatible-mode/v1';
const DASHSCOPE_RERANK = '/compatible-api/v1/reranks';

/**
 * Where a server reranks: `{baseURL}/rerank` (Jina, SiliconFlow, vLLM, Xinference), except
 * DashScope, whose chat base is `…/compatible-mode/v1` and whose OpenAI-compatible rerank is
 * `…/compatible-api/v1/reranks` on the same host (Qwen's doc above; qwen3-rerank, served in the
 * Singapore region, dashscope-intl). Known by the provider's `qwen` dialect, which a provider on a
 * DashScope host has whatever its id.
 */
export function rerankURL(baseURL: string, dialect: Dialect | undefined): string {
  if (dialect === 'qwen' && baseURL.endsWith(DASHSCOPE_CHAT)) return baseURL.slice(0, -DASHSCOPE_CHAT.length) + DASHSCOPE_RERANK;
  return `${baseURL}/rerank`;
}

export interface WireRerankRequest {
  model: string;
  query: string;
  documents: string[];
  top_n?: number;
  return_documents: false;
}

interface Tokens {
  input_tokens?: unknown;
}

export interface WireRerankResponse {
  model?: unknown;
  results?: unknown;
  /** Jina, Qwen (and OpenAI-style servers: prompt_tokens). */
  usage?: { total_tokens?: unknown; prompt_tokens?: unknown } | null;
  /** SiliconFlow. */
  tokens?: Tokens | null;
  /** Cohere (and SiliconFlow in some versions). */
  meta?: { tokens?: Tokens | null } | null;
}

export function rerankRequestToWire(r: RerankRequest): WireRerankRequest {
  return { model: r.model, query: r.query, documents: [...r.documents], ...(r.topN !== undefined && { top_n: r.topN }), return_documents: false };
}

const count = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) && v >= 0 ? Math.round(v) : undefined);

/** The input tokens the answer reports, under whichever name its server uses. */
function rerankUsage(doc: WireRerankResponse): Usage | undefined {
  const tokens = count(doc.usage?.total_tokens) ?? count(doc.usage?.prompt_tokens) ?? count(doc.tokens?.input_tokens) ?? count(doc.meta?.tokens?.input_tokens);
  return tokens === undefined ? undefined : { inputTokens: tokens, outputTokens: 0 };
}

/**
 * A 2xx rerank body → the canonical result, best first. Throws an `upstream` HubError for a body
 * that is not JSON or whose results do not name the request's documents.
 */
export function rerankResponseFromWire(provider: string, text: string, request: RerankRequest): RerankResult {
  let doc: WireRerankResponse;
  try {
    doc = JSON.parse(text) as WireRerankResponse;
  } catch {
    throw new HubError('upstream', `Upstream ${provider} returned a response that is not valid JSON`, { provider });
  }
  const raw = doc?.results;
  if (!Array.isArray(raw)) throw new HubError('upstream', `Upstream ${provider} returned a rerank response without results`, { provider });
  const n = request.documents.length;
  const seen = new Set<number>();
  const results = raw.map((x: { index?: unknown; relevance_score?: unknown } | null) => {
    const index = x?.index;
    const score = x?.relevance_score;
    if (typeof index !== 'number' || !Number.isInteger(index) || index < 0 || index >= n || seen.has(index) || typeof score !== 'number' || !Number.isFinite(score)) {
      throw new HubError('upstream', `Upstream ${provider} returned a rerank result that names no document of the request`, { provider });
    }
    seen.add(index);
    return { index, relevanceScore: score };
  });
  // Servers send them best first; sorted again so that no caller depends on it.
  results.sort((a, b) => b.relevanceScore - a.relevanceScore || a.index - b.index);
  const top = request.topN !== undefined && results.length > request.topN ? results.slice(0, request.topN) : results;
  return { model: typeof doc.model === 'string' ? doc.model : request.model, results: top, usage: rerankUsage(doc) };
}
