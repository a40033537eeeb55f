/**
 * OpenAI's Vector Stores API on the hub, driven by the official `openai` SDK as an app would:
 * files uploaded and ingested in the background (uploadAndPoll), searched in Chinese and English,
 * with attribute filters, result limits and score thresholds; a corrupt file failing with its
 * reason; each key seeing only its own stores; the requests a hostile client sends. Once on the
 * embedded store, once on PostgreSQL. Keyword search only here (no embedding model configured);
 * test/vector-stores-models.test.ts covers vectors, hybrid and rerank through a loopback upstream.
 */
import OpenAI, { toFile } from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSharedTestHub, startTestHub } from './helpers/hub.js';
import type { TestHub } from './helpers/hub.js';
import { createKey } from './helpers/keys.js';
import { createTestDatabase } from './helpers/pg.js';
import type { TestDatabase } from './helpers/pg.js';

const ADMIN = 'sk-baimo-admin-test-0000000000000000';
const YAML = 'server:\n  maxBodyBytes: 1048576\n';
const ENV = { BAIMO_AUTH: 'required', BAIMO_ADMIN_KEY: ADMIN };

export const ZH = '长江是中国最长的河流，全长约六千三百公里。\n\n长江流域人口众多，沿岸城市有重庆、武汉、南京和上海。';
export const ZH_HEALTH = '健康饮食需要多吃蔬菜和水果，每天适量运动也有益健康。';
export const EN = 'The Thames flows through London to the North Sea.\n\nSalmon returned to the river in the 1970s after the water was cleaned.';
/** Looks like a PDF by its name and first bytes, and is not one. */
const CORRUPT_PDF = Buffer.from('%PDF-1.7\n1 0 obj << /Type /Catalog >>\nthis is not a PDF body at all');

