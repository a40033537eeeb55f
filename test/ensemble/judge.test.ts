import { describe, expect, it } from 'vitest';
import { HubError } from '../../src/core/errors.js';
import type { ChatRequest } from '../../src/core/types.js';
import { JudgeModel, createVirtualModel, virtualModelSchema } from '../../src/ensemble/index.js';
import { parseScore, parseWinner } from '../../src/ensemble/prompts.js';
import { FakeCaller, allText, ask, events, expectShape, failure, textOf, traceOf, usageOf } from './fake-caller.js';

function judge(config: Record<string, unknown>, caller: FakeCaller): JudgeModel {
  return createVirtualModel(virtualModelSchema.parse({ kind: 'judge', judge: 'J', ...config }), caller, { name: 'j' }) as JudgeModel;
}

/** The response shown to a pointwise judge. */
const shown = (r: ChatRequest) => /<response>\n([\s\S]*?)\n<\/response>/.exec(allText(r.messages))?.[1] ?? '';
const pair = (r: ChatRequest) => {
  const t = allText(r.messages);
  return [/<response_a>\n([\s\S]*?)\n<\/response_a>/.exec(t)?.[1] ?? '', /<response_b>\n([\s\S]*?)\n<\/response_b>/.exec(t)?.[1] ?? ''] as const;
};

describe('judge formats', () => {
  it('parses the last SCORE line strictly', () => {
    expect(parseScore('Good answer.\nSCORE: 8')).toBe(8);
    expect(parseScore('**Score:** 7/10')).toBe(7);
    expect(parseScore('SCORE: 3\nOn reflection:\nSCORE: 9')).toBe(9);
    expect(parseScore('I would give it a 9')).toBeUndefined();
    expect(parseScore('SCORE: 11')).toBeUndefined();
    expect(parseScore('SCORE: 0')).toBeUndefined();
  });

  it('parses the last WINNER line strictly', () => {
    expect(parseWinner('B is clearer.\nWINNER: B')).toBe('B');
    expect(parseWinner('**Winner: tie**')).toBe('TIE');
    expect(parseWinner('A wins')).toBeUndefined();
  });
});

