/**
 * Issue 16, §1: a client's absurdly nested body is its own mistake — a 400 in its own format,
 * never retried, never blamed on a deployment — and an error of the hub's own making is never
 * `upstream`, so it cannot open a circuit for every other key.
 */
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HubError, isRetryable, toHubError } from '../src/core/errors.js';
import { MAX_JSON_DEPTH, parseJSONBody } from '../src/protocols/validate.js';
import { Deployment } from '../src/routing/deployment.js';
import { DEFAULT_RETRY, execute } from '../src/routing/router.js';
import type { Route } from '../src/routing/router.js';
import type { Model } from '../src/core/model.js';
import { startTestHub } from './helpers/hub.js';
import type { TestHub } from './helpers/hub.js';
import { createKey } from './helpers/keys.js';
import { startOpenAIUpstream } from './upstreams/openai.js';
import type { OpenAIUpstream } from './upstreams/openai.js';

const ADMIN = 'sk-baimo-admin-breakerinputtest0000000000000';
let upstream: OpenAIUpstream;
let hub: TestHub;

beforeAll(async () => {
  upstream = await startOpenAIUpstream();
  hub = await startTestHub(`providers:\n  up: { baseURL: ${upstream.baseURL} }\nmodels:\n  m: { provider: up, model: gpt-test }\n`, {
    BAIMO_AUTH: 'required',
    BAIMO_ADMIN_KEY: ADMIN,
  });
});

afterAll(async () => {
  await hub?.dispose();
  await upstream?.close();
});

const newKey = async () => (await createKey(hub.url, ADMIN, { name: 'k' })).key;

/** A ~20 KB body: a valid request with a 10,000-deep array in an extra field. */
function deepBody(path: string): string {
  const deep = '['.repeat(10_000) + ']'.repeat(10_000);
  if (path === '/v1/responses') return `{"model":"m","input":"hi","extra":${deep}}`;
  if (path === '/v1/messages') return `{"model":"m","max_tokens":16,"messages":[{"role":"user","content":"hi"}],"extra":${deep}}`;
  return `{"model":"m","messages":[{"role":"user","content":"hi"}],"extra":${deep}}`;
}

function post(path: string, key: string, body: string) {
  return fetch(`${hub.url}${path}`, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body });
}

describe('a deeply nested request body', () => {
  it('is a 400 in the client’s own format on every endpoint, and never reaches the upstream', async () => {
    const key = await newKey();
    const before = upstream.requests.length;
    for (const path of ['/v1/chat/completions', '/v1/responses']) {
      const r = await post(path, key, deepBody(path));
      expect(r.status, path).toBe(400);
      const body = (await r.json()) as { error: { type: string; code: string; message: string } };
      expect(body.error).toMatchObject({ type: 'invalid_request_error', code: 'invalid_json' });
      expect(body.error.message).toContain(`more than ${MAX_JSON_DEPTH} levels`);
    }
    const r = await post('/v1/messages', key, deepBody('/v1/messages'));
    expect(r.status).toBe(400);
    expect(await r.json()).toMatchObject({ type: 'error', error: { type: 'invalid_request_error' } });
    expect(upstream.requests.length).toBe(before);
  });

  it('ten of them from one key leave the deployment healthy for another key', async () => {
    const bad = await newKey();
    const good = await newKey();
    const before = upstream.requests.length;
    for (let i = 0; i < 10; i++) expect((await post('/v1/chat/completions', bad, deepBody('/v1/chat/completions'))).status).toBe(400);
    expect(upstream.requests.length).toBe(before);
    const d = hub.registry.deployments().find((x) => x.model === 'm')!.deployment;
    expect(d.health()).toMatchObject({ circuit: 'closed', failures: 0, errorRate: 0 });
    const client = new OpenAI({ baseURL: `${hub.url}/v1`, apiKey: good, maxRetries: 0 });
    const ok = await client.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'ping' }] });
    expect(ok.choices[0]!.message.content).toBe('Hello from gpt-test! You said: ping');
    expect(upstream.requests.length).toBe(before + 1);
  });

  it('nesting within the limit still parses; one level more does not', () => {
    const nested = (n: number) => '['.repeat(n) + ']'.repeat(n);
    expect(() => parseJSONBody(`{"a":${nested(MAX_JSON_DEPTH - 1)}}`)).not.toThrow();
    expect(() => parseJSONBody(`{"a":${nested(MAX_JSON_DEPTH)}}`)).toThrow(HubError);
    // Brackets inside strings are text, not nesting.
    expect(() => parseJSONBody(JSON.stringify({ a: '['.repeat(10_000) }))).not.toThrow();
  });
});

describe('errors of the hub’s own making', () => {
  it('are kind internal: a 500 that is not retried', () => {
    for (const err of [new RangeError('Maximum call stack size exceeded'), new TypeError('x is undefined'), 'a string']) {
      const e = toHubError(err);
      expect(e).toMatchObject({ kind: 'internal', status: 500 });
      expect(isRetryable(e.kind)).toBe(false);
    }
  });

  it('are neither retried nor counted against the deployment', async () => {
    const d = new Deployment({ id: 'a', model: {} as Model, upstreamModel: 'x' });
    const route: Route = { name: 'r', deployments: [d], strategy: 'priority', retry: DEFAULT_RETRY, fallbacks: [] };
    let calls = 0;
    for (let i = 0; i < 10; i++) {
      await expect(
        execute(route, async () => {
          calls++;
          throw new RangeError('Maximum call stack size exceeded');
        }, { signal: new AbortController().signal, estimatedTokens: 1, routes: () => undefined }),
      ).rejects.toMatchObject({ kind: 'internal', status: 500 });
    }
    expect(calls).toBe(10);
    expect(d.health()).toMatchObject({ circuit: 'closed', failures: 0 });
  });
});
