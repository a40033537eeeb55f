/**
 * Every assertion kind, passing and failing, over the loopback OpenAI upstream through the
 * gateway. The upstream's answers are fixed by the prompt: `loop/gpt-test` says
 * "Hello from gpt-test! You said: <prompt>", `loop/json` a JSON object, `loop/tools` two tool
 * calls; the grader (`loop/grader`, the same echo) repeats the grading prompt, so a verdict
 * placed last in it (in the rubric, the reference, the question or the context) is what the
 * grader "answers" — a real grader's reply is parsed the same way.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gatewayCaller } from '../../src/eval/caller.js';
import { AnswerCache } from '../../src/eval/cache.js';
import { runSuite } from '../../src/eval/run.js';
import type { RunResult } from '../../src/eval/run.js';
import { parseSuite } from '../../src/eval/suite.js';
import { startLoop } from './helpers.js';
import type { Loop } from './helpers.js';

let loop: Loop;
beforeAll(async () => {
  loop = await startLoop();
});
afterAll(() => loop?.dispose());

const out = (q: string) => `Hello from gpt-test! You said: ${q}`;

/** One test per (kind, direction): `expect` says whether the test must pass. */
const T = (description: string, expect: boolean, q: string, assert: unknown[], extra: Record<string, unknown> = {}) => ({ description, vars: { q, ...((extra.vars as object) ?? {}) }, assert, metadata: { expect }, ...(extra.threshold !== undefined && { threshold: extra.threshold }) });

async function run(doc: Record<string, unknown>, runId: string): Promise<RunResult> {
  const suite = parseSuite(doc, join(loop.dir, 'suite.yaml'));
  const local = await loop.open();
  try {
    return await runSuite(suite, { caller: gatewayCaller(local.gateway, local.principal(undefined), runId), runId, concurrency: 4, cache: new AnswerCache(join(loop.dir, `cache-${runId}`)) });
  } finally {
    await local.close();
  }
}

function expectVerdicts(r: RunResult): void {
  const wrong = r.results.filter((c) => c.success !== (r.suite.tests[c.testIdx]!.metadata as { expect: boolean }).expect).map((c) => `${c.description}: ${c.reason}`);
  expect(wrong).toEqual([]);
}

