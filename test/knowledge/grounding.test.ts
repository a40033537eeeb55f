import { describe, expect, it } from 'vitest';
import { findCitations, retrievalExtension } from '../../src/core/citations.js';
import type { RetrievedPassage } from '../../src/core/types.js';
import { groundedRequest, groundingText, lastUserText } from '../../src/knowledge/grounding.js';

const passage = (fileId: string, text: string): RetrievedPassage => ({ fileId, filename: `${fileId}.md`, vectorStoreId: 'vs_1', score: 0.5, text });

describe('grounding', () => {
  it('searches for the last user message text', () => {
    expect(
      lastUserText({
        model: 'm',
        messages: [
          { role: 'user', content: [{ type: 'text', text: 'first' }] },
          { role: 'assistant', content: 'ok' },
          { role: 'user', content: [{ type: 'text', text: '长江有多长？' }, { type: 'image', url: 'data:,' }] },
        ],
      }),
    ).toBe('长江有多长？');
    expect(lastUserText({ model: 'm', messages: [{ role: 'system', content: 's' }] })).toBe('');
  });

  it('numbers the passages and keeps replacement patterns in them literal', () => {
    const t = groundingText([passage('a', 'price is $& and $1'), passage('b', '长江全长6300公里')], 'q');
    expect(t).toContain('[1] a.md\nprice is $& and $1');
    expect(t).toContain('[2] b.md\n长江全长6300公里');
    expect(groundingText([], 'q', 'Q: {{query}}')).toBe('Q: q\n\nSources:\n(no source matched the question)');
  });

  it('puts the grounding ahead of the conversation', () => {
    const r = groundedRequest({ model: 'm', messages: [{ role: 'system', content: 'be brief' }, { role: 'user', content: [{ type: 'text', text: 'q' }] }] }, [passage('a', 'x')], 'q');
    expect(r.messages.map((m) => m.role)).toEqual(['system', 'system', 'user']);
    expect((r.messages[0] as { content: string }).content).toContain('[1] a.md');
  });
});

describe('citations', () => {
  it('finds [n], [n, m] and 【n】 markers that name a passage, where they start', () => {
    const text = 'A [1]. B [2, 3]【1】 C [9] [x]';
    expect(findCitations(text, 3)).toEqual([
      { index: 2, passage: 0 },
      { index: 9, passage: 1 },
      { index: 9, passage: 2 },
      { index: 15, passage: 0 },
    ]);
    expect(findCitations(text, 0)).toEqual([]);
  });

  it('describes the retrieval with the citations the text makes', () => {
    const ext = retrievalExtension({ queries: ['q'], results: [passage('a', 'x'), passage('b', 'y')] }, 'see [2]');
    expect(ext).toMatchObject({ queries: ['q'], results: [{ n: 1, file_id: 'a' }, { n: 2, file_id: 'b' }], citations: [{ index: 4, n: 2, file_id: 'b' }] });
  });
});
