import { describe, expect, it } from 'vitest';
import { HubError } from '../../src/core/errors.js';
import type { SubCallResult } from '../../src/core/model.js';
import type { ReasoningPart } from '../../src/core/types.js';
import { logprobsOf } from '../../src/ensemble/checks.js';
import { CascadeModel, createVirtualModel, virtualModelSchema } from '../../src/ensemble/index.js';
import { parseVerdict } from '../../src/ensemble/prompts.js';
import { FakeCaller, allText, ask, events, expectShape, failure, textOf, traceOf, usageOf } from './fake-caller.js';

function cascade(config: Record<string, unknown>, caller: FakeCaller): CascadeModel {
  return createVirtualModel(virtualModelSchema.parse({ kind: 'cascade', ...config }), caller, { name: 'c' }) as CascadeModel;
}

const models = ['small', 'medium', 'large'];

describe('cascade: regex check', () => {
  const check = { type: 'regex', pattern: '^ANSWER: \\d+$', flags: 'm' };

  it('passes the answer’s reasoning on with the opaque data of the family that made it', async () => {
    const reasoningParts: ReasoningPart[] = [
      { type: 'reasoning' as const, text: 'think', providerMetadata: { gemini: { signature: 'G-SIG' } } },
      { type: 'reasoning' as const, text: '', providerMetadata: { anthropic: { redacted: 'R-DATA' } } },
    ];
    const caller = new FakeCaller({ small: { text: 'ANSWER: 4', reasoningParts }, medium: 'x', large: 'x' });
    const evs = await events(cascade({ models, check }, caller), ask('2+2?'));
    expect(evs.filter((e) => e.type === 'reasoning')).toEqual([
      { type: 'reasoning', choice: 0, text: 'think', providerMetadata: { gemini: { signature: 'G-SIG' } } },
      { type: 'reasoning', choice: 0, text: '', providerMetadata: { anthropic: { redacted: 'R-DATA' } } },
    ]);
  });

  it('stops at the first answer that passes', async () => {
    const caller = new FakeCaller({ small: 'ANSWER: 4', medium: 'x', large: 'x' });
    const evs = await events(cascade({ models, check }, caller), ask('2+2?'));
    expectShape(evs);
    expect(caller.calls.map((c) => c.model)).toEqual(['small']);
    expect(textOf(evs)).toBe('ANSWER: 4');
    expect(traceOf(evs).summary).toMatchObject({ accepted: true, answeredBy: 'small', tried: 1, check: 'regex' });
  });

  it('escalates exactly when the check fails', async () => {
    const caller = new FakeCaller({ small: 'four', medium: 'ANSWER: 4', large: 'ANSWER: 4' });
    const evs = await events(cascade({ models, check }, caller), ask('2+2?'));
    expect(caller.calls.map((c) => c.model)).toEqual(['small', 'medium']);
    expect(textOf(evs)).toBe('ANSWER: 4');
    const { steps } = traceOf(evs);
    expect(steps.map((s) => [s.model, s.detail?.passed])).toEqual([
      ['small', false],
      ['medium', true],
    ]);
    expect(usageOf(evs)).toEqual({ inputTokens: 20, outputTokens: 10 });
  });

  it('returns the last answer when none passes, and says so', async () => {
    const caller = new FakeCaller({ small: 'a', medium: 'b', large: 'c' });
    const evs = await events(cascade({ models, check }, caller), ask('?'));
    expect(caller.calls).toHaveLength(3);
    expect(textOf(evs)).toBe('c');
    expect(traceOf(evs).summary).toMatchObject({ accepted: false, answeredBy: 'large', tried: 3 });
    expect(traceOf(evs).summary!.note).toContain('no answer passed');
  });

  it('a failed member escalates; when every member fails, one error lists them', async () => {
    const caller = new FakeCaller({ small: new HubError('upstream', 'small broke'), medium: 'ANSWER: 1', large: 'x' });
    const evs = await events(cascade({ models, check }, caller), ask('?'));
    expect(textOf(evs)).toBe('ANSWER: 1');
    expect(traceOf(evs).steps[0]!.error).toBe('small broke');

    const dead = new FakeCaller({ small: new HubError('upstream', 'e1'), medium: new HubError('timeout', 'e2'), large: new HubError('upstream', 'e3') });
    const err = await failure(events(cascade({ models, check }, dead), ask('?')));
    expect(err.kind).toBe('upstream');
    expect(err.message).toMatch(/small: e1.*medium: e2.*large: e3/);
  });
});

