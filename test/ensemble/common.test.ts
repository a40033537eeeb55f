import { describe, expect, it } from 'vitest';
import { HubError } from '../../src/core/errors.js';
import { collect } from '../../src/core/collect.js';
import { createVirtualModel, virtualModelMembers, virtualModelSchema } from '../../src/ensemble/index.js';
import type { VirtualModelInput } from '../../src/ensemble/index.js';
import { FakeCaller, ask, events, failure, textOf, traceOf, usageOf } from './fake-caller.js';

const make = (config: VirtualModelInput, caller: FakeCaller) => createVirtualModel(virtualModelSchema.parse(config), caller, { name: 'x' });

describe('virtual model config', () => {
  it('applies defaults and reports the provider as virtual:<kind>', () => {
    const c = virtualModelSchema.parse({ kind: 'moa', proposers: ['a', 'b'], aggregator: 'c' });
    expect(c).toMatchObject({ maxCalls: 16, layers: 1 });
    const v = virtualModelSchema.parse({ kind: 'vote', models: ['a'] });
    expect(v).toMatchObject({ extract: 'normalized_text' });
    const j = virtualModelSchema.parse({ kind: 'judge', candidates: ['a'], judge: 'j' });
    expect(j).toMatchObject({ mode: 'pointwise' });
    const d = virtualModelSchema.parse({ kind: 'decompose', planner: 'p', workers: [{ model: 'w' }], synthesizer: 's' });
    expect(d).toMatchObject({ workers: [{ model: 'w', skills: [] }] });
    expect(createVirtualModel(c, new FakeCaller({})).provider).toBe('virtual:moa');
  });

  it('rejects unknown kinds, unknown fields, bad regexes and quorums larger than the members', () => {
    expect(virtualModelSchema.safeParse({ kind: 'magic', models: ['a'] }).success).toBe(false);
    expect(virtualModelSchema.safeParse({ kind: 'vote', models: ['a'], sample: 3 }).success).toBe(false);
    expect(virtualModelSchema.safeParse({ kind: 'cascade', models: ['a'], check: { type: 'regex', pattern: '(' } }).success).toBe(false);
    expect(virtualModelSchema.safeParse({ kind: 'moa', proposers: ['a', 'b'], aggregator: 'c', quorum: 3 }).success).toBe(false);
    expect(virtualModelSchema.safeParse({ kind: 'cascade', models: [], check: { type: 'regex', pattern: 'x' } }).success).toBe(false);
  });

  it('lists the members a virtual model calls', () => {
    const c = virtualModelSchema.parse({ kind: 'cascade', models: ['a', 'b'], check: { type: 'verifier', model: 'v' } });
    expect(virtualModelMembers(c)).toEqual(['a', 'b', 'v']);
    const d = virtualModelSchema.parse({ kind: 'decompose', planner: 'p', workers: [{ model: 'w' }, { model: 'p' }], synthesizer: 's' });
    expect(virtualModelMembers(d)).toEqual(['p', 'w', 's']);
  });
});

