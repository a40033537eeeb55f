import type { ChatCompletionChunk } from 'openai/resources/chat/completions';

/**
 * Reads an `openai` SDK chat stream to its end or to the error that ends it: the text that did
 * arrive, and that error (undefined when the stream ended cleanly). For streams a test expects
 * to be cut, stalled or failed over.
 */
export async function readChatStream(stream: AsyncIterable<ChatCompletionChunk>): Promise<{ text: string; err: any }> {
  let text = '';
  const err = await (async () => {
    for await (const c of stream) text += c.choices[0]?.delta.content ?? '';
  })().catch((e: unknown) => e);
  return { text, err };
}