describe('cascade: json_schema check', () => {
  const check = {
    type: 'json_schema',
    schema: { type: 'object', properties: { city: { type: 'string' }, population: { type: 'integer', minimum: 0 } }, required: ['city', 'population'] },
  };

  it('escalates on invalid JSON and on JSON that does not validate; accepts valid JSON', async () => {
    const caller = new FakeCaller({
      small: 'Sure! {"city": "Paris"}',
      medium: '{"city": "Paris", "population": -5}',
      large: ' {"city": "Paris", "population": 2100000}\n',
    });
    const evs = await events(cascade({ models, check }, caller), ask('json please'));
    expect(caller.calls).toHaveLength(3);
    const { steps, summary } = traceOf(evs);
    expect(summary).toMatchObject({ accepted: true, answeredBy: 'large' });
    expect(steps[0]!.detail).toMatchObject({ passed: false, problem: 'not valid JSON' });
    expect(steps[1]!.detail).toMatchObject({ passed: false });
    expect(String(steps[1]!.detail!.problem)).toContain('population');
    expect(steps[2]!.detail).toMatchObject({ passed: true });
  });

  it('rejects an unsupported schema at config time', () => {
    const r = virtualModelSchema.safeParse({ kind: 'cascade', models, check: { type: 'json_schema', schema: { type: 'wat' } } });
    expect(r.success).toBe(false);
  });
});

describe('cascade: logprobs check', () => {
  const check = { type: 'logprobs', minAvgLogprob: -0.5 };

  it('asks for logprobs and escalates while the mean logprob is below the threshold', async () => {
    const caller = new FakeCaller({
      small: { text: 'maybe 5', logprobs: [-0.1, -2.5, -1.2] },
      medium: { text: 'surely 4', logprobs: [-0.05, -0.2] },
      large: 'x',
    });
    const evs = await events(cascade({ models, check }, caller), ask('?'));
    expect(caller.calls.map((c) => c.model)).toEqual(['small', 'medium']);
    expect(caller.calls.every((c) => c.request.logprobs === true)).toBe(true);
    expect(textOf(evs)).toBe('surely 4');
    expect(traceOf(evs).steps.map((s) => s.detail?.avgLogprob)).toEqual([-1.2667, -0.125]);
  });

  it('escalates when logprobs are missing, unless onMissing is accept', async () => {
    const caller = new FakeCaller({ small: 'no logprobs', medium: { text: 'ok', logprobs: [0] }, large: 'x' });
    const evs = await events(cascade({ models, check }, caller), ask('?'));
    expect(caller.calls).toHaveLength(2);
    expect(traceOf(evs).steps[0]!.detail).toMatchObject({ passed: false, logprobs: 'unavailable' });

    const lenient = new FakeCaller({ small: 'no logprobs' });
    const evs2 = await events(cascade({ models, check: { ...check, onMissing: 'accept' } }, lenient), ask('?'));
    expect(lenient.calls).toHaveLength(1);
    expect(textOf(evs2)).toBe('no logprobs');
  });

  it('reads logprobs from the result or its first choice, as numbers or {logprob} entries', () => {
    const base = { id: '', model: '', usage: undefined, costUsd: undefined, latencyMs: 0 };
    const choice = { index: 0, text: '', reasoning: [], toolCalls: [], finishReason: null } as const;
    expect(logprobsOf({ ...base, choices: [choice], logprobs: [-1, -2] } as SubCallResult)).toEqual([-1, -2]);
    expect(logprobsOf({ ...base, choices: [{ ...choice, logprobs: [{ token: 'a', logprob: -0.5 }] }] } as unknown as SubCallResult)).toEqual([-0.5]);
    expect(logprobsOf({ ...base, choices: [choice] })).toBeUndefined();
  });
});

