import type { IncomingMessage, ServerResponse } from 'node:http';
import { openAIErrorFormat } from '../../protocols/openai-chat/errors.js';
import { ChunkRenderer, completionToWire } from '../../protocols/openai-chat/from-canonical.js';
import { chatCompletionRequest } from '../../protocols/openai-chat/schema.js';
import { chatRequestToCanonical } from '../../protocols/openai-chat/to-canonical.js';
import { validate } from '../../protocols/validate.js';
import { startCall } from '../../gateway/call.js';
import type { HubContext } from '../context.js';
import { runRequest } from '../lifecycle.js';
import { respond, sseOpener } from '../respond.js';

/** `POST /v1/chat/completions`: OpenAI's Chat Completions API in front of any model. */
export function chatCompletions(ctx: HubContext, req: IncomingMessage, res: ServerResponse, requestId: string): Promise<void> {
  return runRequest(ctx, req, res, requestId, 'chat', openAIErrorFormat, async (json, out, call, reply) => {
    const body = validate(chatCompletionRequest, json);
    const canonical = chatRequestToCanonical(body, '');
    const includeUsage = body.stream_options?.include_usage === true;
    const started = await startCall(ctx, call, out, {
      endpoint: 'chat',
      model: body.model,
      stream: body.stream === true,
      canonical,
      choices: body.n,
      maxOutput: body.max_completion_tokens ?? body.max_tokens ?? undefined,
      relay: { format: 'openai-chat', request: { body: json as Record<string, unknown>, includeUsage }, open: sseOpener(reply, requestId, out) },
    });
    const id = `chatcmpl-${requestId}`;
    await respond(reply, requestId, out, started, {
      whole: (c) => completionToWire(c, id, body.model),
      stream: () => {
        const renderer = new ChunkRenderer(id, body.model, includeUsage);
        return {
          render(e) {
            const chunk = renderer.render(e);
            return chunk ? `data: ${JSON.stringify(chunk)}\n\n` : undefined;
          },
          end: () => 'data: [DONE]\n\n',
        };
      },
    });
  });
}
