import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_MODEL_NAME } from '../src/core/model-name.js';
import { HubError } from '../src/core/errors.js';
import { boundedDistance, closeMatches } from '../src/routing/suggest.js';
import { startTestHub } from './helpers/hub.js';
import type { TestHub } from './helpers/hub.js';
import { startOpenAIUpstream } from './upstreams/openai.js';
import type { OpenAIUpstream } from './upstreams/openai.js';

let upstream: OpenAIUpstream;
let hub: TestHub;

beforeAll(async () => {
  upstream = await startOpenAIUpstream();
  hub = await startTestHub(`
providers:
  loop:
    baseURL: ${upstream.baseURL}
    models: [gpt-test]
    embeddingModels: [embed-small]
models:
  chat:
    provider: loop
    model: gpt-test
server:
  maxBodyBytes: 4194304
`);
});

afterAll(async () => {
  await hub?.dispose();
  await upstream?.close();
});

async function post(path: string, body: unknown): Promise<{ status: number; text: string; json: any }> {
  const res = await fetch(`${hub.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const text = await res.text();
  return { status: res.status, text, json: JSON.parse(text) };
}

const messages = [{ role: 'user', content: 'hi' }];
/** Every endpoint that takes a model name, with a body that is valid but for the name. */
const endpoints: { path: string; anthropic: boolean; body: (model: string) => unknown }[] = [
  { path: '/v1/chat/completions', anthropic: false, body: (model) => ({ model, messages }) },
  { path: '/v1/responses', anthropic: false, body: (model) => ({ model, input: 'hi' }) },
  { path: '/v1/embeddings', anthropic: false, body: (model) => ({ model, input: 'hi' }) },
  { path: '/v1/messages', anthropic: true, body: (model) => ({ model, max_tokens: 10, messages }) },
  { path: '/v1/messages/count_tokens', anthropic: true, body: (model) => ({ model, messages }) },
];

describe('model names have a maximum length', () => {
  // A 1 MB name froze the event loop for 1.3 s in "did you mean" and came back whole in the error.
  for (const e of endpoints) {
    it(`${e.path}: a name over ${MAX_MODEL_NAME} characters is a 400 on 'model' in the client's format, not repeated`, async () => {
      for (const name of ['m'.repeat(MAX_MODEL_NAME + 1), `loop/${'x'.repeat(1_000_000)}`]) {
        const r = await post(e.path, e.body(name));
        expect(r.status).toBe(400);
        if (e.anthropic) {
          expect(r.json.type).toBe('error');
          expect(r.json.error.type).toBe('invalid_request_error');
        } else {
          expect(r.json.error.type).toBe('invalid_request_error');
          expect(r.json.error.param).toBe('model');
        }
        expect(r.json.error.message).toContain(`at most ${MAX_MODEL_NAME} characters`);
        expect(r.text.length).toBeLessThan(1000);
      }
    });
  }

  it('an arena vote names models within the same limit (votes are stored)', async () => {
    const r = await post('/v1/arena/votes', { models: ['loop/gpt-test', 'v'.repeat(MAX_MODEL_NAME + 1)], winner: 'a' });
    expect(r.status).toBe(400);
    expect(r.json.error.param).toBe('models[1]');
    expect((await post('/v1/arena/votes', { models: ['loop/gpt-test', 'chat'], winner: 'a' })).status).toBe(201);
  });

  it('a name of exactly the maximum length is looked up as usual', async () => {
    const r = await post('/v1/chat/completions', { model: 'm'.repeat(MAX_MODEL_NAME), messages });
    expect(r.status).toBe(404);
    expect(r.json.error.code).toBe('model_not_found');
  });

  it('the registry refuses an over-long name before any lookup, whoever calls it', () => {
    const err = (() => {
      try {
        hub.registry.resolve('y'.repeat(5_000_000));
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(HubError);
    expect((err as HubError).status).toBe(400);
    expect((err as HubError).param).toBe('model');
    expect((err as HubError).message.length).toBeLessThan(200);
  });

  it('the usage record keeps an over-long name only in part', async () => {
    const name = `z${'q'.repeat(3_000_000)}`;
    await post('/v1/chat/completions', { model: name, messages });
    await expect.poll(() => hub.store.recentUsage(1)[0]?.model.startsWith('zqqq'), { timeout: 3000 }).toBe(true);
    const stored = hub.store.recentUsage(1)[0]!.model;
    expect(stored.length).toBeLessThanOrEqual(65);
    expect(stored.endsWith('…')).toBe(true);
  });
});

describe('an unknown name', () => {
  it('is repeated in the 404 only in part, with suggestions still offered for a near miss', async () => {
    const long = `nowhere/${'a'.repeat(200)}`;
    const r = await post('/v1/chat/completions', { model: long, messages });
    expect(r.status).toBe(404);
    expect(r.json.error.message).not.toContain(long);
    expect(r.json.error.message).toContain(`'${long.slice(0, 64)}…'`);

    const typo = await post('/v1/chat/completions', { model: 'gpt-tset', messages });
    expect(typo.status).toBe(404);
    expect(typo.json.error.message).toContain("Did you mean 'loop/gpt-test'");
  });
});

describe('suggestions are bounded in cost', () => {
  function levenshtein(a: string, b: string): number {
    const prev = Array.from({ length: b.length + 1 }, (_, j) => j);
    for (let i = 1; i <= a.length; i++) {
      let diag = prev[0]!;
      prev[0] = i;
      for (let j = 1; j <= b.length; j++) {
        const up = prev[j]!;
        prev[j] = Math.min(up + 1, prev[j - 1]! + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
        diag = up;
      }
    }
    return prev[b.length]!;
  }

  it('the banded distance agrees with Levenshtein up to its bound', () => {
    let seed = 7;
    const rnd = (n: number) => (seed = (seed * 1103515245 + 12345) % 2 ** 31) % n;
    const word = () => Array.from({ length: rnd(14) }, () => 'abcd'[rnd(4)]).join('');
    for (let t = 0; t < 20_000; t++) {
      const a = word();
      const b = word();
      const max = rnd(7);
      const d = levenshtein(a, b);
      expect(boundedDistance(a, b, max)).toBe(d <= max ? d : max + 1);
    }
  });

  it('a name no model could be a typo of gets no suggestions, and no more candidates are read than the cap', () => {
    let pulled = 0;
    function* many() {
      for (let i = 0; i < 1_000_000; i++) {
        pulled++;
        yield `provider/model-${i}`;
      }
    }
    expect(closeMatches('x'.repeat(10_000), many())).toEqual([]);
    expect(pulled).toBe(0);
    expect(closeMatches('provider/model-7', many())).toContain('provider/model-7');
    expect(pulled).toBeLessThanOrEqual(5_001);
  });
});
