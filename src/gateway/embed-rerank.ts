/**
 * Embeddings and rerank calls as the gateway runs them, for every caller alike: the HTTP routes,
 * a virtual or knowledge model's sub-calls and a principal's own calls (caller.ts, principal.ts).
 * Each builds the call's `CallSpec` (what admission measures, what a deployment is asked) and
 * reads the answer back into what the caller wants.
 */
import { HubError } from '../core/errors.js';
import { canEmbed, canRerank } from '../core/model.js';
import type { RerankResult, Usage } from '../core/types.js';
import { estimateTextTokens, textTokenBound } from '../usage/estimate.js';
import type { CallSpec, Started } from './call.js';

/** The text of a call that answered whole: a deployment's body, or a pre-hook's ready answer. */
export function wholeText(s: Started): string {
  if (s.kind === 'text') return s.text;
  if (s.kind === 'answered' && s.answer.text !== undefined) return s.answer.text;
  throw new HubError('internal', `A whole call started as '${s.kind}'`);
}

/**
 * An embeddings call of `inputs`: relayed as OpenAI embeddings (floats asked for, which every
 * OpenAI-compatible server answers) where the deployment speaks them, through the `embed`
 * capability elsewhere. `vectors(text)` reads the answer: the canonical path's own vectors, or the
 * relayed (or pre-hook's) OpenAI body.
 */
export function embeddingsCall(model: string, inputs: readonly string[]): { spec: CallSpec; request: unknown; vectors(text: string): Float32Array[] } {
  let direct: Float32Array[] | undefined;
  const body = { model, input: inputs, encoding_format: 'float' };
  const spec: CallSpec = {
    endpoint: 'embeddings',
    model,
    stream: false,
    prompt: { estimate: sum(inputs, estimateTextTokens), bound: () => sum(inputs, textTokenBound) },
    maxOutput: 0,
    relay: { format: 'openai-embeddings', request: { body } },
    async canonical(attempt, m, cancel) {
      if (!canEmbed(m)) throw new HubError('bad_request', `The model '${model}' does not offer embeddings.`, { param: 'model' });
      const r = await m.embed({ model: attempt.deployment.upstreamModel, input: inputs }, cancel.signal);
      if (r.embeddings.length !== inputs.length) throw malformed(m.provider, `${r.embeddings.length} vectors for ${inputs.length} inputs`);
      direct = r.embeddings.map((v) => Float32Array.from(v));
      return { text: '', usage: r.usage };
    },
  };
  return { spec, request: body, vectors: (text) => direct ?? openAIVectors(text, inputs.length) };
}

/** OpenAI's embeddings body → one vector per input, in input order (by `index`, floats or base64). */
export function openAIVectors(text: string, count: number): Float32Array[] {
  let doc: { data?: unknown };
  try {
    doc = JSON.parse(text) as { data?: unknown };
  } catch {
    throw malformed(undefined, 'not JSON');
  }
  const data = doc?.data;
  if (!Array.isArray(data) || data.length !== count) throw malformed(undefined, `${Array.isArray(data) ? data.length : 'no'} vectors for ${count} inputs`);
  const out: Float32Array[] = new Array(count);
  data.forEach((d: { index?: unknown; embedding?: unknown } | null, i) => {
    const index = typeof d?.index === 'number' ? d.index : i;
    const e = d?.embedding;
    if (!Number.isInteger(index) || index < 0 || index >= count || out[index]) throw malformed(undefined, `a vector with index ${String(index)}`);
    if (typeof e === 'string') {
      const buf = Buffer.from(e, 'base64');
      out[index] = new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength - (buf.byteLength % 4)));
    } else if (Array.isArray(e) && e.every((x) => typeof x === 'number')) out[index] = Float32Array.from(e as number[]);
    else throw malformed(undefined, 'a vector that is not numbers');
  });
  return out;
}

/**
 * Input tokens of a rerank call where no upstream count exists. A cross-encoder reads the query
 * once with each document, so the query counts once per document (DashScope documents its limit
 * this way: query tokens × documents + all document tokens).
 */
function rerankTokens(query: string, documents: readonly string[], count: (text: string) => number): number {
  return count(query) * documents.length + sum(documents, count);
}

/**
 * A rerank call through the `rerank` capability of each deployment tried. `render`, when given,
 * makes the body an HTTP client gets; `result()` is the answer once the call has started.
 */
export function rerankCall(
  model: string,
  query: string,
  documents: readonly string[],
  topN: number | undefined,
  render?: (r: RerankResult) => string,
): { spec: CallSpec; request: unknown; result(): RerankResult } {
  let result: RerankResult | undefined;
  const spec: CallSpec = {
    endpoint: 'rerank',
    model,
    stream: false,
    prompt: { estimate: rerankTokens(query, documents, estimateTextTokens), bound: () => rerankTokens(query, documents, textTokenBound) },
    maxOutput: 0,
    async canonical(attempt, m, cancel) {
      if (!canRerank(m)) throw new HubError('bad_request', `The model '${model}' does not rerank documents: use a rerank model (a Jina, Cohere, SiliconFlow or Qwen reranker on an OpenAI-compatible provider).`, { param: 'model' });
      const r = await m.rerank({ model: attempt.deployment.upstreamModel, query, documents, ...(topN !== undefined && { topN }) }, cancel.signal);
      // An upstream that reports no tokens is charged by the hub's estimate rather than not at all.
      const usage: Usage = r.usage ?? { inputTokens: rerankTokens(query, documents, estimateTextTokens), outputTokens: 0 };
      result = { ...r, usage };
      return { text: render ? render(result) : '', usage };
    },
  };
  const request = { model, query, documents, ...(topN !== undefined && { top_n: topN }) };
  return {
    spec,
    request,
    result: () => {
      if (!result) throw new HubError('internal', 'A rerank call has no result');
      return result;
    },
  };
}

function sum(texts: readonly string[], count: (text: string) => number): number {
  let n = 0;
  for (const t of texts) n += count(t);
  return n;
}

function malformed(provider: string | undefined, what: string): HubError {
  return new HubError('upstream', `Upstream ${provider ?? 'embeddings'} answered ${what}`, { ...(provider && { provider }) });
}
