import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestHub } from './helpers/hub.js';
import type { TestHub } from './helpers/hub.js';
import { startOpenAIUpstream } from './upstreams/openai.js';
import type { OpenAIUpstream } from './upstreams/openai.js';

const ADMIN = 'sk-baimo-admin-console-test-000000';
let upstream: OpenAIUpstream;
let hub: TestHub;
let alice: { id: string; key: string };

async function call(key: string, method: string, path: string, body?: unknown) {
  const res = await fetch(`${hub.url}${path}`, { method, headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, ...(body !== undefined && { body: JSON.stringify(body) }) });
  return { status: res.status, headers: res.headers, body: (await res.json()) as any };
}

beforeAll(async () => {
  upstream = await startOpenAIUpstream();
  hub = await startTestHub(`providers:\n  loop: { baseURL: ${upstream.baseURL} }\nlogging: { bodies: true }\nmodels:\n  flaky:\n    deployments: [{ provider: loop, model: error-500, priority: 0 }, { provider: loop, model: gpt-test, priority: 1 }]\n`, {
    BAIMO_AUTH: 'required',
    BAIMO_ADMIN_KEY: ADMIN,
  });
  alice = (await call(ADMIN, 'POST', '/admin/keys', { name: 'alice', rpm: 100 })).body;
  for (let i = 0; i < 3; i++) await call(alice.key, 'POST', '/v1/chat/completions', { model: 'loop/gpt-test', messages: [{ role: 'user', content: `hello ${i}` }] });
  await call(ADMIN, 'POST', '/v1/chat/completions', { model: 'flaky', messages: [{ role: 'user', content: 'x' }] });
  for (let i = 0; i < 50 && (await call(ADMIN, 'GET', '/admin/requests')).body.data.length < 4; i++) await new Promise((r) => setTimeout(r, 100));
});

afterAll(async () => {
  await hub?.dispose();
  await upstream?.close();
});

describe('self-service endpoints', () => {
  it('/v1/me says who is calling', async () => {
    expect((await call(ADMIN, 'GET', '/v1/me')).body).toEqual({ kind: 'admin' });
    const me = (await call(alice.key, 'GET', '/v1/me')).body;
    expect(me).toMatchObject({ kind: 'key', key: { id: alice.id, name: 'alice', rpm: 100 } });
    expect(JSON.stringify(me)).not.toContain(alice.key);
    expect((await fetch(`${hub.url}/v1/me`)).status).toBe(401);
  });

  it('a key sees only its own usage and requests; the admin sees all', async () => {
    const mine = (await call(alice.key, 'GET', '/v1/me/usage')).body.data[0];
    expect(mine.requests).toBe(3);
    const all = (await call(ADMIN, 'GET', '/v1/me/usage')).body.data[0];
    expect(all.requests).toBe(4);
    const list = (await call(alice.key, 'GET', '/v1/me/requests')).body;
    expect(list.data).toHaveLength(3);
    expect(list.data.every((r: any) => r.key_id === alice.id)).toBe(true);
    const flaky = (await call(ADMIN, 'GET', '/admin/requests?model=flaky')).body.data[0];
    expect((await call(alice.key, 'GET', `/v1/me/requests/${flaky.request_id}`)).status).toBe(404);
    expect((await call(alice.key, 'GET', '/admin/requests')).status).toBe(403);
  });

  it('the request log pages with a cursor and opens a request with attempts and bodies', async () => {
    const page1 = (await call(ADMIN, 'GET', '/admin/requests?limit=2')).body;
    expect(page1.data).toHaveLength(2);
    const page2 = (await call(ADMIN, 'GET', `/admin/requests?limit=2&before=${page1.next_before}`)).body;
    expect(page2.data).toHaveLength(2);
    expect(new Set([...page1.data, ...page2.data].map((r: any) => r.request_id)).size).toBe(4);
    const flaky = (await call(ADMIN, 'GET', '/admin/requests?model=flaky')).body.data[0];
    expect(flaky).toMatchObject({ model: 'flaky', status: 200, attempts: 2, input_tokens: 12 });
    const detail = (await call(ADMIN, 'GET', `/admin/requests/${flaky.request_id}`)).body;
    expect(detail.attempts.map((a: any) => [a.attempt, a.status, a.final])).toEqual([[1, 502, false], [2, 200, true]]);
    expect(JSON.parse(detail.bodies.request).messages[0].content).toBe('x');
    expect(detail.trace).toBeNull();
  });
});

describe('arena', () => {
  it('blind votes feed the Bradley–Terry leaderboard (its own tests: arena*.test.ts)', async () => {
    // As the Playground sends a vote: the models, the winner, the prompt and both answers.
    expect((await call(alice.key, 'POST', '/v1/arena/votes', { models: ['loop/a', 'loop/b'], winner: 'a', prompt: 'hi', answers: ['hello', 'hey'] })).status).toBe(201);
    expect((await call(alice.key, 'POST', '/v1/arena/votes', { models: ['loop/a', 'flaky'], winner: 'tie', prompt: 'x', answers: ['y', 'z'] })).status).toBe(201);
    expect((await call(alice.key, 'POST', '/v1/arena/votes', { models: ['loop/a', 'loop/a'], winner: 'a' })).status).toBe(400);
    expect((await call(alice.key, 'POST', '/v1/arena/votes', { models: ['loop/a', 'm/unserved'], winner: 'a' })).status).toBe(400);
    const board = (await call(alice.key, 'GET', '/v1/arena/leaderboard')).body.data;
    expect(board.map((s: any) => s.model)).toEqual(['loop/a', 'flaky', 'loop/b']);
    expect(board[0]).toMatchObject({ model: 'loop/a', games: 2, wins: 1, ties: 1, losses: 0 });
    // Each vote is a human judgement the voter can read back (its own; the admin's view is all).
    const mine = (await call(alice.key, 'GET', '/v1/evals/judgements')).body.data;
    expect(mine.map((j: any) => [j.models, j.winner, j.prompt, j.answers])).toEqual([
      [['loop/a', 'flaky'], 'tie', 'x', ['y', 'z']],
      [['loop/a', 'loop/b'], 'a', 'hi', ['hello', 'hey']],
    ]);
  });
});

describe('the console', () => {
  it('is served at / when built, or explains how to build it', async () => {
    const res = await fetch(`${hub.url}/`);
    if (res.status === 200) expect(res.headers.get('content-type')).toContain('text/html');
    else expect(((await res.json()) as any).error.message).toContain('npm run build:web');
    expect((await fetch(`${hub.url}/assets/../../package.json`)).status).toBe(404);
  });
});
