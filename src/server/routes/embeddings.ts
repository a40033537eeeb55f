import type { IncomingMessage, ServerResponse } from 'node:http';
import { HubError } from '../../core/errors.js';
import { canEmbed } from '../../core/model.js';
import type { EmbeddingResult } from '../../core/types.js';
import { openAIErrorFormat } from '../../protocols/openai-chat/errors.js';
import { embeddingsRequest } from '../../protocols/openai-chat/schema.js';
import { validate } from '../../protocols/validate.js';
import { estimateTextTokens, textTokenBound } from '../../usage/estimate.js';
import type { HubContext } from '../context.js';
import { startCall } from '../../gateway/call.js';
import { runRequest } from '../lifecycle.js';
import { respond } from '../respond.js';

/** A vector as OpenAI's base64 encoding: little-endian float32s. */
function base64(vector: readonly number[]): string {
  const buf = Buffer.allocUnsafe(vector.length * 4);
  for (let i = 0; i < vector.length; i++) buf.writeFloatLE(vector[i]!, i * 4);
  return buf.toString('base64');
}

/** A canonical embedding result → OpenAI's embeddings response. */
function openAIEmbeddings(r: EmbeddingResult, format: 'float' | 'base64' | undefined): Record<string, unknown> {
  return {
    object: 'list',
    data: r.embeddings.map((v, index) => ({ object: 'embedding', index, embedding: format === 'base64' ? base64(v) : v })),
    model: r.model,
    usage: { prompt_tokens: r.usage.inputTokens, total_tokens: r.usage.inputTokens },
  };
}

/**
 * `POST /v1/embeddings`, through each deployment's embedding capability: a deployment that
 * relays OpenAI embeddings (`passthrough('openai-embeddings')`) gets the body as it is (unknown fields, token arrays and base64
 * pass through) with usage read on the way; any other wire format (Gemini's batchEmbedContents)
 * gets the canonical request and its answer is rendered in OpenAI's shape.
 */
export function embeddings(ctx: HubContext, req: IncomingMessage, res: ServerResponse, requestId: string): Promise<void> {
  return runRequest(ctx, req, res, requestId, 'embeddings', openAIErrorFormat, async (json, out, call, reply) => {
    const body = validate(embeddingsRequest, json);
    const inputs = typeof body.input === 'string' ? [body.input] : body.input;
    const size = (count: (text: string) => number) => inputs.reduce<number>((n, x) => n + (typeof x === 'string' ? count(x) : Array.isArray(x) ? x.length : 1), 0);
    const started = await startCall(ctx, call, out, {
      endpoint: 'embeddings',
      model: body.model,
      stream: false,
      prompt: { estimate: size(estimateTextTokens), bound: () => size(textTokenBound) },
      maxOutput: 0,
      relay: { format: 'openai-embeddings', request: { body: json as Record<string, unknown> } },
      async canonical(attempt, model, cancel) {
        if (!canEmbed(model)) throw new HubError('bad_request', `The model '${body.model}' does not offer embeddings.`, { param: 'model' });
        if (!inputs.every((x): x is string => typeof x === 'string')) {
          throw new HubError('bad_request', `Invalid 'input': the model '${body.model}' takes text only, not token arrays.`, { param: 'input' });
        }
        const r = await model.embed(
          {
            model: attempt.deployment.upstreamModel,
            input: inputs,
            ...(body.dimensions !== undefined && { dimensions: body.dimensions }),
            ...(body.user !== undefined && { user: body.user }),
          },
          cancel.signal,
        );
        return { text: JSON.stringify(openAIEmbeddings(r, body.encoding_format)), usage: r.usage };
      },
    });
    await respond(reply, requestId, out, started, {});
  });
}
