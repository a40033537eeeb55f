/**
 * Arena votes as human judgements in the eval store, over HTTP as the console sends them, once on
 * the embedded store and once on PostgreSQL: the prompt and both answers kept (bounded, cut with a
 * marker), listed by GET /v1/evals/judgements (a key its own, the admin and an open hub all,
 * `model=`, paging), hostile votes refused with nothing stored, and the upgrade: votes cast
 * before it (in the old `arena_votes` table) give the same leaderboard after it.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bradleyTerryLeaderboard } from '../src/arena/bradley-terry.js';
import { ARENA_VOTES_PER_MINUTE } from '../src/server/routes/me.js';
import type { Vote } from '../src/arena/ports.js';
import { startHub } from '../src/server/start.js';
import type { RunningHub } from '../src/server/start.js';
import { MIGRATIONS as PG_MIGRATIONS } from '../src/store/postgres/schema.js';
import { MIGRATIONS as SQLITE_MIGRATIONS } from '../src/store/sqlite/schema.js';
import { startSharedTestHub, startTestHub } from './helpers/hub.js';
import type { TestHub } from './helpers/hub.js';
import { createTestDatabase } from './helpers/pg.js';
import type { TestDatabase } from './helpers/pg.js';

const ADMIN = 'sk-baimo-admin-arena-judgements-0000';
const YAML = "providers:\n  m: { baseURL: 'http://127.0.0.1:9/v1' }\nmodels:\n  chat: { deployments: [{ provider: m, model: x }] }\n";
const ENV = { BAIMO_AUTH: 'required', BAIMO_ADMIN_KEY: ADMIN };

type Json = Record<string, any>;

function client(url: string) {
  return async (key: string | undefined, method: string, path: string, body?: unknown) => {
    const res = await fetch(`${url}${path}`, {
      method,
      headers: { ...(key && { authorization: `Bearer ${key}` }), 'content-type': 'application/json' },
      ...(body !== undefined && { body: typeof body === 'string' ? body : JSON.stringify(body) }),
    });
    const text = await res.text();
    return { status: res.status, text, body: (text ? JSON.parse(text) : undefined) as Json };
  };
}

/** The index of the migration that made the judgements table: a store at this version still has `arena_votes`. */
const before = (migrations: readonly string[]) => {
  const i = migrations.findIndex((m) => m.includes('CREATE TABLE eval_judgements'));
  expect(i).toBeGreaterThan(0);
  return i;
};

/** Old votes with gaps in their ids (rows deleted by hand), drawn from a seeded generator. */
const OLD: [number, string, string, Vote['winner'], string | null][] = [];
let seed = 7;
const draw = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
for (let k = 0; k < 60; k++) {
  const a = Math.floor(draw() * 5);
  let b = Math.floor(draw() * 4);
  if (b >= a) b++;
  const winner = draw() < 0.1 ? 'tie' : draw() < 0.05 ? 'bad' : draw() < 0.5 + a * 0.08 - b * 0.05 ? 'a' : 'b';
  OLD.push([k * 2 + 1, `m/v${a}`, `m/v${b}`, winner, k % 2 ? 'key_old' : null]);
}

/** The board of these votes in this order, as the route shows it. */
async function boardOf(votes: readonly Vote[]) {
  return (await bradleyTerryLeaderboard(votes)).standings.map((s) => ({
    model: s.model, rating: s.rating, ci_lower: s.ciLower, ci_upper: s.ciUpper, rank: s.rank, votes: s.votes, games: s.games, wins: s.wins, losses: s.losses, ties: s.ties, bad: s.bad,
  }));
}

/** The board the hub served before the upgrade: its votes read in id order, fitted. */
async function boardBefore() {
  const votes: Vote[] = OLD.map(([, a, b, winner]) => ({ modelA: a, modelB: b, winner }));
  const board = await boardOf(votes);
  // The bootstrap depends on the order cast: the same votes reversed give other intervals, so
  // matching this board means the order survived the upgrade.
  expect(await boardOf([...votes].reverse())).not.toEqual(board);
  return board;
}