function suite(name: string, start: () => Promise<TestHub<any>>, stop: () => Promise<void> = async () => undefined) {
  describe(name, () => {
    let hub: TestHub<any>;
    let keyA: string;
    let keyB: string;
    const client = (key: string) => new OpenAI({ baseURL: `${hub.url}/v1`, apiKey: key, maxRetries: 0 });

    const newKey = async () => (await createKey(hub.url, ADMIN, { name: 'kb' })).key;

    /** A raw request, for bodies the SDK would never send. */
    async function raw(key: string, method: string, path: string, body?: unknown) {
      const res = await fetch(`${hub.url}/v1/vector_stores${path}`, {
        method,
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        ...(body !== undefined && { body: typeof body === 'string' ? body : JSON.stringify(body) }),
      });
      return { status: res.status, body: (await res.json()) as { error: { message: string; type: string; param: string | null; code: string | null } } };
    }

    beforeAll(async () => {
      hub = await start();
      keyA = await newKey();
      keyB = await newKey();
    });

    afterAll(async () => {
      await hub?.dispose();
      await stop();
    });

    let storeId: string;

    it('ingests uploaded files in the background (uploadAndPoll) and counts them', async () => {
      const a = client(keyA);
      const vs = await a.vectorStores.create({ name: '知识库', metadata: { team: 'docs' } });
      expect(vs).toMatchObject({ object: 'vector_store', name: '知识库', status: 'completed', metadata: { team: 'docs' }, usage_bytes: 0, file_counts: { total: 0 } });
      expect(vs.id).toMatch(/^vs_/);
      storeId = vs.id;
      const batch = await a.vectorStores.fileBatches.uploadAndPoll(vs.id, {
        files: [await toFile(Buffer.from(ZH), 'changjiang.txt'), await toFile(Buffer.from(EN), 'thames.md'), await toFile(Buffer.from(ZH_HEALTH), 'health.txt')],
      });
      expect(batch).toMatchObject({ object: 'vector_store.files_batch', vector_store_id: vs.id, status: 'completed', file_counts: { in_progress: 0, completed: 3, failed: 0, cancelled: 0, total: 3 } });
      const files = await a.vectorStores.files.list(vs.id);
      expect(files.data.map((f) => f.status)).toEqual(['completed', 'completed', 'completed']);
      expect(files.data.every((f) => f.usage_bytes > 0 && f.last_error === null)).toBe(true);
      expect(files.data[0]!.chunking_strategy).toEqual({ type: 'static', static: { max_chunk_size_tokens: 800, chunk_overlap_tokens: 400 } });
      const after = await a.vectorStores.retrieve(vs.id);
      expect(after.file_counts).toEqual({ in_progress: 0, completed: 3, failed: 0, cancelled: 0, total: 3 });
      expect(after.usage_bytes).toBe(files.data.reduce((n, f) => n + f.usage_bytes, 0));
      // The parsed chunks of a file.
      const zh = files.data[0]!;
      const content = await a.vectorStores.files.content(zh.id, { vector_store_id: vs.id });
      expect(content.data.length).toBeGreaterThan(0);
      expect(content.data.every((c) => c.type === 'text' && typeof c.text === 'string')).toBe(true);
    });

    it('finds a two-character Chinese word inside longer text, and English by its words', async () => {
      const a = client(keyA);
      const zh = await a.vectorStores.search(storeId, { query: '长江' });
      expect(zh.data.length).toBeGreaterThan(0);
      expect(zh.data[0]).toMatchObject({ filename: 'changjiang.txt' });
      expect(zh.data[0]!.content[0]!.text).toContain('长江');
      expect(zh.data.every((r) => r.filename === 'changjiang.txt')).toBe(true);
      expect(zh.data[0]!.score).toBe(1);
      expect((zh as unknown as { body: { search_query: string[] } }).body.search_query).toEqual(['长江']);

      const en = await a.vectorStores.search(storeId, { query: 'salmon in London' });
      expect(en.data[0]).toMatchObject({ filename: 'thames.md' });
      expect(en.data.every((r) => r.score > 0 && r.score <= 1)).toBe(true);

      const none = await a.vectorStores.search(storeId, { query: 'kangaroo' });
      expect(none.data).toEqual([]);
    });

    it('filters by attributes, limits results, and drops those under the score threshold', async () => {
      const a = client(keyA);
      const files = (await a.vectorStores.files.list(storeId)).data;
      const byName = new Map<string, string>();
      for (const f of files) byName.set((await a.files.retrieve(f.id)).filename, f.id);
      await a.vectorStores.files.update(byName.get('changjiang.txt')!, { vector_store_id: storeId, attributes: { lang: 'zh', year: 2020, river: true } });
      await a.vectorStores.files.update(byName.get('health.txt')!, { vector_store_id: storeId, attributes: { lang: 'zh', year: 2024 } });
      const updated = await a.vectorStores.files.update(byName.get('thames.md')!, { vector_store_id: storeId, attributes: { lang: 'en', year: 2021, river: true } });
      expect(updated.attributes).toEqual({ lang: 'en', year: 2021, river: true });

      // A query with words of all three files.
      const q = '长江 健康 Thames';
      const all = await a.vectorStores.search(storeId, { query: q });
      expect(new Set(all.data.map((r) => r.filename))).toEqual(new Set(['changjiang.txt', 'health.txt', 'thames.md']));
      const en = await a.vectorStores.search(storeId, { query: q, filters: { type: 'eq', key: 'lang', value: 'en' } });
      expect(en.data.map((r) => r.filename)).toEqual(['thames.md']);
      expect(en.data[0]!.attributes).toEqual({ lang: 'en', year: 2021, river: true });
      const rivers = await a.vectorStores.search(storeId, { query: q, filters: { type: 'and', filters: [{ type: 'eq', key: 'river', value: true }, { type: 'lt', key: 'year', value: 2021 }] } });
      expect(rivers.data.map((r) => r.filename)).toEqual(['changjiang.txt']);
      const notZh = await a.vectorStores.search(storeId, { query: q, filters: { type: 'nin', key: 'lang', value: ['zh'] } });
      expect(notZh.data.map((r) => r.filename)).toEqual(['thames.md']);

      const one = await a.vectorStores.search(storeId, { query: q, max_num_results: 1 });
      expect(one.data).toHaveLength(1);
      // A two-word query: the file with both words scores 1, one with a single word less.
      const two = await a.vectorStores.search(storeId, { query: '长江 健康' });
      expect(two.data.length).toBeGreaterThan(1);
      const top = await a.vectorStores.search(storeId, { query: '长江 健康', ranking_options: { score_threshold: 0.999 } });
      expect(top.data.length).toBeLessThan(two.data.length);
      expect(top.data.every((r) => r.score >= 0.999)).toBe(true);
    });

    it('marks a corrupt PDF failed with its reason, and counts it', async () => {
      const a = client(keyA);
      const vs = await a.vectorStores.create({ name: 'mixed' });
      const batch = await a.vectorStores.fileBatches.uploadAndPoll(vs.id, { files: [await toFile(CORRUPT_PDF, 'broken.pdf'), await toFile(Buffer.from(EN), 'ok.txt')] });
      expect(batch.file_counts).toEqual({ in_progress: 0, completed: 1, failed: 1, cancelled: 0, total: 2 });
      const failed = await a.vectorStores.files.list(vs.id, { filter: 'failed' });
      expect(failed.data).toHaveLength(1);
      expect(failed.data[0]!.status).toBe('failed');
      expect(failed.data[0]!.last_error?.code).toBe('invalid_file');
      expect(failed.data[0]!.last_error?.message.length).toBeGreaterThan(0);
      expect((await a.vectorStores.retrieve(vs.id)).file_counts).toEqual({ in_progress: 0, completed: 1, failed: 1, cancelled: 0, total: 2 });
      const unsupported = await a.vectorStores.files.createAndPoll(vs.id, { file_id: (await a.files.create({ file: await toFile(Buffer.from([0, 1, 2, 3, 0xff]), 'blob.exe'), purpose: 'assistants' })).id });
      expect(unsupported.status).toBe('failed');
      expect(unsupported.last_error?.code).toBe('unsupported_file');
    });

    it('adds a file with attributes and static chunking, removes it from the store (not from Files), and deletes the store', async () => {
      const a = client(keyA);
      const f = await a.files.create({ file: await toFile(Buffer.from(ZH), 'again.txt'), purpose: 'assistants' });
      const vs = await a.vectorStores.create({ name: 'tmp', file_ids: [f.id], chunking_strategy: { type: 'static', static: { max_chunk_size_tokens: 100, chunk_overlap_tokens: 50 } } });
      expect(vs.file_counts.total).toBe(1);
      const done = await a.vectorStores.files.poll(vs.id, f.id);
      expect(done.status).toBe('completed');
      expect(done.chunking_strategy).toEqual({ type: 'static', static: { max_chunk_size_tokens: 100, chunk_overlap_tokens: 50 } });
      expect((await a.vectorStores.search(vs.id, { query: '长江' })).data.length).toBeGreaterThan(0);

      const deleted = await a.vectorStores.files.delete(f.id, { vector_store_id: vs.id });
      expect(deleted).toEqual({ id: f.id, object: 'vector_store.file.deleted', deleted: true });
      expect((await a.vectorStores.search(vs.id, { query: '长江' })).data).toEqual([]);
      expect((await a.files.retrieve(f.id)).id).toBe(f.id);
      await expect(a.vectorStores.files.retrieve(f.id, { vector_store_id: vs.id })).rejects.toBeInstanceOf(OpenAI.NotFoundError);

      const withAttrs = await a.vectorStores.files.createAndPoll(vs.id, { file_id: f.id, attributes: { lang: 'zh' } });
      expect(withAttrs).toMatchObject({ status: 'completed', attributes: { lang: 'zh' } });
      expect(await a.vectorStores.delete(vs.id)).toEqual({ id: vs.id, object: 'vector_store.deleted', deleted: true });
      await expect(a.vectorStores.retrieve(vs.id)).rejects.toBeInstanceOf(OpenAI.NotFoundError);
      await expect(a.vectorStores.search(vs.id, { query: '长江' })).rejects.toBeInstanceOf(OpenAI.NotFoundError);
    });

    it('reports an expired store as such, and refuses to search it or add to it', async () => {
      const a = client(keyA);
      const vs = await a.vectorStores.create({ name: 'old', expires_after: { anchor: 'last_active_at', days: 1 } });
      expect(vs.expires_at).toBe(vs.last_active_at! + 86400);
      // A day later, as far as the store can tell.
      await hub.store.vectorStores.update(vs.id, { expiresAt: Math.floor(Date.now() / 1000) - 1 });
      expect((await a.vectorStores.retrieve(vs.id)).status).toBe('expired');
      const err = await a.vectorStores.search(vs.id, { query: '长江' }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(OpenAI.BadRequestError);
      expect((err as InstanceType<typeof OpenAI.BadRequestError>).message).toMatch(/expired/);
      const f = await a.files.create({ file: await toFile(Buffer.from('x'), 'x.txt'), purpose: 'assistants' });
      await expect(a.vectorStores.files.create(vs.id, { file_id: f.id })).rejects.toBeInstanceOf(OpenAI.BadRequestError);
      // Renewing the expiry brings it back.
      const renewed = await a.vectorStores.update(vs.id, { expires_after: { anchor: 'last_active_at', days: 2 } });
      expect(renewed.status).toBe('completed');
    });

    it('lists stores a page at a time, newest first or oldest first, and modifies one', async () => {
      const k = await newKey();
      const c = client(k);
      const ids: string[] = [];
      for (let i = 0; i < 4; i++) ids.push((await c.vectorStores.create({ name: `s${i}` })).id);
      const first = await c.vectorStores.list({ limit: 2 });
      expect(first.data.map((s) => s.id)).toEqual([ids[3], ids[2]]);
      expect(first.has_more).toBe(true);
      const second = await c.vectorStores.list({ limit: 2, after: ids[2]! });
      expect(second.data.map((s) => s.id)).toEqual([ids[1], ids[0]]);
      expect(second.has_more).toBe(false);
      const back = await c.vectorStores.list({ limit: 2, before: ids[1]! });
      expect(back.data.map((s) => s.id)).toEqual([ids[3], ids[2]]);
      expect((await c.vectorStores.list({ order: 'asc' })).data.map((s) => s.id)).toEqual(ids);
      const m = await c.vectorStores.update(ids[0]!, { name: 'renamed', metadata: { a: 'b' }, expires_after: { anchor: 'last_active_at', days: 7 } });
      expect(m).toMatchObject({ name: 'renamed', metadata: { a: 'b' }, expires_after: { anchor: 'last_active_at', days: 7 } });
      expect(m.expires_at! - m.last_active_at!).toBe(7 * 86400);
    });

    it("hides a key's stores from another key, and refuses another key's files", async () => {
      const a = client(keyA);
      const b = client(keyB);
      await expect(b.vectorStores.retrieve(storeId)).rejects.toBeInstanceOf(OpenAI.NotFoundError);
      await expect(b.vectorStores.search(storeId, { query: '长江' })).rejects.toBeInstanceOf(OpenAI.NotFoundError);
      await expect(b.vectorStores.files.list(storeId)).rejects.toBeInstanceOf(OpenAI.NotFoundError);
      await expect(b.vectorStores.delete(storeId)).rejects.toBeInstanceOf(OpenAI.NotFoundError);
      expect((await b.vectorStores.list()).data.map((s) => s.id)).not.toContain(storeId);
      const aFile = (await a.vectorStores.files.list(storeId)).data[0]!.id;
      const mine = await b.vectorStores.create({ name: 'b' });
      const err = await b.vectorStores.files.create(mine.id, { file_id: aFile }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(OpenAI.NotFoundError);
      await expect(b.vectorStores.create({ file_ids: [aFile] })).rejects.toBeInstanceOf(OpenAI.NotFoundError);
      // The store is still A's, whole.
      expect((await a.vectorStores.retrieve(storeId)).file_counts.total).toBe(3);
      // The admin sees every store.
      expect((await client(ADMIN).vectorStores.retrieve(storeId)).id).toBe(storeId);
    });

    it('refuses hostile and malformed requests with 400s in OpenAI’s error shape', async () => {
      const cases: [string, string, unknown, string | null][] = [
        ['POST', `/${storeId}/search`, { query: '长江', max_num_results: 1000 }, 'max_num_results'],
        ['POST', `/${storeId}/search`, { query: '长江', max_num_results: 0 }, 'max_num_results'],
        ['POST', `/${storeId}/search`, { query: '' }, 'query'],
        ['POST', `/${storeId}/search`, { query: ['x'.repeat(5000)] }, 'query[0]'],
        ['POST', `/${storeId}/search`, { query: 42 }, 'query'],
        ['POST', `/${storeId}/search`, { query: 'a', ranking_options: { score_threshold: 2 } }, 'ranking_options.score_threshold'],
        ['POST', `/${storeId}/search`, { query: 'a', ranking_options: { ranker: 'best' } }, 'ranking_options.ranker'],
        ['POST', `/${storeId}/search`, { query: 'a', filters: { type: 'regex', key: 'a', value: '.*' } }, 'filters.type'],
        ['POST', `/${storeId}/search`, { query: 'a', filters: { type: 'eq', key: 'a', value: { $gt: 1 } } }, 'filters.value'],
        ['POST', `/${storeId}/search`, { query: 'a', surprise: true }, null],
        ['POST', '', { file_ids: Array.from({ length: 10_000 }, (_, i) => `file-${i}`) }, 'file_ids'],
        ['POST', '', { name: 42 }, 'name'],
        ['POST', '', { metadata: Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`k${i}`, 'v'])) }, 'metadata'],
        ['POST', '', { chunking_strategy: { type: 'static', static: { max_chunk_size_tokens: 100, chunk_overlap_tokens: 80 } } }, 'chunking_strategy.static'],
        ['POST', '', { chunking_strategy: { type: 'static', static: { max_chunk_size_tokens: 99999, chunk_overlap_tokens: 0 } } }, 'chunking_strategy.static.max_chunk_size_tokens'],
        ['POST', '', { expires_after: { anchor: 'created_at', days: 1 } }, 'expires_after.anchor'],
        ['POST', `/${storeId}/files`, { file_id: 7 }, 'file_id'],
        ['POST', `/${storeId}/files`, { file_id: 'file-\u0000' }, 'file_id'],
        ['POST', '', { name: 'nul \u0000 inside' }, 'name'],
        ['POST', '', { metadata: { k: 'v\u0000' } }, 'metadata.k'],
        ['POST', `/${storeId}/files`, { file_id: 'file-x', attributes: { k: { nested: 1 } } }, 'attributes.k'],
        ['POST', `/${storeId}/file_batches`, { file_ids: ['a'], files: [{ file_id: 'b' }] }, null],
        ['POST', `/${storeId}/file_batches`, {}, null],
        ['GET', `/${storeId}/files?limit=1000`, undefined, 'limit'],
        ['GET', `/${storeId}/files?filter=done`, undefined, 'filter'],
        ['GET', '?order=sideways', undefined, 'order'],
        ['GET', '?after=%00', undefined, 'after'],
        ['GET', '/%00', undefined, null],
        ['GET', `/${storeId}/files/file-%00x`, undefined, null],
        ['GET', `/${storeId}/files?before=${'x'.repeat(300)}`, undefined, 'before'],
      ];
      for (const [method, path, body, param] of cases) {
        const r = await raw(keyA, method, path, body);
        expect(r.status, `${method} ${path} ${JSON.stringify(body)?.slice(0, 100)}`).toBe(400);
        expect(r.body.error.type).toBe('invalid_request_error');
        expect(typeof r.body.error.message).toBe('string');
        if (param !== null) expect(r.body.error.param, r.body.error.message).toBe(param);
      }
      // Filters nested deep (far below the JSON depth limit, far above what a query needs).
      let deep: unknown = { type: 'eq', key: 'a', value: 1 };
      for (let i = 0; i < 40; i++) deep = { type: 'and', filters: [deep] };
      const d = await raw(keyA, 'POST', `/${storeId}/search`, { query: '长江', filters: deep });
      expect(d.status).toBe(400);
      expect(d.body.error.message).toMatch(/nested more than/);
      // Not JSON; not an object.
      expect((await raw(keyA, 'POST', '', '{"name":')).status).toBe(400);
      expect((await raw(keyA, 'POST', '', '[1,2]')).status).toBe(400);
      // Ids that name nothing, or try to climb out of the path.
      // (An id with a NUL is a 400 from the path decoder: the hostile cases above.)
      for (const path of ['/vs_nope', '/vs_nope/files', `/${storeId}/files/file-nope`, `/${storeId}/file_batches/vsfb_nope`, `/${storeId}/files/..%2F..%2Fetc`]) {
        const r = await raw(keyA, 'GET', path);
        expect(r.status, path).toBe(404);
        expect(r.body.error.type).toBe('invalid_request_error');
      }
      expect((await raw(keyA, 'PUT', `/${storeId}`)).status).toBe(405);
      // No key at all.
      expect((await fetch(`${hub.url}/v1/vector_stores`)).status).toBe(401);
    });
  });
}

suite('Vector stores on the embedded store', () => startTestHub(YAML, ENV));

let db: TestDatabase | undefined;
suite(
  'Vector stores on PostgreSQL',
  async () => {
    db = await createTestDatabase();
    return startSharedTestHub(YAML, { databaseUrl: db.url }, ENV);
  },
  async () => {
    await db?.drop();
  },
);
