import { describe, expect, it } from 'vitest';
import { HubError } from '../../src/core/errors.js';
import type { ChatEvent, RetrievedPassage } from '../../src/core/types.js';
import { createVirtualModel, virtualModelSchema } from '../../src/ensemble/index.js';
import type { RagModel } from '../../src/knowledge/rag.js';
import { FakeCaller, ask, events, textOf, traceOf } from './fake-caller.js';

const passages: RetrievedPassage[] = [
  { fileId: 'file-1', filename: '长江.md', vectorStoreId: 'vs_1', score: 0.9, text: '长江全长约6300公里。' },
  { fileId: 'file-2', filename: 'nile.md', vectorStoreId: 'vs_1', score: 0.5, text: 'The Nile is about 6650 km long.' },
];

function rag(config: Record<string, unknown>, caller: FakeCaller): RagModel {
  return createVirtualModel(virtualModelSchema.parse({ kind: 'rag', model: 'writer', vectorStores: ['vs_1'], ...config }), caller, { name: 'docs' }) as RagModel;
}

describe('rag virtual model', () => {
  it('searches for the question, grounds the member in numbered passages, and announces them right after the start', async () => {
    const caller = new FakeCaller({ writer: '约6300公里[1]。' }, { passages });
    const evs = await events(rag({ maxResults: 5, scoreThreshold: 0.2 }, caller), ask('长江有多长？'));
    expect(caller.retrievals).toEqual([{ vectorStoreIds: ['vs_1'], query: '长江有多长？', maxResults: 5, scoreThreshold: 0.2 }]);
    const system = caller.calls[0]!.request.messages[0] as { role: string; content: string };
    expect(system.role).toBe('system');
    expect(system.content).toContain('[1] 长江.md\n长江全长约6300公里。');
    expect(system.content).toContain('[2] nile.md');
    expect(evs[0]!.type).toBe('start');
    expect(evs[1]).toEqual({ type: 'retrieval', queries: ['长江有多长？'], results: passages });
    expect(textOf(evs)).toBe('约6300公里[1]。');
    expect(traceOf(evs).summary).toMatchObject({ kind: 'rag', passages: 2, files: 2 });
  });

  it('uses its own template, and says when nothing matched rather than inventing sources', async () => {
    const caller = new FakeCaller({ writer: 'not found' }, { passages: [] });
    await events(rag({ template: 'Q={{query}}\n{{sources}}' }, caller), ask('unknown thing'));
    expect((caller.calls[0]!.request.messages[0] as { content: string }).content).toBe('Q=unknown thing\n(no source matched the question)');
  });

  it('does not search when there is no user text', async () => {
    const caller = new FakeCaller({ writer: 'hi' }, { passages });
    const evs = await events(rag({}, caller), { model: 'docs', messages: [{ role: 'system', content: 'x' }] });
    expect(caller.retrievals).toEqual([]);
    expect(evs.find((e): e is Extract<ChatEvent, { type: 'retrieval' }> => e.type === 'retrieval')).toEqual({ type: 'retrieval', queries: [], results: [] });
  });

  it('fails before any output when the search fails, and makes no member call', async () => {
    const caller = new FakeCaller({ writer: 'x' }, { passages: new HubError('rate_limited', 'over budget') });
    await expect(events(rag({}, caller), ask('q'))).rejects.toThrow('over budget');
    expect(caller.calls).toEqual([]);
  });

  it('refuses configs that cannot work', () => {
    expect(() => virtualModelSchema.parse({ kind: 'rag', model: 'w', vectorStores: [] })).toThrow();
    expect(() => virtualModelSchema.parse({ kind: 'rag', model: 'w', vectorStores: ['vs'], maxResults: 51 })).toThrow();
    expect(() => virtualModelSchema.parse({ kind: 'rag', model: 'w', vectorStores: ['vs'], scoreThreshold: 2 })).toThrow();
    expect(() => virtualModelSchema.parse({ kind: 'rag', model: 'w', vectorStores: ['vs'], extra: 1 })).toThrow();
  });
});
