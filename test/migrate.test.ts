/**
 * `baimo migrate`: a real embedded hub's data (keys, a team, requests with captured bodies, a
 * failed attempt, a virtual model's trace, a stored response, judgements (arena votes), an eval run
 * with its results, a journaled record) copied
 * into a fresh PostgreSQL database and read back through the PostgreSQL ports; run twice, nothing
 * doubles. Also the plain schema migration, a newer schema refused, an unreachable server and a
 * data directory a hub still holds.
 */
import { spawn } from 'node:child_process';
import { appendFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import OpenAI, { toFile } from 'openai';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrateCommand } from '../src/cli/migrate.js';
import { VectorsUnavailableError } from '../src/knowledge/ports.js';
import type { ChunkInput, VectorStoreFileRow, VectorStoreRow } from '../src/knowledge/ports.js';
import { indexTerms, queryTerms } from '../src/knowledge/segment.js';
import { copyFromSQLite } from '../src/store/postgres/copy-from-sqlite.js';
import { openPostgresStores, SCHEMA_VERSION } from '../src/store/postgres/index.js';
import { MIGRATIONS as PG_MIGRATIONS } from '../src/store/postgres/schema.js';
import type { PostgresStores } from '../src/store/postgres/index.js';
import { openSQLiteStores } from '../src/store/sqlite/index.js';
import type { SQLiteStores } from '../src/store/sqlite/index.js';
import type { UsageRecord } from '../src/usage/record.js';
import { startSharedTestHub, startTestHub } from './helpers/hub.js';
import type { TestHub } from './helpers/hub.js';
import { createTestDatabase } from './helpers/pg.js';
import { startPGlite } from './helpers/pglite.js';
import type { TestDatabase } from './helpers/pg.js';
import { startOpenAIUpstream } from './upstreams/openai.js';
import type { OpenAIUpstream } from './upstreams/openai.js';

const ROOT = join(import.meta.dirname, '..');
const TSX = pathToFileURL(join(ROOT, 'node_modules/tsx/dist/loader.mjs')).href;
const FAR = 4_102_444_800_000; // 2100-01-01

let upstream: OpenAIUpstream;
let hub: TestHub;
let dataDir: string;
let admin: string;
let hubClosed = false;
const dbs: TestDatabase[] = [];
const ids = { captured: [] as string[], moa: '', response: '', keys: [] as string[], team: '', aliceKey: '', bobKey: '', store: '', pending: '', run: '' };

const EVAL_SUITE = `prompts: ['Say {{ q }}']
providers: [loop/gpt-test]
tests:
  - vars: { q: one }
    assert: [{ type: contains, value: one }]
  - vars: { q: two }
    assert: [{ type: contains, value: absent }]
`;

/** Knowledge: files of one vector store, and two queries each matching more than one of them. */
const KB_FILES: [string, string][] = [
  ['changjiang.txt', '长江是中国最长的河流，全长约六千三百公里。长江流域人口众多，沿岸城市有重庆、武汉、南京和上海。'],
  ['huanghe.txt', '黄河是中国第二长的河流，流经九个省区。'],
  ['thames.md', 'The Thames flows through London to the North Sea. Salmon returned to the river after the water was cleaned.'],
  ['seine.md', 'The Seine is a river in Paris.'],
];
const KB_QUERIES = ['中国最长的河流', 'river London water'];
/** What the embedded hub answered to each query: the files in order, and the texts. */
const embeddedResults: { file: string; texts: string[] }[][] = [];

/** The journaled record a killed hub would have left behind: not in SQLite, copied all the same. */
const JOURNALED: UsageRecord = {
  requestId: 'req_journaled_only', ts: Date.now(), endpoint: 'chat', model: 'journal/only', provider: 'loop', upstreamModel: 'only',
  deployment: 'loop/only', attempt: 1, final: true, fallbackFrom: undefined, stream: false, status: 200, errorKind: undefined,
  usage: { inputTokens: 7, outputTokens: 3 }, latencyMs: 12.5, ttftMs: undefined, costUsd: 0.25,
};

interface Out {
  code: number;
  out: string;
  err: string;
}

async function migrateCli(args: string[], env: Record<string, string> = {}): Promise<Out> {
  let out = '';
  let err = '';
  const code = await migrateCommand(args, { env, stdout: { write: (s: string) => (out += s) }, stderr: { write: (s: string) => (err += s) } });
  return { code, out, err };
}

/** The real `baimo` entry point, from source, in a child process. */
function spawnCli(args: string[], env: Record<string, string> = {}): Promise<Out> {
  const child = spawn(process.execPath, ['--import', TSX, join(ROOT, 'src/cli/main.ts'), ...args], { env: { PATH: process.env.PATH ?? '', ...env } });
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (err += d));
  return new Promise((resolve) => child.on('exit', (code) => resolve({ code: code ?? -1, out, err })));
}

