import type { IncomingMessage, ServerResponse } from 'node:http';
import { z } from 'zod';
import { MAX_MODEL_NAME, MODEL_NAME_TOO_LONG } from '../../core/model-name.js';
import type { RerankResult } from '../../core/types.js';
import { startCall } from '../../gateway/call.js';
import { rerankCall } from '../../gateway/embed-rerank.js';
import { openAIErrorFormat } from '../../protocols/openai-chat/errors.js';
import { validate } from '../../protocols/validate.js';
import type { HubContext } from '../context.js';
import { runRequest } from '../lifecycle.js';
import { respond } from '../respond.js';

/**
 * The most documents one request may rank. Cohere advises at most 1,000 per request, DashScope
 * takes 500 and SiliconFlow's models about as many; a larger list is a client's mistake (or an
 * attack on the budget estimate), refused before anything is spent.
 */
export const MAX_RERANK_DOCUMENTS = 1000;

/**
 * The Jina/Cohere request (https://jina.ai/reranker, https://docs.cohere.com/reference/rerank-1),
 * as SiliconFlow and Qwen take it too. Documents are strings, or Jina's `{text}` objects.
 * Loose: fields the hub does not use (instructions, chunking options) are accepted and not sent on.
 */
const rerankRequest = z.looseObject({
  model: z.string().min(1, 'expected a model name').max(MAX_MODEL_NAME, MODEL_NAME_TOO_LONG),
  query: z.string().min(1, 'expected a non-empty query'),
  documents: z
    .array(z.union([z.string(), z.looseObject({ text: z.string() })]))
    .min(1, 'expected at least one document')
    .max(MAX_RERANK_DOCUMENTS, `at most ${MAX_RERANK_DOCUMENTS} documents per request`),
  top_n: z.number().int().positive().nullable().optional(),
  return_documents: z.boolean().nullable().optional(),
});

/**
 * The answer in the shape Jina, SiliconFlow and Qwen give (Cohere's results too): best first;
 * the documents, when asked for, from the request itself; usage as input tokens.
 */
function render(id: string, model: string, documents: readonly string[], withDocuments: boolean, r: RerankResult): string {
  return JSON.stringify({
    id,
    model,
    results: r.results.map((x) => ({ index: x.index, relevance_score: x.relevanceScore, ...(withDocuments && { document: { text: documents[x.index] } }) })),
    usage: { total_tokens: r.usage?.inputTokens ?? 0 },
  });
}

/**
 * `POST /v1/rerank`: scores documents against a query with a rerank model, routed like any model
 * (admitted, retried and failed over, recorded and charged as endpoint `rerank`). A model
 * without the `rerank` capability is a 400; errors come in OpenAI's shape, as on the hub's other
 * endpoints. `return_documents` defaults to false, as at SiliconFlow and Qwen.
 */
export function rerank(ctx: HubContext, req: IncomingMessage, res: ServerResponse, requestId: string): Promise<void> {
  return runRequest(ctx, req, res, requestId, 'rerank', openAIErrorFormat, async (json, out, call, reply) => {
    const body = validate(rerankRequest, json);
    const documents = body.documents.map((d) => (typeof d === 'string' ? d : d.text));
    const withDocuments = body.return_documents === true;
    const c = rerankCall(body.model, body.query, documents, body.top_n ?? undefined, (r) => render(requestId, body.model, documents, withDocuments, r));
    const started = await startCall(ctx, call, out, c.spec);
    await respond(reply, requestId, out, started, {});
  });
}