describe('judge: pointwise', () => {
  it('scores every candidate and returns the best; the judge sees each answer and the rubric', async () => {
    const scores: Record<string, number> = { 'answer A': 6, 'answer B': 9, 'answer C': 7 };
    const caller = new FakeCaller({ a: 'answer A', b: 'answer B', c: 'answer C', J: (r) => `Fine.\nSCORE: ${scores[shown(r)]}` });
    const evs = await events(judge({ candidates: ['a', 'b', 'c'], rubric: 'Prefer B-ness.' }, caller), ask('Question?'));
    expectShape(evs);
    expect(textOf(evs)).toBe('answer B');
    const judged = caller.callsTo('J');
    expect(judged).toHaveLength(3);
    expect(judged.every((c) => allText(c.request.messages).includes('Prefer B-ness.') && allText(c.request.messages).includes('Question?'))).toBe(true);
    const { summary, steps } = traceOf(evs);
    expect(summary).toMatchObject({ mode: 'pointwise', winner: 2, winnerModel: 'b', scores: { '1': 6, '2': 9, '3': 7 } });
    expect(steps.filter((s) => s.stage === 'candidate').map((s) => s.detail?.score)).toEqual([6, 9, 7]);
    expect(usageOf(evs)).toEqual({ inputTokens: 60, outputTokens: 30 });
  });

  it('ties go to the earliest candidate; unreadable scores rank last', async () => {
    const scores: Record<string, string> = { one: 'SCORE: 5', two: 'SCORE: 8', three: 'SCORE: 8', four: 'ten out of ten' };
    const caller = new FakeCaller({ m: ['one', 'two', 'three', 'four'], J: (r) => scores[shown(r)]! });
    const evs = await events(judge({ candidates: ['m'], samples: 4 }, caller), ask('?'));
    expect(caller.callsTo('m')).toHaveLength(4);
    expect(textOf(evs)).toBe('two');
    expect(traceOf(evs).summary).toMatchObject({ winner: 2, scores: { '1': 5, '2': 8, '3': 8, '4': null } });
  });

  it('fails clearly when the judge gives no usable verdict at all', async () => {
    const caller = new FakeCaller({ a: 'x', b: 'y', J: 'They are both nice.' });
    const err = await failure(events(judge({ candidates: ['a', 'b'] }, caller), ask('?')));
    expect(err).toMatchObject({ kind: 'upstream', code: 'no_verdict' });
    expect(err.message).toContain("judge 'J' gave no usable verdict");
  });

  it('a failed candidate drops out while the quorum holds; otherwise one clear error', async () => {
    const caller = new FakeCaller({ a: new HubError('upstream', 'a down'), b: 'bee', c: 'sea', J: (r) => (shown(r) === 'sea' ? 'SCORE: 9' : 'SCORE: 2') });
    const evs = await events(judge({ candidates: ['a', 'b', 'c'] }, caller), ask('?'));
    expect(textOf(evs)).toBe('sea');
    expect(caller.callsTo('J')).toHaveLength(2);

    const bad = new FakeCaller({ a: new HubError('upstream', 'a down'), b: new HubError('upstream', 'b down'), c: 'sea', J: 'SCORE: 1' });
    const err = await failure(events(judge({ candidates: ['a', 'b', 'c'] }, bad), ask('?')));
    expect(err.message).toContain('only 1 of 3 candidates answered; the quorum is 2');
    expect(bad.callsTo('J')).toHaveLength(0);
  });

  it('refuses a fan-out (N + N judging calls) over maxCalls before any call', async () => {
    expect(virtualModelSchema.safeParse({ kind: 'judge', judge: 'J', candidates: ['a', 'b', 'c'], maxCalls: 5 }).success).toBe(false);
    expect(virtualModelSchema.safeParse({ kind: 'judge', judge: 'J', candidates: ['a', 'b', 'c'], mode: 'pairwise', maxCalls: 5 }).success).toBe(true);
  });
});

describe('judge: pairwise', () => {
  it('runs a knockout in candidate order, best wins, N − 1 matches; ties advance the earlier', async () => {
    const strength: Record<string, number> = { w: 1, x: 3, y: 2, z: 3, v: 0 };
    const caller = new FakeCaller({
      m: ['w', 'x', 'y', 'z', 'v'],
      J: (r) => {
        const [a, b] = pair(r);
        const d = strength[a]! - strength[b]!;
        return `Reasoning…\nWINNER: ${d > 0 ? 'A' : d < 0 ? 'B' : 'TIE'}`;
      },
    });
    const evs = await events(judge({ candidates: ['m'], samples: 5, mode: 'pairwise' }, caller), ask('?'));
    // Round 1: w v x → x, y v z → z, v bye. Round 2: x v z → tie → x, v bye. Round 3: x v v → x.
    expect(textOf(evs)).toBe('x');
    expect(caller.callsTo('J')).toHaveLength(4);
    const { summary } = traceOf(evs);
    expect(summary!.bracket).toEqual([
      { round: 1, a: 1, b: 2, verdict: 'B', winner: 2 },
      { round: 1, a: 3, b: 4, verdict: 'B', winner: 4 },
      { round: 2, a: 2, b: 4, verdict: 'TIE', winner: 2 },
      { round: 3, a: 2, b: 5, verdict: 'A', winner: 2 },
    ]);
    expect(summary).toMatchObject({ winner: 2, mode: 'pairwise' });
  });

  it('matches of one round run in parallel', async () => {
    const caller = new FakeCaller({ m: ['1', '2', '3', '4'], J: { text: 'WINNER: A', delayMs: 30 } });
    await events(judge({ candidates: ['m'], samples: 4, mode: 'pairwise' }, caller), ask('?'));
    const [j1, j2, j3] = caller.callsTo('J');
    expect(j2!.startedAt).toBeLessThan(j1!.endedAt!);
    expect(j3!.startedAt).toBeGreaterThanOrEqual(Math.max(j1!.endedAt!, j2!.endedAt!));
  });
});