function judgementSuite(name: string, start: () => Promise<TestHub<any>>, startOpen: () => Promise<TestHub<any>>) {
  describe(name, () => {
    let hub: TestHub<any>;
    let call: ReturnType<typeof client>;
    let alice: string;
    let bob: string;
    let aliceId: string;

    beforeAll(async () => {
      hub = await start();
      call = client(hub.url);
      const a = (await call(ADMIN, 'POST', '/admin/keys', { name: 'alice' })).body;
      alice = a.key;
      aliceId = a.id;
      bob = (await call(ADMIN, 'POST', '/admin/keys', { name: 'bob' })).body.key;
    }, 30_000);
    afterAll(async () => {
      await hub?.dispose();
    });

    const all = async () => (await call(ADMIN, 'GET', '/v1/evals/judgements?limit=100')).body.data as Json[];

    it('keeps the prompt and both answers as the voter saw them, a long answer cut at 32 KB with a marker', async () => {
      const long = '长'.repeat(20_000); // 60,000 UTF-8 bytes
      const r = await call(alice, 'POST', '/v1/arena/votes', { models: ['m/a', 'chat'], winner: 'b', prompt: '哪个更好？', answers: ['short answer', long] });
      expect(r.status).toBe(201);
      expect(r.body).toMatchObject({ object: 'arena.vote', id: expect.stringMatching(/^jdg_\d+$/), models: ['m/a', 'chat'], winner: 'b' });
      const list = (await call(alice, 'GET', '/v1/evals/judgements')).body;
      expect(list).toMatchObject({ object: 'list', has_more: false, first_id: r.body.id, last_id: r.body.id });
      const j = list.data[0];
      expect(j).toMatchObject({ id: r.body.id, object: 'eval.judgement', key_id: aliceId, models: ['m/a', 'chat'], winner: 'b', prompt: '哪个更好？' });
      expect(Math.abs(j.created_at - Date.now() / 1000)).toBeLessThan(600);
      expect(j.answers[0]).toBe('short answer');
      const cut = j.answers[1] as string;
      expect(Buffer.byteLength(cut)).toBeLessThanOrEqual(32 * 1024);
      expect(cut.startsWith('长'.repeat(10_000))).toBe(true);
      expect(cut).toMatch(/\n…\[truncated: \d+ more bytes\]$/);
      // Whole characters kept, and the dropped bytes counted: what is kept plus what was dropped is the answer.
      const kept = cut.slice(0, cut.indexOf('\n…'));
      expect(kept).toBe('长'.repeat(kept.length));
      expect(Buffer.byteLength(kept) + Number(/(\d+) more bytes/.exec(cut)![1])).toBe(60_000);
      // A vote without texts (an older console) is a judgement all the same.
      expect((await call(bob, 'POST', '/v1/arena/votes', { models: ['m/b', 'm/a'], winner: 'tie' })).status).toBe(201);
      expect((await call(bob, 'GET', '/v1/evals/judgements')).body.data[0]).toMatchObject({ models: ['m/b', 'm/a'], winner: 'tie', prompt: null, answers: null });
    });

    it("a key sees only its own judgements; the admin sees all, filtered by model and paged newest first", async () => {
      for (const [key, models, winner] of [[alice, ['m/c', 'm/a'], 'a'], [bob, ['chat', 'm/c'], 'bad'], [alice, ['m/b', 'm/c'], 'b']] as const) {
        expect((await call(key, 'POST', '/v1/arena/votes', { models, winner })).status).toBe(201);
      }
      const mine = (await call(alice, 'GET', '/v1/evals/judgements')).body.data as Json[];
      expect(mine.map((j) => j.winner)).toEqual(['b', 'a', 'b']);
      expect(mine.every((j) => j.key_id === aliceId)).toBe(true);
      const bobs = (await call(bob, 'GET', '/v1/evals/judgements')).body.data as Json[];
      expect(bobs.map((j) => j.winner)).toEqual(['bad', 'tie']);
      // Another key's judgement is not reachable by paging past it, nor by naming its model.
      expect((await call(bob, 'GET', `/v1/evals/judgements?after=jdg_999999999&model=m/a`)).body.data.map((j: Json) => j.winner)).toEqual(['tie']);
      const every = await all();
      expect(every).toHaveLength(5);
      expect(every.map((j) => j.winner)).toEqual(['b', 'bad', 'a', 'tie', 'b']);
      const c = (await call(ADMIN, 'GET', '/v1/evals/judgements?model=m/c')).body.data as Json[];
      expect(c.map((j) => j.models)).toEqual([['m/b', 'm/c'], ['chat', 'm/c'], ['m/c', 'm/a']]);
      const p1 = (await call(ADMIN, 'GET', '/v1/evals/judgements?limit=2')).body;
      expect([p1.data.length, p1.has_more]).toEqual([2, true]);
      const p2 = (await call(ADMIN, 'GET', `/v1/evals/judgements?limit=2&after=${p1.last_id}`)).body;
      const p3 = (await call(ADMIN, 'GET', `/v1/evals/judgements?limit=2&after=${p2.last_id}`)).body;
      expect([p3.data.length, p3.has_more]).toEqual([1, false]);
      expect([...p1.data, ...p2.data, ...p3.data].map((j: Json) => j.id)).toEqual(every.map((j) => j.id));
      // The board reads the same judgements.
      const board = (await call(bob, 'GET', '/v1/arena/leaderboard')).body.data as Json[];
      expect(board.find((s) => s.model === 'm/c')).toMatchObject({ games: 3, wins: 2, losses: 0, bad: 1 });
    });

    it('refuses hostile votes and listings with 400 in OpenAI error shape, storing nothing', async () => {
      const count = (await all()).length;
      const nested = `{"models":["m/a","m/b"],"winner":"a","prompt":${'['.repeat(200)}${']'.repeat(200)}}`;
      for (const [label, body] of [
        ['unknown model', { models: ['m/a', 'nobody/x'], winner: 'a' }],
        ['unknown bare name', { models: ['not-a-model', 'm/a'], winner: 'a' }],
        ['a served prefix with a line break', { models: ['m/a', 'm/b\r\nX-Injected: 1'], winner: 'a' }],
        ['same model twice', { models: ['m/a', 'm/a'], winner: 'a' }],
        ['winner not in the enum', { models: ['m/a', 'm/b'], winner: 'c' }],
        ['winner of another type', { models: ['m/a', 'm/b'], winner: 1 }],
        ['a 10 MB answer', { models: ['m/a', 'm/b'], winner: 'a', answers: ['x'.repeat(10 * 1024 * 1024), 'y'] }],
        ['a 2 MB prompt', { models: ['m/a', 'm/b'], winner: 'a', prompt: 'p'.repeat(2 * 1024 * 1024) }],
        ['three answers', { models: ['m/a', 'm/b'], winner: 'a', answers: ['1', '2', '3'] }],
        ['an answer of another type', { models: ['m/a', 'm/b'], winner: 'a', answers: [{ text: 'x' }, 'y'] }],
        ['a prompt of another type', { models: ['m/a', 'm/b'], winner: 'a', prompt: ['x'] }],
        ['an unknown field', { models: ['m/a', 'm/b'], winner: 'a', key_id: 'someone-else' }],
        ['nesting 200 deep', nested],
        ['bad JSON', '{"models": ["m/a", "m/b"], "winner": '],
        ['a list', []],
      ] as const) {
        const r = await call(alice, 'POST', '/v1/arena/votes', body);
        expect({ label, status: r.status }).toEqual({ label, status: 400 });
        expect(r.body.error).toMatchObject({ type: 'invalid_request_error', message: expect.any(String) });
        expect(r.text.length).toBeLessThan(2000);
      }
      expect((await all()).length).toBe(count);
      for (const q of ['after=123', 'after=jdg_abc', 'limit=0', 'limit=x', `model=${'m'.repeat(1000)}`]) {
        const r = await call(alice, 'GET', `/v1/evals/judgements?${q}`);
        expect({ q, status: r.status }).toEqual({ q, status: 400 });
        expect(r.body.error.type).toBe('invalid_request_error');
      }
      expect((await call(alice, 'POST', '/v1/evals/judgements', {})).status).toBe(405);
      expect((await call(undefined, 'GET', '/v1/evals/judgements')).status).toBe(401);
    });

    it('an open hub (no auth) lists every judgement', async () => {
      const open = await startOpen();
      try {
        const c = client(open.url);
        expect((await c(undefined, 'POST', '/v1/arena/votes', { models: ['m/a', 'chat'], winner: 'a', prompt: 'p', answers: ['x', 'y'] })).status).toBe(201);
        const list = (await c(undefined, 'GET', '/v1/evals/judgements')).body.data as Json[];
        expect(list.length).toBeGreaterThanOrEqual(1);
        expect(list[0]).toMatchObject({ key_id: null, models: ['m/a', 'chat'], prompt: 'p', answers: ['x', 'y'] });
      } finally {
        await open.dispose();
      }
    });

    it(`a key casts at most ${ARENA_VOTES_PER_MINUTE} votes a minute: the next is a 429 in the OpenAI shape with Retry-After, stores nothing, and other keys still vote`, async () => {
      const carol = (await call(ADMIN, 'POST', '/admin/keys', { name: 'carol' })).body.key as string;
      const mine = async () => (await call(carol, 'GET', '/v1/evals/judgements?limit=100')).body.data as Json[];
      // Refused votes (a model not served) count nothing.
      expect((await call(carol, 'POST', '/v1/arena/votes', { models: ['m/a', 'nope/x'], winner: 'a' })).status).toBe(400);
      for (let i = 0; i < ARENA_VOTES_PER_MINUTE; i++) expect((await call(carol, 'POST', '/v1/arena/votes', { models: ['m/d', 'm/e'], winner: 'a' })).status).toBe(201);
      const res = await fetch(`${hub.url}/v1/arena/votes`, { method: 'POST', headers: { authorization: `Bearer ${carol}`, 'content-type': 'application/json' }, body: JSON.stringify({ models: ['m/d', 'm/e'], winner: 'b' }) });
      expect(res.status).toBe(429);
      expect(Number(res.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      expect(((await res.json()) as Json).error).toMatchObject({ code: 'rate_limit_exceeded', message: expect.stringContaining(`at most ${ARENA_VOTES_PER_MINUTE} a minute`) });
      expect((await mine()).filter((j) => j.winner === 'b')).toHaveLength(0);
      expect(await mine()).toHaveLength(ARENA_VOTES_PER_MINUTE);
      // Another key, and the operator, are not held back by it.
      const dave = (await call(ADMIN, 'POST', '/admin/keys', { name: 'dave' })).body.key as string;
      expect((await call(dave, 'POST', '/v1/arena/votes', { models: ['m/d', 'm/e'], winner: 'tie' })).status).toBe(201);
      expect((await call(ADMIN, 'POST', '/v1/arena/votes', { models: ['m/d', 'm/e'], winner: 'tie' })).status).toBe(201);
    });
  });
}

const dbs: TestDatabase[] = [];
afterAll(async () => {
  for (const db of dbs) await db.drop();
});

judgementSuite(
  'judgements on the embedded store',
  () => startTestHub(YAML, ENV),
  () => startTestHub(YAML),
);

let shared: TestDatabase | undefined;
judgementSuite(
  'judgements on PostgreSQL',
  async () => {
    shared = await createTestDatabase();
    dbs.push(shared);
    return startSharedTestHub(YAML, { databaseUrl: shared.url }, ENV);
  },
  // The same database, a replica with no auth: it sees the other replica's judgements too.
  () => startSharedTestHub(YAML, { databaseUrl: shared!.url }, { BAIMO_AUTH: 'none' }),
);

describe('the upgrade: votes cast before it give the same leaderboard after it', () => {
  it('on the embedded store: arena_votes move into the judgements, in order, the table gone', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'baimo-arena-upgrade-'));
    const dataDir = join(dir, 'data');
    mkdirSync(dataDir, { mode: 0o700 });
    const db = new Database(join(dataDir, 'baimo.db'));
    const v = before(SQLITE_MIGRATIONS);
    for (let i = 0; i < v; i++) db.exec(SQLITE_MIGRATIONS[i]!);
    db.pragma(`user_version = ${v}`);
    const insert = db.prepare('INSERT INTO arena_votes (id, ts, model_a, model_b, winner, key_id) VALUES (?, ?, ?, ?, ?, ?)');
    for (const [id, a, b, w, key] of OLD) insert.run(id, 1_700_000_000_000 + id, a, b, w, key);
    db.close();
    writeFileSync(join(dir, 'baimo.yaml'), YAML);
    let hub: RunningHub | undefined;
    try {
      hub = await startHub({ config: join(dir, 'baimo.yaml'), port: '0', host: '127.0.0.1', dataDir, env: { ...ENV, BAIMO_LOG_LEVEL: 'silent' }, detectOllama: false });
      const call = client(hub.url);
      const board = (await call(ADMIN, 'GET', '/v1/arena/leaderboard')).body.data;
      expect(board).toEqual(await boardBefore());
      const list = (await call(ADMIN, 'GET', '/v1/evals/judgements?limit=100')).body.data as Json[];
      expect(list.map((j) => j.id)).toEqual(OLD.map(([id]) => `jdg_${id}`).reverse());
      expect(list.at(-1)).toMatchObject({ key_id: null, models: [OLD[0]![1], OLD[0]![2]], winner: OLD[0]![3], prompt: null, answers: null, created_at: Math.floor((1_700_000_000_000 + 1) / 1000) });
      // The old key's votes are its own judgements now.
      expect(list.filter((j) => j.key_id === 'key_old')).toHaveLength(30);
      const after = (hub.store as { db: Database.Database }).db;
      expect(after.prepare("SELECT count(*) AS n FROM sqlite_master WHERE name = 'arena_votes'").get()).toEqual({ n: 0 });
      // A new vote takes the next id.
      const r = await call(ADMIN, 'POST', '/v1/arena/votes', { models: ['m/v1', 'm/v2'], winner: 'a' });
      expect(r.body.id).toBe(`jdg_${OLD.at(-1)![0] + 1}`);
    } finally {
      await hub?.close();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 30_000);

  it('on PostgreSQL: the same, and a replica not yet upgraded still votes through the arena_votes view', async () => {
    const db = await createTestDatabase();
    dbs.push(db);
    const c = new pg.Client({ connectionString: db.url });
    await c.connect();
    try {
      const v = before(PG_MIGRATIONS);
      await c.query('CREATE TABLE baimo_schema_migrations (version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())');
      for (let i = 0; i < v; i++) {
        await c.query(PG_MIGRATIONS[i]!);
        await c.query('INSERT INTO baimo_schema_migrations (version) VALUES ($1)', [i + 1]);
      }
      // The old code's insert names no id; these carry the gaps the ids had in SQLite above.
      for (const [id, a, b, w, key] of OLD) await c.query('INSERT INTO arena_votes (id, ts, model_a, model_b, winner, key_id) OVERRIDING SYSTEM VALUE VALUES ($1, $2, $3, $4, $5, $6)', [id, 1_700_000_000_000 + id, a, b, w, key]);
      const hub = await startSharedTestHub(YAML, { databaseUrl: db.url }, ENV);
      try {
        const call = client(hub.url);
        expect((await call(ADMIN, 'GET', '/v1/arena/leaderboard')).body.data).toEqual(await boardBefore());
        const list = (await call(ADMIN, 'GET', '/v1/evals/judgements?limit=100')).body.data as Json[];
        expect(list.map((j) => j.id)).toEqual(OLD.map(([id]) => `jdg_${id}`).reverse());
        // New votes continue after the old ids, whether cast by this hub or by an old one through the view.
        expect((await call(ADMIN, 'POST', '/v1/arena/votes', { models: ['m/v1', 'm/v2'], winner: 'a' })).body.id).toBe(`jdg_${OLD.at(-1)![0] + 1}`);
        await c.query("INSERT INTO arena_votes (ts, model_a, model_b, winner, key_id) VALUES (1, 'm/v3', 'm/v4', 'b', NULL)");
        expect((await c.query('SELECT id::int4 AS id, model_a FROM arena_votes ORDER BY id DESC LIMIT 1')).rows[0]).toEqual({ id: OLD.at(-1)![0] + 2, model_a: 'm/v3' });
        expect((await call(ADMIN, 'GET', '/v1/evals/judgements?limit=1')).body.data[0]).toMatchObject({ id: `jdg_${OLD.at(-1)![0] + 2}`, models: ['m/v3', 'm/v4'], winner: 'b' });
      } finally {
        await hub.dispose();
      }
    } finally {
      await c.end();
    }
  }, 60_000);
});
