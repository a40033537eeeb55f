/**
 * Routing by evidence (issue 20): a suite where the cheaper model is good enough for one kind of
 * request and not for another, run through the gateway; the run's JSON output is the evidence a
 * `kind: route` virtual model routes by, measured on held-out cases, then served by a hub.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { virtualModelSchema } from '../../src/ensemble/index.js';
import { kindNamed } from '../../src/ensemble/route.js';
import { gatewayCaller } from '../../src/eval/caller.js';
import { heldOut, readEvidence, routeTable } from '../../src/eval/evidence.js';
import { jsonReport } from '../../src/eval/report/json.js';
import { runSuite } from '../../src/eval/run.js';
import { parseSuite } from '../../src/eval/suite.js';
import { startTestHub } from '../helpers/hub.js';
import { CONFIG, startLoop } from './helpers.js';
import type { Loop } from './helpers.js';

let loop: Loop;
let evidencePath: string;
let results: Record<string, unknown>;

// The loopback answers "Hello from <model>! You said: <q>": both models greet (kind chat), only
// gpt-test names itself (kind expert). loop/grader is the cheaper of the two.
const CASES = [
  ...Array.from({ length: 10 }, (_, i) => ({ vars: { kind: 'chat', q: `chat: say hi number ${i}` }, assert: [{ type: 'contains', value: 'Hello' }] })),
  ...Array.from({ length: 10 }, (_, i) => ({ vars: { kind: 'expert', q: `expert: explain topic ${i}` }, assert: [{ type: 'contains', value: 'gpt-test' }] })),
];

beforeAll(async () => {
  loop = await startLoop();
  const suite = parseSuite({ prompts: ['{{q}}'], providers: ['loop/grader', 'loop/gpt-test'], tests: CASES }, join(loop.dir, 'suite.yaml'));
  const local = await loop.open();
  try {
    const run = await runSuite(suite, { caller: gatewayCaller(local.gateway, local.principal(undefined), 'eval_route'), runId: 'eval_route' });
    results = jsonReport(run);
  } finally {
    await local.close();
  }
  evidencePath = join(loop.dir, 'evidence.json');
  writeFileSync(evidencePath, JSON.stringify(results));
});
afterAll(() => loop?.dispose());

describe('the evidence', () => {
  it('sends each kind to the cheapest model that meets the bar', () => {
    const e = readEvidence(results, 'kind');
    expect(e.kinds).toEqual(['chat', 'expert']);
    const t = routeTable(e, 0.9);
    expect(t.byKind.get('chat')).toMatchObject({ model: 'loop/grader', passRate: 1, meetsBar: true });
    expect(t.byKind.get('expert')).toMatchObject({ model: 'loop/gpt-test', passRate: 1, meetsBar: true });
    // Over all kinds only gpt-test clears 0.9: the fallback for a kind nobody knows.
    expect(t.overall.model).toBe('loop/gpt-test');
    // An impossible bar: the best pass rate, cheaper on ties.
    expect(routeTable(e, 1.01).byKind.get('chat')).toMatchObject({ model: 'loop/grader', meetsBar: false });
  });

  it('measured on held-out cases: cheaper than always using the best model, at the same quality', () => {
    const r = heldOut(results, { kindVar: 'kind', bar: 0.9, testShare: 0.4 });
    expect(r.testCases).toBeGreaterThan(0);
    expect(r.best.model).toBe('loop/gpt-test');
    expect(r.qualityKept).toBe(1);
    expect(r.costSaved).toBeGreaterThan(0);
    expect(r.routed.costUsd).toBeLessThan(r.best.costUsd);
  });

  it('refuses evidence it cannot use, saying why', () => {
    expect(() => readEvidence({}, 'kind')).toThrow(/results.results/);
    expect(() => readEvidence(results, 'topic')).toThrow(/var 'topic'/);
    const bad = virtualModelSchema.safeParse({ kind: 'route', evidence: join(loop.dir, 'missing.json'), classifier: { model: 'x' } });
    expect(bad.success).toBe(false);
    expect(JSON.stringify(bad.error?.issues)).toContain('no such file');
  });

  it('reads a classifier answer as the kind it names', () => {
    expect(kindNamed(' Expert. ', ['chat', 'expert'])).toBe('expert');
    expect(kindNamed('I think this is chat, not expert', ['chat', 'expert'])).toBe('chat');
    expect(kindNamed('no idea', ['chat', 'expert'])).toBeUndefined();
  });
});

describe('a route virtual model on a hub', () => {
  async function hub(classifier: string) {
    const yaml = `${CONFIG.replace('${LOOP_URL}', loop.upstream.baseURL)}  smart:\n    kind: route\n    evidence: ${evidencePath}\n    bar: 0.9\n    classifier: ${classifier}\n`;
    return startTestHub(yaml, { OLLAMA_BASE_URL: '' });
  }

  it('asks a cheap classifier the kind, then sends the request to that kind’s model', async () => {
    const h = await hub('{ model: loop/grader }');
    try {
      const c = new OpenAI({ baseURL: `${h.url}/v1`, apiKey: 'x', maxRetries: 0 });
      const expert = await c.chat.completions.create({ model: 'smart', messages: [{ role: 'user', content: 'expert: how do tides work?' }] });
      expect(expert.choices[0]!.message.content).toContain('Hello from gpt-test');
      const trace = (expert as unknown as { baimo_trace: { steps: { stage: string; model: string }[]; summary: Record<string, unknown> } }).baimo_trace;
      expect(trace.steps.map((s) => [s.stage, s.model])).toEqual([
        ['classify', 'loop/grader'],
        ['answer', 'loop/gpt-test'],
      ]);
      expect(trace.summary).toMatchObject({ kind: 'expert', model: 'loop/gpt-test', passRate: 1 });
      const chat = await c.chat.completions.create({ model: 'smart', messages: [{ role: 'user', content: 'chat: good morning' }] });
      expect(chat.choices[0]!.message.content).toContain('Hello from grader');
      // A request of no known kind goes to the best model over all kinds.
      const other = await c.chat.completions.create({ model: 'smart', messages: [{ role: 'user', content: 'something else' }] });
      expect(other.choices[0]!.message.content).toContain('Hello from gpt-test');
    } finally {
      await h.dispose();
    }
  });

  it('or takes the kind of the nearest labelled example by embeddings', async () => {
    const h = await hub('{ embeddings: loop/embed }');
    try {
      const c = new OpenAI({ baseURL: `${h.url}/v1`, apiKey: 'x', maxRetries: 0 });
      // The loopback's embeddings are a hash of the text: a request equal to an example is nearest to it.
      const r = await c.chat.completions.create({ model: 'smart', messages: [{ role: 'user', content: 'chat: say hi number 3' }] });
      expect(r.choices[0]!.message.content).toContain('Hello from grader');
      const trace = (r as unknown as { baimo_trace: { summary: Record<string, unknown> } }).baimo_trace;
      expect(trace.summary).toMatchObject({ kind: 'chat', model: 'loop/grader' });
    } finally {
      await h.dispose();
    }
  });
});
