import { describe, expect, it } from 'vitest';
import { HubError } from '../../src/core/errors.js';
import type { ChatRequest } from '../../src/core/types.js';
import { MoaModel, createVirtualModel, virtualModelSchema } from '../../src/ensemble/index.js';
import type { MoaConfig } from '../../src/ensemble/index.js';
import { MOA_AGGREGATE } from '../../src/ensemble/prompts.js';
import { FakeCaller, allText, ask, events, expectShape, failure, textOf, traceOf, usageOf } from './fake-caller.js';

function moa(config: Record<string, unknown>, caller: FakeCaller): MoaModel {
  return createVirtualModel(virtualModelSchema.parse({ kind: 'moa', ...config }), caller, { name: 'm' }) as MoaModel;
}

const system = (r: ChatRequest) => (r.messages[0]?.role === 'system' ? r.messages[0].content : '');

describe('moa', () => {
  it('gives the aggregator every proposer answer and streams its answer token by token', async () => {
    const caller = new FakeCaller({
      p1: { text: 'answer one', delayMs: 10 },
      p2: 'answer two',
      p3: 'answer three',
      agg: { text: 'the synthesis', chunks: ['the', ' synth', 'esis'], usage: { inputTokens: 100, outputTokens: 30, cachedInputTokens: 40 } },
    });
    const evs = await events(moa({ proposers: ['p1', 'p2', 'p3'], aggregator: 'agg' }, caller), ask('Explain tides'));
    expectShape(evs);
    expect(evs.filter((e) => e.type === 'text').map((e) => (e.type === 'text' ? e.text : ''))).toEqual(['the', ' synth', 'esis']);
    const agg = caller.callsTo('agg');
    expect(agg).toHaveLength(1);
    expect(agg[0]!.kind).toBe('stream');
    const sys = system(agg[0]!.request);
    expect(sys).toContain(MOA_AGGREGATE);
    for (const a of ['1. answer one', '2. answer two', '3. answer three']) expect(sys).toContain(a);
    expect(allText(agg[0]!.request.messages)).toContain('Explain tides');
    // Proposers ran in parallel and before the aggregator.
    const props = caller.calls.filter((c) => c.model !== 'agg');
    expect(Math.max(...props.map((c) => c.startedAt))).toBeLessThan(props.find((c) => c.model === 'p1')!.endedAt!);
    expect(agg[0]!.startedAt).toBeGreaterThanOrEqual(Math.max(...props.map((c) => c.endedAt!)));

    const { steps, summary } = traceOf(evs);
    expect(steps.map((s) => s.stage)).toEqual(['proposer', 'proposer', 'proposer', 'aggregator']);
    expect(steps[3]).toMatchObject({ model: 'agg', text: 'the synthesis', usage: { inputTokens: 100 } });
    expect(summary).toMatchObject({ kind: 'moa', layers: 1, answeredPerLayer: [3], calls: 4 });
    expect(usageOf(evs)).toEqual({ inputTokens: 130, outputTokens: 45, cachedInputTokens: 40 });
  });

  it('with two layers, layer 2 sees layer 1 and the aggregator sees layer 2', async () => {
    const caller = new FakeCaller({
      p1: (_r, n) => `p1 layer ${n + 1}`,
      p2: (_r, n) => `p2 layer ${n + 1}`,
      agg: 'final',
    });
    const evs = await events(moa({ proposers: ['p1', 'p2'], aggregator: 'agg', layers: 2 }, caller), ask('Q', { messages: [{ role: 'system', content: 'Be terse.' }, { role: 'user', content: [{ type: 'text', text: 'Q' }] }] }));
    const [l1a, l1b, l2a, l2b] = caller.calls;
    expect(l1a!.request.messages).toHaveLength(2);
    expect(system(l1a!.request)).toBe('Be terse.');
    for (const c of [l2a!, l2b!]) {
      expect(system(c.request)).toMatch(/^Be terse\.\n\n/);
      expect(system(c.request)).toContain('p1 layer 1');
      expect(system(c.request)).toContain('p2 layer 1');
    }
    const agg = system(caller.callsTo('agg')[0]!.request);
    expect(agg).toContain('p1 layer 2');
    expect(agg).not.toContain('p1 layer 1');
    expect(traceOf(evs).steps.map((s) => s.detail?.layer)).toEqual([1, 1, 2, 2, undefined]);
    expect(textOf(evs)).toBe('final');
  });

  it('keeps tools away from proposers and gives them to the aggregator', async () => {
    const caller = new FakeCaller({ p1: 'a', agg: { text: '', toolCalls: [{ id: 'c1', name: 'lookup', arguments: '{"q":"x"}' }] } });
    const tools = [{ name: 'lookup', parameters: { type: 'object' } }];
    const evs = await events(moa({ proposers: ['p1'], aggregator: 'agg' }, caller), ask('?', { tools, parallelToolCalls: true }));
    expect(caller.calls[0]!.request).toMatchObject({ toolChoice: 'none' });
    expect(caller.calls[0]!.request.parallelToolCalls).toBeUndefined();
    expect(caller.calls[1]!.request.tools).toEqual(tools);
    expect(caller.calls[1]!.request.toolChoice).toBeUndefined();
    expect(evs.find((e) => e.type === 'tool_call')).toMatchObject({ name: 'lookup', arguments: '{"q":"x"}' });
    expect(evs.find((e) => e.type === 'finish')).toMatchObject({ reason: 'tool_calls' });
  });

  it('survives a failed proposer while the quorum holds; otherwise one error lists the failures', async () => {
    const ok = new FakeCaller({ p1: 'a', p2: new HubError('upstream', 'p2 down'), p3: 'c', agg: 'done' });
    const evs = await events(moa({ proposers: ['p1', 'p2', 'p3'], aggregator: 'agg' }, ok), ask('?'));
    expect(system(ok.callsTo('agg')[0]!.request)).toContain('1. a\n\n2. c');
    expect(traceOf(evs).summary).toMatchObject({ answeredPerLayer: [2] });

    const bad = new FakeCaller({ p1: 'a', p2: new HubError('upstream', 'p2 down'), p3: new HubError('timeout', 'p3 slow'), agg: 'done' });
    const err = await failure(events(moa({ proposers: ['p1', 'p2', 'p3'], aggregator: 'agg' }, bad), ask('?')));
    expect(err.message).toContain('only 1 of 3 proposers answered in layer 1; the quorum is 2');
    expect(err.message).toContain('p2 down');
    expect(err.message).toContain('p3 slow');
    expect(bad.callsTo('agg')).toHaveLength(0);
  });

  it('an aggregator failure before any output is a clean error (no events sent)', async () => {
    const caller = new FakeCaller({ p1: 'a', agg: new HubError('overloaded', 'busy') });
    const m = moa({ proposers: ['p1'], aggregator: 'agg' }, caller);
    const seen: string[] = [];
    const err = await failure(
      (async () => {
        for await (const e of m.stream(ask('?'), new AbortController().signal)) seen.push(e.type);
      })(),
    );
    expect(seen).toEqual([]);
    expect(err.kind).toBe('overloaded');
    expect(err.message).toContain("aggregator 'agg' failed: busy");
  });

  it('refuses a fan-out over maxCalls up front (config and runtime)', async () => {
    const r = virtualModelSchema.safeParse({ kind: 'moa', proposers: ['a', 'b', 'c'], aggregator: 'x', layers: 3, maxCalls: 9 });
    expect(r.success).toBe(false);
    const caller = new FakeCaller({ a: 'x', b: 'x', c: 'x', agg: 'x' });
    const raw = { kind: 'moa', proposers: ['a', 'b', 'c'], aggregator: 'agg', layers: 3, maxCalls: 9 } as MoaConfig;
    const err = await failure(events(new MoaModel(raw, caller), ask('?')));
    expect(err.code).toBe('ceiling_exceeded');
    expect(err.message).toContain('needs 10 calls but maxCalls is 9');
    expect(caller.calls).toHaveLength(0);
  });

  it('refuses up front when the estimated worst cost is over maxCostUsd', async () => {
    const caller = new FakeCaller({ a: 'x', b: 'x', agg: 'x' }, { prices: { a: 0.01, b: 0.01, agg: 0.05 } });
    const err = await failure(events(moa({ proposers: ['a', 'b'], aggregator: 'agg', maxCostUsd: 0.06 }, caller), ask('?')));
    expect(err.code).toBe('ceiling_exceeded');
    expect(err.message).toContain('cost ceiling');
    expect(caller.calls).toHaveLength(0);

    const fits = new FakeCaller({ a: 'x', b: 'x', agg: 'x' }, { prices: { a: 0.01, b: 0.01, agg: 0.05 } });
    await events(moa({ proposers: ['a', 'b'], aggregator: 'agg', maxCostUsd: 0.07 }, fits), ask('?'));
    expect(fits.calls).toHaveLength(3);
  });
});
