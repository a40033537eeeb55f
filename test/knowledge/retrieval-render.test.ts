import { describe, expect, it } from 'vitest';
import { Collector } from '../../src/core/collect.js';
import type { ChatEvent } from '../../src/core/types.js';
import { collectedToMessage, AnthropicStreamRenderer } from '../../src/protocols/anthropic-messages/from-canonical.js';
import { completionToWire, ChunkRenderer } from '../../src/protocols/openai-chat/from-canonical.js';
import { collectedToResponse, ResponsesStreamRenderer } from '../../src/protocols/openai-responses/from-canonical.js';
import type { ResponsesRequest } from '../../src/protocols/openai-responses/schema.js';

const events: ChatEvent[] = [
  { type: 'start', id: 'x', model: 'm' },
  {
    type: 'retrieval',
    queries: ['长江有多长'],
    results: [
      { fileId: 'file-a', filename: 'a.md', vectorStoreId: 'vs_1', score: 0.9, text: '长江全长约6300公里', attributes: { lang: 'zh' } },
      { fileId: 'file-b', filename: 'b.md', vectorStoreId: 'vs_1', score: 0.4, text: 'other' },
    ],
  },
  { type: 'text', choice: 0, text: '约6300公里' },
  { type: 'text', choice: 0, text: '【1】。' },
  { type: 'finish', choice: 0, reason: 'stop' },
  { type: 'usage', usage: { inputTokens: 10, outputTokens: 5 } },
];
const collected = () => {
  const c = new Collector();
  for (const e of events) c.add(e);
  return c.result();
};
const body = (include?: string[]) => ({ model: 'm', input: '长江有多长', tools: [{ type: 'file_search', vector_store_ids: ['vs_1'] }], ...(include && { include }) }) as unknown as ResponsesRequest;
const ids = { newId: (p: string) => `${p}_1` };

/** Parses `event: …\ndata: …` blocks. */
function sse(text: string): { event: string; data: Record<string, unknown> }[] {
  return text
    .split('\n\n')
    .filter(Boolean)
    .map((b) => ({ event: /^event: (.*)$/m.exec(b)![1]!, data: JSON.parse(/^data: (.*)$/m.exec(b)![1]!) as Record<string, unknown> }));
}

describe('a grounded answer in Responses', () => {
  it('whole: a file_search_call item first, results only when included, file_citation annotations where the markers are', () => {
    const r = collectedToResponse(collected(), 'resp_1', body(), 0, ids) as { output: Record<string, unknown>[] };
    expect(r.output[0]).toEqual({ id: 'fs_1', type: 'file_search_call', status: 'completed', queries: ['长江有多长'], results: null });
    expect(r.output[1]).toMatchObject({ type: 'message', content: [{ type: 'output_text', text: '约6300公里【1】。', annotations: [{ type: 'file_citation', index: 7, file_id: 'file-a', filename: 'a.md' }] }] });
    const withResults = collectedToResponse(collected(), 'resp_1', body(['file_search_call.results']), 0, ids) as { output: { results: unknown }[] };
    expect(withResults.output[0]!.results).toEqual([
      { file_id: 'file-a', filename: 'a.md', score: 0.9, text: '长江全长约6300公里', attributes: { lang: 'zh' } },
      { file_id: 'file-b', filename: 'b.md', score: 0.4, text: 'other', attributes: {} },
    ]);
  });

  it('streamed: the file_search_call events in order, the annotation before the text is done, the same final response', () => {
    const r = new ResponsesStreamRenderer('resp_1', body(['file_search_call.results']), 0, ids);
    let out = r.start();
    for (const e of events) out += r.render(e);
    out += r.end();
    const types = sse(out).map((e) => e.event);
    expect(types.slice(0, 8)).toEqual([
      'response.created',
      'response.in_progress',
      'response.output_item.added',
      'response.file_search_call.in_progress',
      'response.file_search_call.searching',
      'response.file_search_call.completed',
      'response.output_item.done',
      'response.output_item.added',
    ]);
    expect(types.indexOf('response.output_text.annotation.added')).toBeLessThan(types.indexOf('response.output_text.done'));
    const ann = sse(out).find((e) => e.event === 'response.output_text.annotation.added')!.data;
    expect(ann).toMatchObject({ output_index: 1, content_index: 0, annotation_index: 0, annotation: { type: 'file_citation', index: 7, file_id: 'file-a' } });
    const final = r.response as { output: Record<string, unknown>[] };
    expect(final.output[0]).toMatchObject({ type: 'file_search_call', status: 'completed', results: [{ file_id: 'file-a' }, { file_id: 'file-b' }] });
    expect(final.output[1]).toMatchObject({ content: [{ annotations: [{ index: 7, file_id: 'file-a' }] }] });
  });
});

describe('a grounded answer in chat completions and Anthropic messages', () => {
  it('carries baimo_retrieval with the passages and the citations its text makes', () => {
    const chat = completionToWire(collected(), 'id', 'm') as { baimo_retrieval: unknown };
    expect(chat.baimo_retrieval).toMatchObject({ queries: ['长江有多长'], results: [{ n: 1, file_id: 'file-a' }, { n: 2 }], citations: [{ index: 7, n: 1, file_id: 'file-a' }] });
    const msg = collectedToMessage(collected(), 'id', 'm') as { baimo_retrieval: unknown };
    expect(msg.baimo_retrieval).toEqual(chat.baimo_retrieval);
  });

  it('streams them: chat before the text, Anthropic on message_delta with the citations', () => {
    const chat = new ChunkRenderer('id', 'm', false);
    const chunks = events.map((e) => chat.render(e)).filter(Boolean) as Record<string, unknown>[];
    const first = chunks.findIndex((c) => 'baimo_retrieval' in c);
    expect(first).toBeGreaterThanOrEqual(0);
    expect(first).toBeLessThan(chunks.findIndex((c) => JSON.stringify(c).includes('"约6300')));
    const a = new AnthropicStreamRenderer('id', 'm', 0);
    let out = a.start();
    for (const e of events) out += a.render(e);
    out += a.end();
    const delta = sse(out).find((e) => e.event === 'message_delta')!.data;
    expect(delta.baimo_retrieval).toMatchObject({ citations: [{ index: 7, n: 1 }] });
  });
});