describe('assertion kinds on the echo model', () => {
  let r: RunResult;
  beforeAll(async () => {
    r = await run(
      {
        prompts: ['{{q}}'],
        providers: ['loop/gpt-test'],
        defaultTest: { options: { provider: { text: 'loop/grader', embedding: 'loop/embed' } } },
        tests: [
          T('equals +', true, 'x', [{ type: 'equals', value: out('x') }]),
          T('equals −', false, 'x', [{ type: 'equals', value: 'nope' }]),
          T('contains +', true, 'needle', [{ type: 'contains', value: '{{q}}' }]),
          T('contains −', false, 'x', [{ type: 'contains', value: 'absent' }]),
          T('icontains +', true, 'x', [{ type: 'icontains', value: 'HELLO FROM' }]),
          T('icontains −', false, 'x', [{ type: 'icontains', value: 'GOODBYE' }]),
          T('contains-any +', true, 'x', [{ type: 'contains-any', value: ['zzz', 'You said'] }]),
          T('contains-any −', false, 'x', [{ type: 'contains-any', value: ['zzz', 'yyy'] }]),
          T('contains-all +', true, 'x', [{ type: 'contains-all', value: ['Hello', 'said'] }]),
          T('contains-all −', false, 'x', [{ type: 'contains-all', value: ['Hello', 'zzz'] }]),
          T('regex +', true, 'x', [{ type: 'regex', value: '^Hello from \\w+-\\w+! You said: x$' }]),
          T('regex −', false, 'x', [{ type: 'regex', value: '^\\d+$' }]),
          T('starts-with +', true, 'x', [{ type: 'starts-with', value: 'Hello from' }]),
          T('starts-with −', false, 'x', [{ type: 'starts-with', value: 'Bye' }]),
          T('is-json − (prose)', false, 'x', [{ type: 'is-json' }]),
          T('not-is-json +', true, 'x', [{ type: 'not-is-json' }]),
          T('levenshtein +', true, 'x', [{ type: 'levenshtein', value: out('y'), threshold: 1 }]),
          T('levenshtein −', false, 'x', [{ type: 'levenshtein', value: out('yz'), threshold: 1 }]),
          T('similar +', true, 'x', [{ type: 'similar', value: out('x'), threshold: 0.99 }]),
          T('similar −', false, 'x', [{ type: 'similar', value: 'a quite different sentence', threshold: 0.99 }]),
          T('llm-rubric +', true, 'x', [{ type: 'llm-rubric', value: 'Greets the user. {"reason": "it greets", "pass": true, "score": 0.9}' }]),
          T('llm-rubric −', false, 'x', [{ type: 'llm-rubric', value: 'Speaks French. {"reason": "it does not", "pass": false, "score": 0.1}' }]),
          T('llm-rubric threshold decides', false, 'x', [{ type: 'llm-rubric', value: 'Greets. {"reason": "meh", "pass": true, "score": 0.4}', threshold: 0.5 }]),
          T('factuality +', true, 'x', [{ type: 'factuality', value: 'The user said x. {"category": "C", "reason": "same facts"}' }]),
          T('factuality −', false, 'x', [{ type: 'factuality', value: 'The user said y. {"category": "D", "reason": "they disagree"}' }]),
          T('answer-relevance +', true, 'x', [{ type: 'answer-relevance' }], { vars: { query: 'Say x. {"score": 0.9, "reason": "on topic"}' } }),
          T('answer-relevance −', false, 'x', [{ type: 'answer-relevance' }], { vars: { query: 'Say x. {"score": 0.2, "reason": "off topic"}' } }),
          T('context-faithfulness +', true, 'x', [{ type: 'context-faithfulness', threshold: 0.8 }], { vars: { query: 'what?', context: ['x is a letter', '{"score": 0.95, "reason": "supported"}'] } }),
          T('context-faithfulness −', false, 'x', [{ type: 'context-faithfulness', threshold: 0.8 }], { vars: { query: 'what?', context: 'nothing {"score": 0.3, "reason": "made up"}' } }),
          T('is-refusal +', true, "I'm sorry, but I can't help with that.", [{ type: 'is-refusal' }]),
          T('is-refusal + (Chinese)', true, '抱歉，我无法提供这些信息。', [{ type: 'is-refusal' }]),
          T('is-refusal −', false, 'tell me a joke', [{ type: 'is-refusal' }]),
          T('not-is-refusal +', true, 'tell me a joke', [{ type: 'not-is-refusal' }]),
          T('tool-call − (no call)', false, 'x', [{ type: 'tool-call', value: { name: 'get_weather' } }]),
          T('cost +', true, 'x', [{ type: 'cost', threshold: 0.001 }]),
          T('cost −', false, 'x', [{ type: 'cost', threshold: 0.00001 }]),
          T('latency +', true, 'x', [{ type: 'latency', threshold: 600_000 }]),
          T('latency − (nothing takes 0 ms)', false, 'x', [{ type: 'latency', threshold: 0 }]),
          T('not-contains +', true, 'x', [{ type: 'not-contains', value: 'absent' }]),
          T('not-contains −', false, 'x', [{ type: 'not-contains', value: 'Hello' }]),
          T('weights: score 0.25 ≥ threshold 0.2', true, 'x', [{ type: 'contains', value: 'Hello' }, { type: 'contains', value: 'absent', weight: 3 }], { threshold: 0.2 }),
          T('weights: score 0.25 < threshold 0.5', false, 'x', [{ type: 'contains', value: 'Hello' }, { type: 'contains', value: 'absent', weight: 3 }], { threshold: 0.5 }),
          T('weight 0 is reported, not counted', true, 'x', [{ type: 'contains', value: 'Hello' }, { type: 'contains', value: 'absent', weight: 0 }]),
        ],
      },
      'eval_kinds',
    );
  });

  it('each kind passes and fails where it should', () => {
    expect(r.status).toBe('complete');
    expect(r.results).toHaveLength(r.suite.tests.length);
    expectVerdicts(r);
  });

  it('scores follow promptfoo: the weighted mean, weight 0 left out', () => {
    const by = (d: string) => r.results.find((c) => c.description === d)!;
    expect(by('weights: score 0.25 ≥ threshold 0.2').score).toBeCloseTo(0.25, 10);
    expect(by('weight 0 is reported, not counted').score).toBe(1);
    expect(by('weight 0 is reported, not counted').componentResults).toHaveLength(2);
    expect(by('levenshtein +').componentResults[0]!.reason).toBe('Edit distance 1 ≤ 1');
    expect(by('similar +').componentResults[0]!.score).toBeCloseTo(1, 5);
  });

  it('keeps the grader, its prompt, its reply and the verdict on the result', () => {
    const c = r.results.find((x) => x.description === 'factuality −')!.componentResults[0]!;
    expect(c.grader).toMatchObject({ model: 'loop/grader', cached: false });
    expect(c.grader!.prompt).toContain('[Submission]: Hello from gpt-test! You said: x');
    expect(c.grader!.output).toContain('"category": "D"');
    expect(c.reason).toBe('Category D: they disagree');
    const sent = loop.upstream.requests.find((q) => q.body?.model === 'grader' && JSON.stringify(q.body.messages).includes('[Expert]'))!;
    expect(sent.body.messages[0].role).toBe('system');
    expect(sent.body.messages[0].content).toContain('(D) There is a disagreement');
    expect(sent.body.temperature).toBe(0);
  });

  it('records every call — answers, grader calls, embeddings — under the run id, priced', () => {
    const rows = loop.rows().filter((x) => x.request_id.startsWith('eval_kinds.'));
    const models = new Set(rows.map((x) => x.model));
    expect(models).toEqual(new Set(['loop/gpt-test', 'loop/grader', 'loop/embed']));
    expect(rows.every((x) => x.status === 200 && x.cost_usd! > 0)).toBe(true);
    expect(rows.filter((x) => x.endpoint === 'embeddings').length).toBeGreaterThan(0);
    // What the run says it spent is what the records say was charged.
    const recorded = rows.reduce((n, x) => n + x.cost_usd!, 0);
    expect(r.spentUsd).toBeCloseTo(recorded, 12);
    const graderRows = rows.filter((x) => x.model === 'loop/grader');
    const graderSpend = r.results.flatMap((c) => c.componentResults).reduce((n, c) => n + (c.grader?.costUsd ?? 0), 0);
    expect(graderSpend).toBeCloseTo(graderRows.reduce((n, x) => n + x.cost_usd!, 0), 12);
  });
});