async function call(key: string, method: string, path: string, body?: unknown) {
  const res = await fetch(`${hub.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    ...(body !== undefined && { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  return { status: res.status, id: res.headers.get('x-request-id') ?? '', body: text ? (JSON.parse(text) as any) : undefined };
}

async function freshDatabase(): Promise<TestDatabase> {
  const db = await createTestDatabase();
  dbs.push(db);
  return db;
}

beforeAll(async () => {
  upstream = await startOpenAIUpstream();
  hub = await startTestHub(
    `providers:
  loop: { baseURL: ${upstream.baseURL} }
logging: { bodies: true }
pricing:
  allowUnpriced: true
  models:
    loop/gpt-test: { input: 1, output: 2 }
    loop/p1: { input: 1000, output: 1000 }
    loop/p2: { input: 1000, output: 1000 }
    loop/agg: { input: 1000, output: 1000 }
models:
  flaky:
    deployments: [{ provider: loop, model: error-500, priority: 0 }, { provider: loop, model: gpt-test, priority: 1 }]
virtualModels:
  panel:
    kind: moa
    proposers: [loop/p1, loop/p2]
    aggregator: loop/agg
`,
    { BAIMO_AUTH: 'required' },
  );
  dataDir = join(hub.dir, 'data');
  admin = hub.generatedAdminKey!;
  const team = await call(admin, 'POST', '/admin/teams', { name: 'research', budget_usd: 100, budget_period: 'month' });
  ids.team = team.body.id;
  const alice = (await call(admin, 'POST', '/admin/keys', { name: 'alice', team_id: ids.team, rpm: 1000 })).body;
  const bob = (await call(admin, 'POST', '/admin/keys', { name: 'bob', budget_usd: 5 })).body;
  const gone = (await call(admin, 'POST', '/admin/keys', { name: 'gone' })).body;
  expect((await call(admin, 'POST', `/admin/keys/${gone.id}/revoke`)).status).toBe(200);
  ids.keys = [alice.id, bob.id, gone.id];
  for (let i = 0; i < 6; i++) {
    const r = await call(i % 2 ? alice.key : bob.key, 'POST', '/v1/chat/completions', { model: 'loop/gpt-test', messages: [{ role: 'user', content: `hello ${i}` }] });
    expect(r.status).toBe(200);
    ids.captured.push(r.id);
  }
  // A failed first attempt: two records for one request.
  expect((await call(alice.key, 'POST', '/v1/chat/completions', { model: 'flaky', messages: [{ role: 'user', content: 'x' }] })).status).toBe(200);
  const moa = await call(admin, 'POST', '/v1/chat/completions', { model: 'panel', messages: [{ role: 'user', content: 'think' }] });
  expect(moa.status).toBe(200);
  ids.moa = moa.id;
  const resp = await call(alice.key, 'POST', '/v1/responses', { model: 'loop/gpt-test', input: 'remember this' });
  expect(resp.status).toBe(200);
  ids.response = resp.body.id;
  // Judgements: one with the prompt and answers (one of them with a NUL, which PostgreSQL cannot keep), two without.
  expect((await call(alice.key, 'POST', '/v1/arena/votes', { models: ['loop/a', 'loop/b'], winner: 'a', prompt: '哪条河最长？', answers: ['长江', 'nul \u0000 here'] })).status).toBe(201);
  expect((await call(bob.key, 'POST', '/v1/arena/votes', { models: ['loop/a', 'loop/c'], winner: 'tie' })).status).toBe(201);
  expect((await call(bob.key, 'POST', '/v1/arena/votes', { models: ['loop/b', 'loop/c'], winner: 'b' })).status).toBe(201);
  // A stored eval run with its results.
  const run = await call(alice.key, 'POST', '/v1/evals/runs', { suite: EVAL_SUITE, noCache: true });
  expect(run.status).toBe(202);
  ids.run = run.body.id;
  for (let i = 0; i < 200 && ['queued', 'running'].includes((await call(alice.key, 'GET', `/v1/evals/runs/${ids.run}`)).body.status); i++) await new Promise((r) => setTimeout(r, 50));
  expect((await call(alice.key, 'GET', `/v1/evals/runs/${ids.run}`)).body).toMatchObject({ status: 'completed', progress: { planned: 2, done: 2 } });
  // Four uploaded files (more than a page of 3), one with bytes no text encoding would keep.
  for (const [i, key] of [alice.key, bob.key, alice.key, bob.key].entries()) {
    const form = new FormData();
    form.set('purpose', 'user_data');
    form.set('file', new Blob([i === 0 ? new Uint8Array([0, 255, 10, 13, 0]) : `文件 ${i}`]), `doc-${i}.bin`);
    const r = await fetch(`${hub.url}/v1/files`, { method: 'POST', headers: { authorization: `Bearer ${key}` }, body: form });
    expect(r.status).toBe(200);
  }
  // A knowledge base (keyword only: no embedding model here): a batch ingested, a file's
  // attributes set, searched in Chinese and English; one more file uploaded, added below while
  // the hub is stopped, as a job it had claimed and not finished.
  ids.aliceKey = alice.key;
  ids.bobKey = bob.key;
  const sdk = new OpenAI({ baseURL: `${hub.url}/v1`, apiKey: alice.key, maxRetries: 0 });
  const vs = await sdk.vectorStores.create({ name: '河流', metadata: { team: 'geo' } });
  ids.store = vs.id;
  const batch = await sdk.vectorStores.fileBatches.uploadAndPoll(vs.id, { files: await Promise.all(KB_FILES.map(([name, text]) => toFile(Buffer.from(text), name))) });
  expect(batch.file_counts).toMatchObject({ completed: KB_FILES.length, total: KB_FILES.length });
  const first = (await sdk.vectorStores.files.list(vs.id, { order: 'asc' })).data[0]!;
  await sdk.vectorStores.files.update(first.id, { vector_store_id: vs.id, attributes: { lang: 'zh', year: 2024 } });
  for (const query of KB_QUERIES) {
    const page = await sdk.vectorStores.search(vs.id, { query });
    expect(page.data.length).toBeGreaterThan(1);
    embeddedResults.push(page.data.map((h) => ({ file: h.file_id, texts: h.content.map((c) => c.text) })));
  }
  ids.pending = (await sdk.files.create({ file: await toFile(Buffer.from('The Danube flows through Vienna and Budapest.'), 'danube.txt'), purpose: 'assistants' })).id;
}, 60_000);

afterAll(async () => {
  // A hub closes once: after the copy tests stopped it, only its directory is left to remove.
  if (hubClosed) rmSync(hub.dir, { recursive: true, force: true });
  else await hub?.dispose();
  await upstream?.close();
  for (const db of dbs) await db.drop();
});

describe('baimo migrate --from sqlite', () => {
  it('refuses while the hub holds the data directory, touching nothing', async () => {
    const db = await freshDatabase();
    const r = await migrateCli(['--from', 'sqlite', dataDir, '--database-url', db.url]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/^error: `baimo migrate --from sqlite` reads the hub's data directory, and a running hub holds it\. Another Baimo hub \(pid \d+\)/);
    const c = new pg.Client({ connectionString: db.url });
    await c.connect();
    expect((await c.query("SELECT to_regclass('baimo_schema_migrations') AS t")).rows[0].t).toBeNull();
    await c.end();
  });

  describe('after the hub stopped', () => {
    let db: TestDatabase;
    let src: SQLiteStores;
    let dst: PostgresStores;
    let first: Out;
    let second: Out;

    beforeAll(async () => {
      await hub.close();
      hubClosed = true;
      appendFileSync(join(dataDir, 'usage.journal'), `${JSON.stringify(JOURNALED)}\n`);
      // A file the stopped hub had claimed and not ingested: in_progress, its lease still running.
      const lite = openSQLiteStores(dataDir);
      const now = Date.now();
      await lite.vectorStores.addFiles([
        { vectorStoreId: ids.store, fileId: ids.pending, filename: 'danube.txt', keyId: ids.keys[0]!, createdAt: Math.floor(now / 1000), status: 'in_progress', lastError: null, attributes: { lang: 'en' }, chunking: { maxTokens: 800, overlapTokens: 400 }, usageBytes: 0, batchId: null },
      ]);
      expect((await lite.vectorStores.claim(now, now + 3_600_000, 10)).map((f) => f.fileId)).toEqual([ids.pending]);
      lite.close();
      db = await freshDatabase();
      first = await migrateCli(['--from', 'sqlite', dataDir, '--database-url', db.url]);
      // Read afterwards, so the copy saw the directory unlocked.
      src = openSQLiteStores(dataDir);
      dst = await openPostgresStores(db.url);
    }, 30_000);

    afterAll(async () => {
      src?.close();
      await dst?.close();
    });

    it('applies the schema, reports progress and a summary', () => {
      expect(first.code).toBe(0);
      // Progress on stderr: a line per table, usage as it goes (by tenths when not a terminal).
      expect(first.err).toMatch(/^copying teams \(1\)…\ncopying keys \(3\)…\ncopying usage \((\d+)\)…\n(  usage \d+\/\d+ \(\d+%\)\n)+copying request_bodies/);
      expect(first.err).toMatch(/usage (\d+)\/\1 \(100%\)/);
      expect(first.out).toContain(`schema version 0 → ${SCHEMA_VERSION}`);
      expect(first.out).toMatch(/usage\s+\d+ read\s+\d+ new/);
      expect(first.out).toContain('1 journaled record');
      expect(first.out).toMatch(new RegExp(`vector_stores\\s+1 read\\s+1 new`));
      expect(first.out).toMatch(new RegExp(`vector_store_files\\s+${KB_FILES.length + 1} read\\s+${KB_FILES.length + 1} new`));
      expect(first.out).toMatch(/knowledge_chunks\s+(\d+) read\s+\1 new/);
      // Keyword only: no vectors, and nothing said about pgvector.
      expect(first.out).toMatch(/knowledge_vectors\s+0 read\s+0 new/);
      expect(first.out).not.toContain('pgvector');
      expect(first.err).toContain('copying vector_store_files (5)…\n');
    });

    it('copies vector stores, their files (status, attributes, batches) and the chunk index as they are', async () => {
      const owner = ids.keys[0]!;
      expect(await dst.vectorStores.get(ids.store, owner)).toEqual(await src.vectorStores.get(ids.store, owner));
      const q = { limit: 100, order: 'asc' as const };
      const liteFiles = await src.vectorStores.listFiles(ids.store, q);
      expect(liteFiles.data).toHaveLength(KB_FILES.length + 1);
      expect(await dst.vectorStores.listFiles(ids.store, q)).toEqual(liteFiles);
      expect(liteFiles.data.find((f) => f.attributes !== null)!.attributes).toEqual({ lang: 'zh', year: 2024 });
      const batchId = liteFiles.data.find((f) => f.batchId !== null)!.batchId!;
      expect(await dst.vectorStores.getBatch(ids.store, batchId)).toEqual(await src.vectorStores.getBatch(ids.store, batchId));
      expect(await dst.vectorStores.batchCounts(batchId)).toEqual(await src.vectorStores.batchCounts(batchId));
      expect(await dst.vectorStores.counts([ids.store])).toEqual(await src.vectorStores.counts([ids.store]));
      for (const f of liteFiles.data) expect(await dst.knowledge.fileChunks(ids.store, f.fileId, undefined, 100)).toEqual(await src.knowledge.fileChunks(ids.store, f.fileId, undefined, 100));
      // The index answers a query the same way, through the port (scores differ: see the hub test below).
      const scope = { vectorStoreIds: [ids.store] };
      const order = (hits: { fileId: string; seq: number }[]) => hits.map((h) => `${h.fileId}:${h.seq}`);
      for (const terms of [['长江', '河流'], ['river', 'london']]) expect(order(await dst.knowledge.keyword(scope, terms, 10))).toEqual(order(await src.knowledge.keyword(scope, terms, 10)));
      // The claimed job goes as in_progress with no lease: the shared hubs' runners claim it at once.
      expect((await dst.vectorStores.getFile(ids.store, ids.pending))!.status).toBe('in_progress');
      expect((await dst.pool.query('SELECT lease_until FROM vector_store_files WHERE file_id = $1', [ids.pending])).rows[0].lease_until).toBe(0);
    });

    it('copies settings, teams and keys as they are (hashes included)', async () => {
      expect(await dst.tenancy.getSetting('admin_key_hash')).toBe(await src.tenancy.getSetting('admin_key_hash'));
      expect(await dst.tenancy.getSetting('admin_key_hash')).toBeTruthy();
      const byId = <T extends { id: string }>(xs: T[]) => [...xs].sort((a, b) => a.id.localeCompare(b.id));
      expect(byId(await dst.tenancy.teams())).toEqual(byId(await src.tenancy.teams()));
      const keys = await dst.tenancy.keys();
      expect(byId(keys)).toEqual(byId(await src.tenancy.keys()));
      expect(keys.map((k) => k.id).sort()).toEqual([...ids.keys].sort());
      expect(keys.find((k) => k.id === ids.keys[2])!.revokedAt).toBeGreaterThan(0);
    });

    it('copies every usage record in order, and rebuilds hourly totals equal to SQLite', async () => {
      const strip = (rows: object[]) => rows.map(({ id: _id, ...rest }: any) => rest);
      const pgLog = await dst.usage.requests({ limit: 1000 });
      const liteLog = await src.usage.requests({ limit: 1000 });
      expect(liteLog.length).toBeGreaterThanOrEqual(8);
      // The journaled record comes last, so it is the newest in the log; the rest in SQLite's order.
      expect(pgLog[0]!.request_id).toBe(JOURNALED.requestId);
      expect(strip(pgLog.slice(1))).toEqual(strip(liteLog));
      // Failed attempts are not in the log: read by request id.
      const flaky = liteLog.find((r) => r.model === 'flaky')!.request_id;
      const flakyPg = await dst.usage.requestRecords(flaky);
      expect(flakyPg.map((r) => [r.attempt, r.final])).toEqual([[1, 0], [2, 1]]);
      expect(strip(flakyPg)).toEqual(strip(await src.usage.requestRecords(flaky)));

      const q = { from: 0, to: FAR, groupBy: ['key', 'team', 'model', 'provider', 'deployment', 'status'] as const, includeAttempts: true, limit: 1000 };
      const lite = await src.usage.totals({ ...q, groupBy: [...q.groupBy] });
      const pgTotals = (await dst.usage.totals({ ...q, groupBy: [...q.groupBy] })).filter((r) => r.model !== 'journal/only');
      expect(pgTotals.length).toBe(lite.length);
      for (let i = 0; i < lite.length; i++) {
        const a = lite[i]!;
        const b = pgTotals[i]!;
        for (const k of ['key', 'team', 'model', 'provider', 'deployment', 'status', 'requests', 'errors', 'input_tokens', 'output_tokens', 'reasoning_tokens']) expect([k, b[k]]).toEqual([k, a[k]]);
        expect(b.cost_usd as number).toBeCloseTo(a.cost_usd as number, 9);
        expect(b.avg_latency_ms as number).toBeCloseTo(a.avg_latency_ms as number, 6);
      }
      const [journaled] = await dst.usage.totals({ from: 0, to: FAR, groupBy: [], includeAttempts: false, limit: 10, model: 'journal/only' });
      expect(journaled).toMatchObject({ requests: 1, input_tokens: 7, output_tokens: 3, cost_usd: 0.25 });
      // Budgets read spend the same way after the move.
      for (const id of ids.keys) expect(await dst.tenancy.spend('key', id, 0)).toBeCloseTo(src.tenancy.spendOf('key', id, 0), 9);
      expect(await dst.tenancy.spend('team', ids.team, 0)).toBeGreaterThan(0);
      expect(await dst.tenancy.spend('team', ids.team, 0)).toBeCloseTo(src.tenancy.spendOf('team', ids.team, 0), 9);
    });

    it('copies captured bodies and traces', async () => {
      for (const id of ids.captured) {
        const b = await src.usage.bodies(id);
        expect(b).toBeTruthy();
        expect(await dst.usage.bodies(id)).toEqual(b);
      }
      const trace = await src.usage.trace(ids.moa);
      expect(trace).toMatchObject({ steps: expect.any(Array) });
      expect(await dst.usage.trace(ids.moa)).toEqual(trace);
    });

    it('copies stored responses with their items', async () => {
      const lite = await src.responses.load(ids.response);
      expect(lite).toBeTruthy();
      expect(await dst.responses.load(ids.response)).toEqual(lite);
      const page = { limit: 100, order: 'asc' as const };
      const items = await src.responses.inputItems(ids.response, page);
      expect(items!.data.length).toBeGreaterThan(0);
      expect(await dst.responses.inputItems(ids.response, page)).toEqual(items);
      const output = (lite!.response as { output: { id: string }[] }).output[0]!;
      expect(await dst.responses.findItem(output.id, lite!.keyId ?? undefined)).toEqual(await src.responses.findItem(output.id, lite!.keyId ?? undefined));
    });

    it('copies eval runs with their results, and the judgements in the order cast', async () => {
      const run = await src.evalRuns.get(ids.run, undefined);
      expect(run).toMatchObject({ status: 'completed', done: 2, failures: 1 });
      expect(await dst.evalRuns.get(ids.run, ids.keys[0])).toEqual(run);
      expect(await dst.evalRuns.list({ owner: undefined, limit: 10 })).toEqual(await src.evalRuns.list({ owner: undefined, limit: 10 }));
      const results = await src.evalRuns.results(ids.run, { limit: 100 });
      expect(results.data.map((c) => c.success)).toEqual([true, false]);
      expect(await dst.evalRuns.results(ids.run, { limit: 100 })).toEqual(results);

      const outcomes = await src.judgements.judgementOutcomes();
      expect(outcomes).toHaveLength(3);
      expect(await dst.judgements.judgementOutcomes()).toEqual(outcomes);
      const lite = (await src.judgements.listJudgements({ owner: undefined, limit: 10 })).data;
      const copied = (await dst.judgements.listJudgements({ owner: undefined, limit: 10 })).data;
      // As they were, but for the NUL PostgreSQL cannot hold.
      expect(copied).toEqual(lite.map((j) => ({ ...j, answerB: j.answerB?.replace('\u0000', '\uFFFD') ?? null })));
      expect(copied[2]).toMatchObject({ keyId: ids.keys[0], prompt: '哪条河最长？', answerA: '长江', answerB: 'nul \uFFFD here' });
    });

    it('votes an older Baimo copied before both stores were upgraded are not copied again', async () => {
      const old = await freshDatabase();
      const c = new pg.Client({ connectionString: old.url });
      await c.connect();
      try {
        // The database as the older `baimo migrate --from sqlite` left it: arena_votes, no judgements table.
        const v = PG_MIGRATIONS.findIndex((m) => m.includes('CREATE TABLE eval_judgements'));
        await c.query('CREATE TABLE baimo_schema_migrations (version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())');
        for (let i = 0; i < v; i++) {
          await c.query(PG_MIGRATIONS[i]!);
          await c.query('INSERT INTO baimo_schema_migrations (version) VALUES ($1)', [i + 1]);
        }
        // Two of the three were cast without texts, as every vote before the upgrade was.
        const votes = src.evalRuns.exportJudgements(0, 100);
        for (const j of votes.filter((x) => x.prompt === null)) {
          await c.query('INSERT INTO arena_votes (ts, model_a, model_b, winner, key_id) VALUES ($1, $2, $3, $4, $5)', [j.ts, j.model_a, j.model_b, j.winner, j.key_id]);
        }
      } finally {
        await c.end();
      }
      const upgraded = await openPostgresStores(old.url);
      try {
        const copied = await copyFromSQLite(src, upgraded);
        expect(copied.find((t) => t.table === 'eval_judgements')).toEqual({ table: 'eval_judgements', read: 3, added: 1 });
        expect((await upgraded.judgements.judgementOutcomes()).length).toBe(3);
      } finally {
        await upgraded.close();
      }
    });

    it('copies uploaded files, bytes and owner as they were', async () => {
      const page = await src.files.list({ owner: undefined, order: 'asc', limit: 100 });
      // Four uploads, the knowledge base's files and the one left in progress.
      expect(page.data).toHaveLength(4 + KB_FILES.length + 1);
      expect((await dst.files.list({ owner: undefined, order: 'asc', limit: 100 })).data).toEqual(page.data);
      for (const f of page.data) {
        expect(await dst.files.content(f.id, f.keyId ?? undefined)).toEqual(await src.files.content(f.id, undefined));
      }
    });

    it('copies page by page: small pages give the same rows as one page', async () => {
      const paged = await openPostgresStores((await freshDatabase()).url);
      try {
        const seen: string[] = [];
        const copied = await copyFromSQLite(src, paged, { chunk: 3, progress: (e) => seen.push(`${e.table} ${e.done}/${e.total}`) });
        const rows = src.usage.exportCounts().usage;
        expect(rows).toBeGreaterThan(6);
        expect(seen).toContain(`usage 3/${rows}`);
        expect(seen).toContain(`usage ${rows}/${rows}`);
        const byTable = Object.fromEntries(copied.map((c) => [c.table, c]));
        for (const t of ['teams', 'keys', 'usage', 'request_bodies', 'request_traces', 'responses', 'response_items', 'eval_runs', 'eval_results', 'eval_judgements', 'files']) {
          const n = (await dst.pool.query(`SELECT COUNT(*) AS n FROM ${t}`)).rows[0].n - (t === 'usage' ? 1 : 0); // less the journaled record
          expect([t, byTable[t]!.read, byTable[t]!.added]).toEqual([t, n, n]);
        }
        for (const t of ['vector_stores', 'vector_store_file_batches', 'vector_store_files', 'knowledge_chunks']) {
          const n = (await paged.pool.query(`SELECT COUNT(*) AS n FROM ${t}`)).rows[0].n;
          expect(n).toBeGreaterThan(0);
          expect([t, byTable[t]!.read, byTable[t]!.added]).toEqual([t, n, n]);
        }
        expect(seen).toContain('vector_store_files 3/5');
        const strip = (rows: object[]) => rows.map(({ id: _id, ...rest }: any) => rest);
        expect(strip(await paged.usage.requests({ limit: 1000 }))).toEqual(strip(await src.usage.requests({ limit: 1000 })));
      } finally {
        await paged.close();
      }
    });

    it('a hub on PostgreSQL searches the copied store with the same results, and ingests the job left in progress', async () => {
      const shared = await startSharedTestHub('', { databaseUrl: db.url }, { BAIMO_AUTH: 'required' });
      try {
        const sdk = new OpenAI({ baseURL: `${shared.url}/v1`, apiKey: ids.aliceKey, maxRetries: 0 });
        for (const [i, query] of KB_QUERIES.entries()) {
          const page = await sdk.vectorStores.search(ids.store, { query });
          // Same files in the same order, same passages (BM25's idf differs between the backends, so scores may not).
          expect(page.data.map((h) => ({ file: h.file_id, texts: h.content.map((c) => c.text) }))).toEqual(embeddedResults[i]);
        }
        const filtered = await sdk.vectorStores.search(ids.store, { query: KB_QUERIES[0]!, filters: { type: 'eq', key: 'lang', value: 'zh' } });
        expect(filtered.data.map((h) => h.attributes)).toEqual([{ lang: 'zh', year: 2024 }]);
        // The job the embedded hub held: picked up by this hub's runner, ingested, then searchable.
        const end = Date.now() + 20_000;
        let file = await sdk.vectorStores.files.retrieve(ids.pending, { vector_store_id: ids.store });
        while (file.status === 'in_progress' && Date.now() < end) {
          await new Promise((r) => setTimeout(r, 100));
          file = await sdk.vectorStores.files.retrieve(ids.pending, { vector_store_id: ids.store });
        }
        expect(file.status).toBe('completed');
        const danube = await sdk.vectorStores.search(ids.store, { query: 'Danube Vienna' });
        expect(danube.data[0]).toMatchObject({ file_id: ids.pending, filename: 'danube.txt', attributes: { lang: 'en' } });
        // Another key does not see it.
        const bob = new OpenAI({ baseURL: `${shared.url}/v1`, apiKey: ids.bobKey, maxRetries: 0 });
        await expect(bob.vectorStores.search(ids.store, { query: 'river' })).rejects.toMatchObject({ status: 404 });
      } finally {
        await shared.dispose();
      }
    }, 60_000);

    it('run again, doubles nothing', async () => {
      const tables = ['settings', 'teams', 'keys', 'usage', 'usage_hourly', 'request_bodies', 'request_traces', 'responses', 'response_items', 'eval_runs', 'eval_results', 'eval_judgements', 'files',
        'vector_stores', 'vector_store_file_batches', 'vector_store_files', 'knowledge_chunks', 'knowledge_index_stats'];
      const counts = async () => {
        const out: Record<string, number> = {};
        for (const t of tables) out[t] = (await dst.pool.query(`SELECT COUNT(*) AS n FROM ${t}`)).rows[0].n;
        return out;
      };
      const hourly = async () => (await dst.pool.query('SELECT * FROM usage_hourly ORDER BY hour, key_id, team_id, model, provider, deployment, status, final')).rows;
      const before = await counts();
      const totalsBefore = await hourly();
      src.close();
      second = await migrateCli(['--from', 'sqlite', dataDir], { BAIMO_DATABASE_URL: db.url });
      src = openSQLiteStores(dataDir);
      expect(second.code).toBe(0);
      expect(second.out).toContain(`schema version ${SCHEMA_VERSION}, up to date`);
      expect(second.out).toContain('Nothing was new');
      expect(second.out).not.toMatch(/ [1-9]\d* new/);
      expect(await counts()).toEqual(before);
      expect(await hourly()).toEqual(totalsBefore);
      expect(before.usage).toBeGreaterThanOrEqual(10);
    }, 30_000);
  });
});

describe('baimo migrate', () => {
  it('applies the migrations once; a second run has nothing to do', async () => {
    const db = await freshDatabase();
    const a = await spawnCli(['migrate', '--database-url', db.url]);
    expect(a).toMatchObject({ code: 0, err: '' });
    expect(a.out).toContain(`schema version 0 → ${SCHEMA_VERSION} (${SCHEMA_VERSION} migrations applied)`);
    const b = await migrateCli([], { BAIMO_DATABASE_URL: db.url });
    expect(b).toMatchObject({ code: 0, err: '' });
    expect(b.out).toContain(`schema version ${SCHEMA_VERSION}, up to date`);
  }, 30_000);

  it('refuses a database a newer Baimo wrote, changing nothing', async () => {
    const db = await freshDatabase();
    expect((await migrateCli(['--database-url', db.url])).code).toBe(0);
    const c = new pg.Client({ connectionString: db.url });
    await c.connect();
    await c.query('INSERT INTO baimo_schema_migrations (version) VALUES ($1)', [SCHEMA_VERSION + 1]);
    const r = await migrateCli(['--database-url', db.url]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(new RegExp(`^error: The database .* has schema version ${SCHEMA_VERSION + 1}, newer than this Baimo's \\(${SCHEMA_VERSION}\\)`));
    expect(r.err.trimEnd().split('\n')).toHaveLength(1);
    expect((await c.query('SELECT max(version) AS v FROM baimo_schema_migrations')).rows[0].v).toBe(SCHEMA_VERSION + 1);
    await c.end();
  });

  it('an unreachable server: exit 1, one line, the password never shown', async () => {
    const secret = 'hunter2-very-secret';
    const r = await spawnCli(['migrate', '--database-url', `postgres://baimo:${secret}@127.0.0.1:1/baimo`]);
    expect(r.code).toBe(1);
    expect(r.out).toBe('');
    expect(r.err).toMatch(/^error: cannot reach PostgreSQL at postgres:\/\/baimo:\*\*\*@127\.0\.0\.1:1\/baimo: .*ECONNREFUSED/);
    expect(r.err.trimEnd().split('\n')).toHaveLength(1);
    expect(r.err + r.out).not.toContain(secret);
    const env = await migrateCli(['--from', 'sqlite', dataDir], { BAIMO_DATABASE_URL: `postgresql://baimo:${secret}@127.0.0.1:1/baimo` });
    expect(env.code).toBe(1);
    expect(env.err).not.toContain(secret);
  }, 30_000);

  it('a missing or mistyped URL, a directory that is not a data directory: exit 1, said plainly', async () => {
    expect((await migrateCli([])).err).toBe('error: no database: pass --database-url postgres://… or set BAIMO_DATABASE_URL.\n');
    const typo = await migrateCli(['--database-url', 'mysql://root:pw-secret@db/x']);
    expect(typo).toMatchObject({ code: 1 });
    expect(typo.err).toContain('a mysql: one, not PostgreSQL');
    expect(typo.err).not.toContain('pw-secret');
    const notDir = await migrateCli(['--from', 'sqlite', join(hub.dir, 'nope'), '--database-url', 'postgres://postgres@127.0.0.1:1/x']);
    expect(notDir).toMatchObject({ code: 1, err: `error: ${join(hub.dir, 'nope')} is not a Baimo data directory: it holds no baimo.db.\n` });
    expect((await migrateCli(['--from', 'mysql', dataDir, '--database-url', 'postgres://postgres@127.0.0.1:1/x'])).err).toContain('the only source is sqlite');
  });
});

