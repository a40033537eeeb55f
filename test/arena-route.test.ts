import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestHub } from './helpers/hub.js';
import type { TestHub } from './helpers/hub.js';

const ADMIN = 'sk-baimo-admin-arena-route-test-0000';
let hub: TestHub;
let alice: { id: string; key: string };

async function call(key: string | undefined, method: string, path: string, body?: unknown) {
  const res = await fetch(`${hub.url}${path}`, {
    method,
    headers: { ...(key && { authorization: `Bearer ${key}` }), 'content-type': 'application/json' },
    ...(body !== undefined && { body: typeof body === 'string' ? body : JSON.stringify(body) }),
  });
  return { status: res.status, body: (await res.json()) as any };
}

beforeAll(async () => {
  // Votes name models the hub serves: any `m/…` and `bulk/…` through providers nobody calls here.
  hub = await startTestHub("providers:\n  m: { baseURL: 'http://127.0.0.1:9/v1' }\n  bulk: { baseURL: 'http://127.0.0.1:9/v1' }\n", { BAIMO_AUTH: 'required', BAIMO_ADMIN_KEY: ADMIN });
  alice = (await call(ADMIN, 'POST', '/admin/keys', { name: 'alice' })).body;
});

afterAll(async () => {
  await hub?.dispose();
});

describe('GET /v1/arena/leaderboard', () => {
  it('reports Bradley–Terry scores with 95% bootstrap intervals and the votes behind each, over HTTP with the admin key', async () => {
    // strong beats weak 3 times in 4; mid splits with both; a bad vote and a tie on the side.
    const cast: [string, string, string][] = [];
    for (let k = 0; k < 12; k++) cast.push(['m/strong', 'm/weak', k % 4 === 3 ? 'b' : 'a']);
    for (let k = 0; k < 6; k++) cast.push(k % 2 ? ['m/mid', 'm/strong', 'b'] : ['m/weak', 'm/mid', 'b']);
    cast.push(['m/mid', 'm/weak', 'tie'], ['m/strong', 'm/only-bad', 'bad']);
    for (const [a, b, winner] of cast) expect((await call(alice.key, 'POST', '/v1/arena/votes', { models: [a, b], winner })).status).toBe(201);

    const res = await call(ADMIN, 'GET', '/v1/arena/leaderboard');
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ object: 'list', method: 'bradley-terry', ties: 'half a win each', confidence: 0.95, bootstrap_rounds: 200, seed: 20 });
    const rows = res.body.data as any[];
    expect(rows.map((r) => r.model)).toEqual(['m/strong', 'm/mid', 'm/weak', 'm/only-bad']);
    const strong = rows[0];
    expect(Object.keys(strong).sort()).toEqual(['bad', 'ci_lower', 'ci_upper', 'games', 'losses', 'model', 'rank', 'rating', 'ties', 'votes', 'wins']);
    expect(strong).toMatchObject({ votes: 15, games: 16, wins: 12, losses: 3, ties: 0, bad: 1, rank: 1 });
    for (const r of rows.slice(0, 3)) {
      expect(r.ci_lower).toBeLessThanOrEqual(r.rating);
      expect(r.rating).toBeLessThanOrEqual(r.ci_upper);
    }
    const mean = rows.slice(0, 3).reduce((x, r) => x + r.rating, 0) / 3;
    expect(mean).toBeCloseTo(1000, 0);
    expect(rows[3]).toEqual({ model: 'm/only-bad', rating: null, ci_lower: null, ci_upper: null, rank: null, votes: 0, games: 1, wins: 0, losses: 0, ties: 0, bad: 1 });

    // A key sees the same board (votes are anonymous judgements); the same votes give the same answer.
    expect((await call(alice.key, 'GET', '/v1/arena/leaderboard')).body).toEqual(res.body);
    // A new vote is in the next board (the cache is keyed by the votes).
    await call(alice.key, 'POST', '/v1/arena/votes', { models: ['m/weak', 'm/strong'], winner: 'a' });
    const after = (await call(ADMIN, 'GET', '/v1/arena/leaderboard')).body.data as any[];
    expect(after.find((r) => r.model === 'm/strong')).toMatchObject({ votes: 16, losses: 4 });
  });

  it('refuses the unauthenticated, wrong methods and malformed votes in the OpenAI error shape', async () => {
    const anon = await call(undefined, 'GET', '/v1/arena/leaderboard');
    expect(anon.status).toBe(401);
    expect(anon.body.error).toMatchObject({ type: expect.any(String), message: expect.any(String) });
    expect((await call(ADMIN, 'DELETE', '/v1/arena/leaderboard')).status).toBe(404);
    for (const body of [
      { models: ['m/a', 'm/b'], winner: 'c' },
      { models: ['m/a'], winner: 'a' },
      { models: ['m/a', 'm/b', 'm/c'], winner: 'a' },
      { models: [1, 2], winner: 'a' },
      { models: ['m/a', 'm/a'], winner: 'a' },
      '{"models": ["m/a", "m/b"], "winner": ',
      [],
    ]) {
      const r = await call(alice.key, 'POST', '/v1/arena/votes', body);
      expect(r.status).toBe(400);
      expect(r.body.error.message).toEqual(expect.any(String));
    }
  });

  it('answers over 100k stored votes, keeps serving other requests meanwhile, and never says NaN', async () => {
    // Straight into the store: 100k HTTP votes would test the vote route, not the board.
    const insert = hub.store.db.prepare('INSERT INTO eval_judgements (ts, model_a, model_b, winner, key_id) VALUES (?, ?, ?, ?, NULL)');
    const winners = ['a', 'b', 'tie', 'bad', 'a'] as const;
    hub.store.db.transaction(() => {
      for (let k = 0; k < 100_000; k++) insert.run(k, `bulk/${k % 17}`, `bulk/${(k * 7 + 3) % 19}`, winners[k % 5]);
      // Many names, one vote each (the route refuses names the hub does not serve; a store may still hold them): counted, bounded, harmless.
      for (let k = 0; k < 3000; k++) insert.run(k, `junk/${k}`, 'bulk/1', 'a');
    })();
    const board = fetch(`${hub.url}/v1/arena/leaderboard`, { headers: { authorization: `Bearer ${ADMIN}` } });
    // While the board is made, the hub still answers: /v1/me goes through the same server.
    let answered = 0;
    let done = false;
    const pings = (async () => {
      while (!done) {
        if ((await call(ADMIN, 'GET', '/v1/me')).status === 200) answered++;
      }
    })();
    const res = await board;
    done = true;
    await pings;
    expect(res.status).toBe(200);
    const text = await res.text();
    expect(text).not.toMatch(/NaN|Infinity/);
    const body = JSON.parse(text);
    expect(body.data.length).toBeGreaterThan(3000);
    expect(body.data.every((r: any) => r.rating === null || (Number.isFinite(r.rating) && Number.isFinite(r.ci_lower) && Number.isFinite(r.ci_upper)))).toBe(true);
    expect(answered).toBeGreaterThan(0);
  }, 120_000);
});