describe('assertion kinds on JSON and tool-calling answers', () => {
  it('is-json, json-schema and tool-call, both ways', async () => {
    const schema = { type: 'object', required: ['name', 'born'], properties: { born: { type: 'integer', maximum: 1900 } } };
    const json = await run(
      {
        prompts: ['who?'],
        providers: ['loop/json'],
        tests: [
          T('is-json +', true, '', [{ type: 'is-json' }]),
          T('is-json with schema −', false, '', [{ type: 'is-json', value: { type: 'array' } }]),
          T('json-schema +', true, '', [{ type: 'json-schema', value: schema }]),
          T('json-schema −', false, '', [{ type: 'json-schema', value: { ...schema, properties: { born: { type: 'integer', minimum: 1900 } } } }]),
          T('equals as JSON +', true, '', [{ type: 'equals', value: { born: 1815, name: 'Ada Lovelace' } }]),
        ],
      },
      'eval_json',
    );
    expectVerdicts(json);
    expect(json.results.find((c) => c.description === 'json-schema −')!.reason).toContain('/born');
    const tools = await run(
      {
        prompts: ['weather in Paris?'],
        providers: [{ id: 'loop/tools', config: { tools: [{ type: 'function', function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } } }] } }],
        tests: [
          T('tool-call name +', true, '', [{ type: 'tool-call', value: { name: 'get_time' } }]),
          T('tool-call arguments subset +', true, '', [{ type: 'tool-call', value: { name: 'get_weather', arguments: { city: 'Paris' } } }]),
          T('tool-call arguments −', false, '', [{ type: 'tool-call', value: { name: 'get_weather', arguments: { city: 'London' } } }]),
          T('tool-call name −', false, '', [{ type: 'tool-call', value: { name: 'send_email' } }]),
        ],
      },
      'eval_tools',
    );
    expectVerdicts(tools);
    expect(loop.upstream.requests.find((q) => q.body?.model === 'tools')!.body.tools[0].function.name).toBe('get_weather');
  });
});