describe('cascade: verifier check', () => {
  const check = { type: 'verifier', model: 'checker' };

  it('escalates on FAIL, stops on PASS, and shows the verifier the conversation and the answer', async () => {
    const caller = new FakeCaller({
      small: 'Paris is in Germany',
      medium: 'Paris is in France',
      large: 'x',
      checker: ['FAIL\nWrong country.', '**PASS**'],
    });
    const evs = await events(cascade({ models, check }, caller), ask('Where is Paris?'));
    expectShape(evs);
    expect(caller.calls.map((c) => c.model)).toEqual(['small', 'checker', 'medium', 'checker']);
    const first = allText(caller.calls[1]!.request.messages);
    expect(first).toContain('Where is Paris?');
    expect(first).toContain('Paris is in Germany');
    expect(first).toContain('PASS');
    expect(textOf(evs)).toBe('Paris is in France');
    const { steps, summary } = traceOf(evs);
    expect(steps.map((s) => s.stage)).toEqual(['cascade', 'verify', 'cascade', 'verify']);
    expect(steps[1]!.detail).toMatchObject({ verdict: 'FAIL', of: 'small' });
    expect(summary).toMatchObject({ accepted: true, answeredBy: 'medium' });
    expect(usageOf(evs)).toEqual({ inputTokens: 40, outputTokens: 20 });
  });

  it('treats anything but a clear PASS/YES as a failure', () => {
    expect(parseVerdict('PASS')).toBe(true);
    expect(parseVerdict('  \n**Pass.**\nThe answer is right.')).toBe(true);
    expect(parseVerdict('YES - correct')).toBe(true);
    expect(parseVerdict('PASS: all good')).toBe(true);
    expect(parseVerdict('FAIL')).toBe(false);
    expect(parseVerdict('PASSABLE')).toBe(false);
    expect(parseVerdict('I think PASS')).toBe(false);
    expect(parseVerdict('Yes and no')).toBe(false);
    expect(parseVerdict('')).toBe(false);
  });

  it('does not verify the last model (its answer is returned either way)', async () => {
    const caller = new FakeCaller({ small: 'a', large: 'b', checker: 'FAIL' });
    const evs = await events(cascade({ models: ['small', 'large'], check }, caller), ask('?'));
    expect(caller.calls.map((c) => c.model)).toEqual(['small', 'checker', 'large']);
    expect(textOf(evs)).toBe('b');
    expect(traceOf(evs).summary).toMatchObject({ accepted: false, answeredBy: 'large' });
  });

  it('a call ceiling stops the cascade with the answer it has, making no call past it', async () => {
    const caller = new FakeCaller({ small: 'a', medium: 'b', large: 'c', checker: 'FAIL' });
    const evs = await events(cascade({ models, check, maxCalls: 3 }, caller), ask('?'));
    expect(caller.calls.map((c) => c.model)).toEqual(['small', 'checker', 'medium']);
    expect(textOf(evs)).toBe('b');
    expect(traceOf(evs).summary).toMatchObject({ accepted: false, stoppedBy: 'max_calls', calls: 3 });
  });

  it('a cost ceiling that leaves no affordable call is an error naming the ceiling', async () => {
    const caller = new FakeCaller({ small: 'a' }, { prices: { small: 0.5 } });
    const err = await failure(events(cascade({ models, check, maxCostUsd: 0.1 }, caller), ask('?')));
    expect(err).toMatchObject({ kind: 'bad_request', code: 'ceiling_exceeded' });
    expect(err.message).toContain("Virtual model 'c' would exceed its cost ceiling");
    expect(caller.calls).toHaveLength(0);
  });
});
