import { describe, expect, it } from 'vitest';
import { HubError } from '../../src/core/errors.js';
import { VoteModel, createVirtualModel, virtualModelSchema } from '../../src/ensemble/index.js';
import type { VoteConfig } from '../../src/ensemble/index.js';
import { choiceLetter, jsonField, lastNumber, normalizedText, tally } from '../../src/ensemble/extract.js';
import { FakeCaller, ask, events, expectShape, failure, textOf, traceOf, usageOf } from './fake-caller.js';

function vote(config: Record<string, unknown>, caller: FakeCaller): VoteModel {
  const c = virtualModelSchema.parse({ kind: 'vote', ...config });
  return createVirtualModel(c, caller, { name: 'v' }) as VoteModel;
}

describe('vote extraction', () => {
  it('last_number reads the last number, thousands separators and \\boxed{} included', () => {
    expect(lastNumber('3 apples and 4 pears make 7')).toBe('7');
    expect(lastNumber('The total is 1,000.0 dollars.')).toBe('1000');
    expect(lastNumber('so x = -2.50')).toBe('-2.5');
    expect(lastNumber('\\boxed{42} (checked with 3 methods)')).toBe('42');
    expect(lastNumber('no digits here')).toBeUndefined();
  });

  it('choice_letter prefers an explicit answer, then a letter on its own line, then (X)', () => {
    expect(choiceLetter('Between (A) and (C), the answer is (C).')).toBe('C');
    expect(choiceLetter('Final answer: **B**')).toBe('B');
    expect(choiceLetter('I think so.\nD')).toBe('D');
    expect(choiceLetter('Option (A) is wrong; (B) fits.')).toBe('B');
    expect(choiceLetter('I think it is right')).toBeUndefined();
  });

  it('json_field reads a dotted path from whole, fenced or embedded JSON; key order does not matter', () => {
    expect(jsonField('{"answer": {"city": "Paris"}}', 'answer.city')).toBe('"Paris"');
    expect(jsonField('Here:\n```json\n{"a": [1, {"y": 2, "x": 1}]}\n```', 'a.1')).toBe('{"x":1,"y":2}');
    expect(jsonField('result {"n": 3} done', 'n')).toBe('3');
    expect(jsonField('{"n": 3}', 'm')).toBeUndefined();
    expect(jsonField('not json', 'n')).toBeUndefined();
  });

  it('normalized_text ignores case, emphasis, quotes, spacing and trailing punctuation', () => {
    expect(normalizedText('  **Paris**. ')).toBe('paris');
    expect(normalizedText('"The  Eiffel\nTower!"')).toBe('the eiffel tower');
    expect(normalizedText('   ')).toBeUndefined();
  });

  it('tally: majority wins; ties go to the answer that appeared first in sample order', () => {
    expect(tally(['a', 'b', 'b', undefined]).winner).toBe('b');
    const t = tally(['x', 'y', 'y', 'x', undefined]);
    expect(t).toMatchObject({ winner: 'x', winnerIndex: 0, votes: 2, valid: 4 });
    expect(tally([undefined, undefined]).winner).toBeUndefined();
  });
});