describe('virtual models: common behaviour', () => {
  it('rejects n > 1', async () => {
    const err = await failure(events(make({ kind: 'vote', models: ['a'] }, new FakeCaller({ a: '1' })), ask('?', { n: 2 })));
    expect(err).toMatchObject({ kind: 'bad_request', param: 'n' });
  });

  it('sums usage over every sub-call, cached and reasoning tokens included, in one usage event', async () => {
    const caller = new FakeCaller({
      a: { text: 'x', usage: { inputTokens: 100, outputTokens: 20, cachedInputTokens: 50, reasoningTokens: 5 } },
      b: { text: 'y', usage: { inputTokens: 10, outputTokens: 2 } },
      agg: { text: 'z', usage: { inputTokens: 200, outputTokens: 40, reasoningTokens: 7, cacheWriteTokens: 3 } },
    });
    const evs = await events(make({ kind: 'moa', proposers: ['a', 'b'], aggregator: 'agg' }, caller), ask('?'));
    expect(usageOf(evs)).toEqual({ inputTokens: 310, outputTokens: 62, cachedInputTokens: 50, reasoningTokens: 12, cacheWriteTokens: 3 });
  });

  it('collects into an answer with the trace attached (non-streaming clients)', async () => {
    const caller = new FakeCaller({ a: 'The answer is 3', b: '3' });
    const r = await collect(make({ kind: 'vote', models: ['a', 'b'], samples: 2, extract: 'last_number' }, caller).stream(ask('?'), new AbortController().signal));
    expect(r.model).toBe('x');
    expect(r.choices[0]).toMatchObject({ text: 'The answer is 3', finishReason: 'stop' });
    expect(r.trace?.summary).toMatchObject({ kind: 'vote', agreement: 1 });
    expect(r.usage).toEqual({ inputTokens: 20, outputTokens: 10 });
  });

  it('records costs, latencies and errors in the trace; truncates long texts', async () => {
    const long = 'y'.repeat(5000);
    const caller = new FakeCaller({ a: [{ text: long, costUsd: 0.002, delayMs: 15 }, new HubError('upstream', 'nope')], agg: 'z' }, {});
    const evs = await events(make({ kind: 'moa', proposers: ['a', 'a'], aggregator: 'agg', quorum: 1 }, caller), ask('?'));
    const { steps, summary } = traceOf(evs);
    expect(steps[0]!.text).toHaveLength(2001);
    expect(steps[0]).toMatchObject({ costUsd: 0.002, usage: { inputTokens: 10 } });
    expect(steps[0]!.latencyMs).toBeGreaterThanOrEqual(10);
    expect(steps[1]).toMatchObject({ error: 'nope', text: '' });
    expect(summary).toMatchObject({ costUsd: 0.002, calls: 3 });
    // The aggregator saw the whole answer, not the trace's shortened one.
    expect(JSON.stringify(caller.callsTo('agg')[0]!.request.messages)).toContain(long);
  });

  it('passes a nested virtual model’s trace summary into its step', async () => {
    const inner = new FakeCaller({ a: '1' });
    const innerModel = make({ kind: 'vote', models: ['a'], samples: 3 }, inner);
    const outer = new FakeCaller({ inner: 'x' });
    // A caller whose "inner" model is a virtual model: complete() collects its stream.
    const caller = Object.assign(Object.create(outer) as FakeCaller, {
      async complete(model: string, request: Parameters<FakeCaller['complete']>[1], signal: AbortSignal) {
        const r = await collect(innerModel.stream(request, signal));
        return { ...r, costUsd: undefined, latencyMs: 1 };
      },
    });
    const evs = await events(make({ kind: 'cascade', models: ['inner'], check: { type: 'regex', pattern: '1' } }, caller), ask('?'));
    expect(textOf(evs)).toBe('1');
    expect(traceOf(evs).steps[0]!.detail!.trace).toMatchObject({ steps: 3, summary: { kind: 'vote', agreement: 1 } });
  });

  it('stops making calls when the client goes away', async () => {
    const caller = new FakeCaller({ a: { text: 'slow', delayMs: 10_000 }, b: 'fast', v: 'FAIL' });
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 20);
    const started = performance.now();
    const err = await failure(events(make({ kind: 'cascade', models: ['a', 'b'], check: { type: 'verifier', model: 'v' } }, caller), ask('?'), ac.signal));
    expect(err.kind).toBe('canceled');
    // It did not wait for the slow member (10 s) to finish: the margin is wide on any machine.
    expect(performance.now() - started).toBeLessThan(5_000);
    expect(caller.calls.map((c) => c.model)).toEqual(['a']);
  });

  it('timeoutMs makes a slow member count as failed while the quorum holds', async () => {
    const caller = new FakeCaller({ a: ['7', { text: '8', delayMs: 10_000 }, '7'] });
    const started = performance.now();
    const evs = await events(make({ kind: 'vote', models: ['a'], samples: 3, extract: 'last_number', timeoutMs: 50 }, caller), ask('?'));
    expect(performance.now() - started).toBeLessThan(5_000);
    const { steps, summary } = traceOf(evs);
    expect(steps[1]!.error).toBe('timed out after 50 ms');
    expect(summary).toMatchObject({ succeeded: 2, winner: '7', agreement: 1 });
  });

  it('a member that ignores the abort signal still cannot hold the request past timeoutMs', async () => {
    const caller = new FakeCaller({ a: '1' });
    const stubborn = Object.assign(Object.create(caller) as FakeCaller, {
      complete: (_m: string) => new Promise<never>(() => {}),
    });
    const err = await failure(events(make({ kind: 'vote', models: ['a'], samples: 1, timeoutMs: 30 }, stubborn), ask('?')));
    expect(err.kind).toBe('timeout');
    expect(err.message).toContain('timed out after 30 ms');
  });
});