describe('baimo migrate --from sqlite: a vector store with vectors', () => {
  // Built through the embedded store's ports as ingestion leaves it: a store with an embedding
  // model whose chunks carry the loopback upstream's embeddings, and a keyword-only store beside it.
  let dir: string;
  let lite: SQLiteStores;
  const now = Math.floor(Date.now() / 1000);
  const DOCS: Record<string, string[]> = {
    'file-v1': ['长江是中国最长的河流。', '长江流域的城市有重庆和武汉。'],
    'file-v2': ['The Thames flows through London.', 'Salmon returned to the river.'],
    'file-v3': ['黄河是中国第二长的河流。'],
  };
  const vectors = new Map<string, Float32Array>();

  async function embed(texts: string[]): Promise<Float32Array[]> {
    const res = await fetch(`${upstream.baseURL}/embeddings`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: 'Bearer x' }, body: JSON.stringify({ model: 'emb', input: texts, dimensions: 8 }) });
    expect(res.status).toBe(200);
    return ((await res.json()) as { data: { embedding: number[] }[] }).data.map((d) => new Float32Array(d.embedding));
  }

  const store = (id: string, embeddingModel: string | null): VectorStoreRow => ({ id, keyId: null, name: id, metadata: null, createdAt: now, lastActiveAt: now, expiresAfterDays: null, expiresAt: null, embeddingModel, contextualHeaders: false });
  const file = (vectorStoreId: string, fileId: string): VectorStoreFileRow => ({ vectorStoreId, fileId, filename: `${fileId}.txt`, keyId: null, createdAt: now, status: 'in_progress', lastError: null, attributes: null, chunking: { maxTokens: 800, overlapTokens: 400 }, usageBytes: 0, batchId: null });
  const chunksOf = (fileId: string): ChunkInput[] => DOCS[fileId]!.map((text, seq) => ({ seq, text, terms: indexTerms(text), tokens: text.length, ...(vectors.has(text) && { vector: vectors.get(text)! }) }));

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'baimo-kbvec-'));
    lite = openSQLiteStores(dir);
    const texts = Object.values(DOCS).flat();
    (await embed(texts)).forEach((v, i) => vectors.set(texts[i]!, v));
    await lite.vectorStores.create(store('vs_vec', 'loop/emb'), Object.keys(DOCS).map((f) => file('vs_vec', f)));
    await lite.vectorStores.create(store('vs_kw', null), [file('vs_kw', 'file-k1'), { ...file('vs_kw', 'file-bad'), attributes: { note: '长江 "quoted" \\ end', n: 1.5, ok: true } }]);
    DOCS['file-k1'] = ['Keyword only: the Danube flows through Vienna.'];
    const jobs = await lite.vectorStores.claim(Date.now(), Date.now() + 60_000, 10);
    expect(jobs).toHaveLength(5);
    // A failure whose message holds a NUL (PostgreSQL text cannot).
    expect(await lite.vectorStores.finish('vs_kw', 'file-bad', { status: 'failed', error: { code: 'invalid_file', message: 'bad \u0000 byte' } })).toBe(true);
    for (const j of jobs.filter((f) => f.fileId !== 'file-bad')) {
      await lite.knowledge.replaceFile(j.vectorStoreId, j.fileId, j.vectorStoreId === 'vs_kw' ? chunksOf(j.fileId).map(({ vector: _v, ...c }) => c) : chunksOf(j.fileId));
      await lite.vectorStores.finish(j.vectorStoreId, j.fileId, { status: 'completed', usageBytes: 10 });
    }
  }, 30_000);

  afterAll(() => {
    lite?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const order = (hits: { vectorStoreId: string; fileId: string; seq: number }[]) => hits.map((h) => `${h.vectorStoreId}/${h.fileId}:${h.seq}`);
  const scope = { vectorStoreIds: ['vs_vec', 'vs_kw'] };

  it('reads back what ingestion wrote: words, tokens and vectors', () => {
    expect(lite.knowledge.exportChunks('vs_vec', 'file-v1')).toEqual(chunksOf('file-v1'));
    expect(lite.knowledge.exportChunks('vs_kw', 'file-k1')).toEqual(chunksOf('file-k1').map(({ vector: _v, ...c }) => c));
    expect(lite.knowledge.exportChunks('vs_kw', 'file-none')).toEqual([]);
  });

  it('without pgvector (this PostgreSQL): the keyword index is copied, the stores left without vectors named in one line; a rerun adds nothing', async () => {
    const db = await freshDatabase();
    // Rows of a store deleted by hand with foreign keys off: read, left out, no failure.
    lite.db.pragma('foreign_keys = OFF');
    lite.db.prepare(`INSERT INTO vector_store_file_batches (id, vector_store_id, created_at, cancelled_at) VALUES ('vsfb_orphan', 'vs_gone', 1, NULL)`).run();
    await lite.vectorStores.addFiles([file('vs_gone', 'file-orphan')]);
    lite.db.pragma('foreign_keys = ON');
    lite.close();
    try {
      const first = await migrateCli(['--from', 'sqlite', dir, '--database-url', db.url]);
      expect(first.code).toBe(0);
      expect(first.out).toMatch(/vector_store_file_batches\s+1 read\s+0 new/);
      expect(first.out).toMatch(/vector_store_files\s+6 read\s+5 new/);
      expect(first.out).toMatch(/knowledge_chunks\s+6 read\s+6 new/);
      expect(first.out).toMatch(/knowledge_vectors\s+5 read\s+0 new/);
      const notes = first.out.split('\n').filter((l) => l.startsWith('Not copied:'));
      expect(notes).toHaveLength(1);
      expect(notes[0]).toMatch(/^Not copied: the vectors of 1 vector store\(s\) \(vs_vec\) were not copied: this PostgreSQL has no usable pgvector extension \("vector"\).*install pgvector and run this again/);
      const again = await migrateCli(['--from', 'sqlite', dir, '--database-url', db.url]);
      expect(again.code).toBe(0);
      expect(again.out).toContain('Nothing was new');
      expect(again.out).toContain('Not copied: the vectors of 1 vector store(s) (vs_vec)');
    } finally {
      lite = openSQLiteStores(dir);
    }
    const dst = await openPostgresStores(db.url, { poolSize: 1 });
    try {
      for (const q of ['中国最长的河流', 'river London', 'Danube']) expect(order(await dst.knowledge.keyword(scope, queryTerms(q), 10))).toEqual(order(await lite.knowledge.keyword(scope, queryTerms(q), 10)));
      await expect(dst.knowledge.nearest(scope, vectors.get(DOCS['file-v2']![0]!)!, 3)).rejects.toBeInstanceOf(VectorsUnavailableError);
      expect(await dst.vectorStores.get('vs_vec', undefined)).toMatchObject({ embeddingModel: 'loop/emb' });
      expect(await dst.vectorStores.getFile('vs_kw', 'file-bad')).toEqual({ ...(await lite.vectorStores.getFile('vs_kw', 'file-bad')), lastError: { code: 'invalid_file', message: 'bad \uFFFD byte' } });
      expect((await dst.vectorStores.getFile('vs_kw', 'file-bad'))!.attributes).toEqual({ note: '长江 "quoted" \\ end', n: 1.5, ok: true });
      expect(await dst.vectorStores.counts(['vs_vec', 'vs_kw'])).toEqual(await lite.vectorStores.counts(['vs_vec', 'vs_kw']));
    } finally {
      await dst.close();
    }
  }, 60_000);

  it('with pgvector (PGlite): vectors copied, the same nearest neighbours; a file copied without them gets them; a rerun copies nothing', async () => {
    const server = await startPGlite();
    const dst = await openPostgresStores(server.url, { poolSize: 1 });
    try {
      // As a run without pgvector left it: one file's keyword index, no vectors.
      await dst.knowledge.replaceFile('vs_vec', 'file-v2', chunksOf('file-v2').map(({ vector: _v, ...c }) => c));
      const copied = Object.fromEntries((await copyFromSQLite(lite, dst, { chunk: 2 })).map((c) => [c.table, c]));
      expect(copied.knowledge_chunks).toMatchObject({ read: 6, added: 4 });
      expect(copied.knowledge_vectors).toMatchObject({ read: 5, added: 5 });
      expect(copied.knowledge_vectors!.note).toBeUndefined();
      expect((await dst.pool.query('SELECT count(*)::int AS n FROM knowledge_vectors')).rows[0].n).toBe(5);
      for (const text of Object.values(DOCS).flat()) {
        const q = vectors.get(text) ?? (await embed([text]))[0]!;
        const pgHits = await dst.knowledge.nearest(scope, q, 5);
        expect(order(pgHits)).toEqual(order(await lite.knowledge.nearest(scope, q, 5)));
        if (vectors.has(text)) expect(pgHits[0]!.text).toBe(text);
      }
      for (const q of ['中国最长的河流', 'river London']) expect(order(await dst.knowledge.keyword(scope, queryTerms(q), 10))).toEqual(order(await lite.knowledge.keyword(scope, queryTerms(q), 10)));
      const again = await copyFromSQLite(lite, dst);
      expect(again.filter((c) => c.added > 0)).toEqual([]);
      expect(again.every((c) => c.note === undefined)).toBe(true);
    } finally {
      await dst.close();
      await server.close();
    }
  }, 90_000);
});