describe('vote', () => {
  it('spreads samples round-robin, returns the majority sample in full with agreement, tally and answers', async () => {
    const caller = new FakeCaller({
      a: ['First I add: the answer is 42', 'It is 41'],
      b: ['I get 41', 'Surely 42.'],
      c: ['42'],
    });
    const m = vote({ models: ['a', 'b', 'c'], samples: 5, extract: 'last_number' }, caller);
    const evs = await events(m, ask('What is 6*7?'));
    expectShape(evs);
    expect(caller.calls.map((c) => c.model)).toEqual(['a', 'b', 'c', 'a', 'b']);
    expect(textOf(evs)).toBe('First I add: the answer is 42'); // sample 1, the first with the winning answer
    const { summary, steps } = traceOf(evs);
    expect(summary).toMatchObject({ winner: '42', winnerSample: 1, votes: 3, valid: 5, agreement: 0.6, tally: { '42': 3, '41': 2 }, answers: ['42', '41', '42', '41', '42'] });
    expect(steps).toHaveLength(5);
    expect(steps.every((s) => s.stage === 'sample')).toBe(true);
    expect(steps[0]!.detail).toMatchObject({ sample: 1, extracted: '42', winner: true });
    expect(usageOf(evs)).toEqual({ inputTokens: 50, outputTokens: 25 });
  });

  it('breaks a tie by sample order, not by which sample finished first', async () => {
    const caller = new FakeCaller({
      a: [{ text: 'B', delayMs: 40 }, { text: 'C', delayMs: 0 }],
      b: [{ text: 'C', delayMs: 0 }, { text: 'B', delayMs: 20 }],
    });
    const m = vote({ models: ['a', 'b'], samples: 4, extract: 'choice_letter', quorum: 2 }, caller);
    const evs = await events(m, ask('Pick one'));
    const { summary } = traceOf(evs);
    expect(summary).toMatchObject({ winner: 'B', winnerSample: 1, agreement: 0.5, tally: { B: 2, C: 2 } });
    expect(textOf(evs)).toBe('B');
  });

  it('counts unreadable samples as invalid votes', async () => {
    const caller = new FakeCaller({ a: ['{"x": 1}', 'oops', '{"x": 2}', '{"x":1}'] });
    const m = vote({ models: ['a'], samples: 4, extract: { json_field: 'x' } }, caller);
    const { summary } = traceOf(await events(m, ask('json')));
    expect(summary).toMatchObject({ winner: '1', votes: 2, valid: 3, answers: ['1', null, '2', '1'] });
    expect(summary!.agreement).toBeCloseTo(2 / 3);
  });

  it('passes sample settings: config temperature, seed + i, the client tools', async () => {
    const caller = new FakeCaller({ a: 'ok' });
    const m = vote({ models: ['a'], samples: 3, temperature: 0.9 }, caller);
    const tools = [{ name: 'f', parameters: { type: 'object' } }];
    await events(m, ask('hi', { seed: 10, temperature: 0, tools }));
    expect(caller.calls.map((c) => [c.request.temperature, c.request.seed, c.request.tools])).toEqual([
      [0.9, 10, tools],
      [0.9, 11, tools],
      [0.9, 12, tools],
    ]);
  });

  it('survives failed samples while the quorum holds, and fails with one clear error when it does not', async () => {
    const down = new HubError('upstream', 'b is down');
    const ok = new FakeCaller({ a: '7', b: down });
    const evs = await events(vote({ models: ['a', 'b'], samples: 5, extract: 'last_number' }, ok), ask('?'));
    expect(traceOf(evs).summary).toMatchObject({ succeeded: 3, winner: '7', agreement: 1 });
    expect(traceOf(evs).steps.filter((s) => s.error).map((s) => s.error)).toEqual(['b is down', 'b is down']);

    const bad = new FakeCaller({ a: [new HubError('timeout', 'slow'), '7'], b: down });
    const err = await failure(events(vote({ models: ['a', 'b'], samples: 5 }, bad), ask('?')));
    expect(err.code).toBe('quorum_not_met');
    expect(err.kind).toBe('upstream');
    expect(err.message).toContain('only 2 of 5 samples answered; the quorum is 3');
    expect(err.message).toContain('sample 1 (a): slow');
    expect(err.message).toContain('sample 2 (b): b is down');
  });

  it('keeps the failures’ kind when they all share one (e.g. the key is rate limited)', async () => {
    const caller = new FakeCaller({ a: new HubError('rate_limited', 'budget spent') });
    const err = await failure(events(vote({ models: ['a'], samples: 3 }, caller), ask('?')));
    expect(err.kind).toBe('rate_limited');
    expect(err.status).toBe(429);
  });

  it('a cost ceiling stops fan-out before overspending: fewer samples when the quorum holds', async () => {
    const caller = new FakeCaller({ a: '1' }, { prices: { a: 0.01 } });
    const evs = await events(vote({ models: ['a'], samples: 5, maxCostUsd: 0.035 }, caller), ask('?'));
    expect(caller.calls).toHaveLength(3);
    const { summary } = traceOf(evs);
    expect(summary).toMatchObject({ succeeded: 3, calls: 3 });
    expect(summary!.notMade).toHaveLength(2);
    expect(summary!.costUsd).toBeCloseTo(0.03);
  });

  it('refuses before any call when the samples that fit cannot make the quorum', async () => {
    const caller = new FakeCaller({ a: '1' }, { prices: { a: 0.01 } });
    const err = await failure(events(vote({ models: ['a'], samples: 5, quorum: 4, maxCostUsd: 0.035 }, caller), ask('?')));
    expect(err).toMatchObject({ kind: 'bad_request', status: 400, code: 'ceiling_exceeded' });
    expect(err.message).toContain('cost ceiling');
    expect(err.message).toContain('only 3 of 5 samples fit, fewer than the quorum of 4');
    expect(caller.calls).toHaveLength(0);
  });

  it('refuses a fan-out over maxCalls in config and, unparsed, before any call', async () => {
    expect(virtualModelSchema.safeParse({ kind: 'vote', models: ['a'], samples: 20 }).success).toBe(false);
    const caller = new FakeCaller({ a: '1' });
    const raw = { kind: 'vote', models: ['a'], samples: 20, maxCalls: 5, extract: 'last_number' } as VoteConfig;
    const err = await failure(events(new VoteModel(raw, caller), ask('?')));
    expect(err.code).toBe('ceiling_exceeded');
    expect(err.message).toContain('maxCalls is 5');
    expect(caller.calls).toHaveLength(0);
  });

  it('with no readable answer, returns the first sample and says so', async () => {
    const caller = new FakeCaller({ a: ['none', 'nothing'] });
    const evs = await events(vote({ models: ['a'], samples: 2, extract: 'last_number', quorum: 1 }, caller), ask('?'));
    expect(textOf(evs)).toBe('none');
    expect(traceOf(evs).summary).toMatchObject({ winner: null, agreement: 0, valid: 0 });
    expect(traceOf(evs).summary!.note).toContain('first sample');
  });
});
