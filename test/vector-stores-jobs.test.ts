/**
 * Ingestion jobs: they survive a restart (a hub closed with files still `in_progress` picks them
 * up when it opens again on the same data directory), replicas sharing PostgreSQL never claim
 * the same job while its lease runs, and deleting a store or removing a file mid-ingestion stops
 * the job with nothing of it left in the index. Real stores and indexes throughout; the one
 * stand-in is a `prepare` the test holds open, so "mid-ingestion" is a fact, not a race.
 */
import Database from 'better-sqlite3';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI, { toFile } from 'openai';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { prepareFile } from '../src/knowledge/ingest/prepare.js';
import { IngestionRunner } from '../src/knowledge/jobs.js';
import type { PrepareFile, VectorStoreFileRow } from '../src/knowledge/ports.js';
import { KnowledgeService } from '../src/knowledge/vector-stores.js';
import { startHub } from '../src/server/start.js';
import { openPostgresStores } from '../src/store/postgres/index.js';
import type { PostgresStores } from '../src/store/postgres/index.js';
import { openSQLiteStores } from '../src/store/sqlite/index.js';
import type { SQLiteStores } from '../src/store/sqlite/index.js';
import { createTestDatabase } from './helpers/pg.js';
import type { TestDatabase } from './helpers/pg.js';

const ZH = '长江是中国最长的河流，全长约六千三百公里。长江流域人口众多。';
const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'baimo-jobs-'));
  dirs.push(d);
  return d;
}

/** Waits until `check` holds (each try a real read), failing after `ms`. Not a timing assertion: a bound on a wait. */
async function until(check: () => Promise<boolean> | boolean, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error('condition never held');
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('a hub restarted with files still in progress', () => {
  it('picks them up on start and completes them', async () => {
    const dir = tempDir();
    const config = join(dir, 'baimo.yaml');
    writeFileSync(config, 'server:\n  maxBodyBytes: 1048576\n');
    const open = () => startHub({ config, port: '0', host: '127.0.0.1', dataDir: join(dir, 'data'), env: { BAIMO_AUTH: 'none', BAIMO_LOG_LEVEL: 'silent' }, detectOllama: false });

    let hub = await open();
    let c = new OpenAI({ baseURL: `${hub.url}/v1`, apiKey: 'x', maxRetries: 0 });
    const f1 = await c.files.create({ file: await toFile(Buffer.from(ZH), 'a.txt'), purpose: 'assistants' });
    const f2 = await c.files.create({ file: await toFile(Buffer.from('The Thames flows through London.'), 'b.txt'), purpose: 'assistants' });
    const vs = await c.vectorStores.create({ name: 'restart' });
    await hub.close();

    // What a hub that stopped after accepting the files (and one that crashed mid-job, its lease
    // left behind and since run out) leaves in its database.
    const db = new Database(join(dir, 'data', 'baimo.db'));
    const now = Math.floor(Date.now() / 1000);
    const insert = db.prepare(
      `INSERT INTO vector_store_files (vector_store_id, file_id, filename, key_id, created_at, status, max_tokens, overlap_tokens, usage_bytes, lease_until)
       VALUES (?, ?, ?, NULL, ?, 'in_progress', 800, 400, 0, ?)`,
    );
    insert.run(vs.id, f1.id, 'a.txt', now, 0);
    insert.run(vs.id, f2.id, 'b.txt', now, Date.now() - 1);
    db.close();

    hub = await open();
    try {
      c = new OpenAI({ baseURL: `${hub.url}/v1`, apiKey: 'x', maxRetries: 0 });
      expect((await c.vectorStores.retrieve(vs.id)).file_counts.total).toBe(2);
      expect((await c.vectorStores.files.poll(vs.id, f1.id)).status).toBe('completed');
      expect((await c.vectorStores.files.poll(vs.id, f2.id)).status).toBe('completed');
      expect((await c.vectorStores.retrieve(vs.id)).file_counts).toEqual({ in_progress: 0, completed: 2, failed: 0, cancelled: 0, total: 2 });
      const r = await c.vectorStores.search(vs.id, { query: '长江' });
      expect(r.data[0]).toMatchObject({ file_id: f1.id, filename: 'a.txt' });
    } finally {
      await hub.close();
    }
  });
});

/** A prepare that waits until the test lets it go, then does the real work. */
function heldPrepare(): { prepare: PrepareFile; started: Promise<void>; release(): void } {
  let release!: () => void;
  let started!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const startedP = new Promise<void>((r) => (started = r));
  return {
    prepare: async (bytes, filename, chunking) => {
      started();
      await gate;
      return prepareFile(bytes, filename, { ...chunking, contextualHeaders: true });
    },
    started: startedP,
    release,
  };
}

describe('cancelling mid-ingestion (embedded store)', () => {
  let stores: SQLiteStores | undefined;
  let runner: IngestionRunner | undefined;
  afterEach(async () => {
    await runner?.close();
    stores?.close();
  });

  async function setup() {
    stores = openSQLiteStores(tempDir());
    const held = heldPrepare();
    runner = new IngestionRunner({ store: stores.vectorStores, files: stores.files, index: stores.knowledge, prepare: held.prepare }, { pollMs: 50 });
    const service = new KnowledgeService({ store: stores.vectorStores, files: stores.files, index: stores.knowledge, runner, settings: {} });
    const now = Math.floor(Date.now() / 1000);
    await stores.files.save({ id: 'file-a', keyId: null, filename: 'a.txt', purpose: 'assistants', bytes: Buffer.byteLength(ZH), createdAt: now, expiresAt: null }, Buffer.from(ZH));
    const caller = { owner: undefined, keyId: null };
    const vs = await service.create(caller, { name: 'x', metadata: null, expiresAfterDays: null, files: [{ fileId: 'file-a', attributes: null, chunking: { maxTokens: 800, overlapTokens: 400 } }] });
    await held.started;
    return { stores, service, held, caller, id: vs.store.id };
  }

  it('deleting the store stops the job and leaves no chunks behind', async () => {
    const { stores: s, service, held, caller, id } = await setup();
    await service.delete(id, caller);
    held.release();
    // Closing waits for the job to end: nothing was written for the deleted store.
    await runner!.close();
    expect(await s.knowledge.fileChunks(id, 'file-a', undefined, 10)).toEqual([]);
    expect(await s.knowledge.keyword({ vectorStoreIds: [id] }, ['长江'], 10)).toEqual([]);
    expect(await s.vectorStores.getFile(id, 'file-a')).toBeUndefined();
  });

  it('removing the file stops its job; added again, it is ingested whole', async () => {
    const { stores: s, service, held, caller, id } = await setup();
    await service.removeFile(id, 'file-a', caller);
    held.release();
    await runner!.close();
    expect(await s.knowledge.fileChunks(id, 'file-a', undefined, 10)).toEqual([]);
    expect((await service.get(id, caller)).counts.total).toBe(0);
    // The same file again, with a runner whose prepare is not held.
    runner = new IngestionRunner({ store: s.vectorStores, files: s.files, index: s.knowledge, prepare: (b, f, c) => prepareFile(b, f, { ...c, contextualHeaders: true }) }, { pollMs: 50 });
    const again = new KnowledgeService({ store: s.vectorStores, files: s.files, index: s.knowledge, runner, settings: {} });
    await again.addFiles(id, caller, [{ fileId: 'file-a', attributes: null, chunking: { maxTokens: 800, overlapTokens: 400 } }], false);
    await until(async () => (await s.vectorStores.getFile(id, 'file-a'))?.status === 'completed');
    expect((await s.knowledge.fileChunks(id, 'file-a', undefined, 10)).length).toBeGreaterThan(0);
  });

  it('cancelling a batch mid-ingestion marks its files cancelled and indexes none of them', async () => {
    const { stores: s, service, held, caller, id } = await setup();
    const now = Math.floor(Date.now() / 1000);
    await s.files.save({ id: 'file-b', keyId: null, filename: 'b.txt', purpose: 'assistants', bytes: 5, createdAt: now, expiresAt: null }, Buffer.from('hello'));
    const { batch } = await service.addFiles(id, caller, [{ fileId: 'file-b', attributes: null, chunking: { maxTokens: 800, overlapTokens: 400 } }], true);
    const r = await service.cancelBatch(id, batch!.id, caller);
    expect(r.batch.cancelledAt).not.toBeNull();
    expect(r.counts).toMatchObject({ cancelled: 1, in_progress: 0, total: 1 });
    held.release();
    // The file outside the batch goes on to the end.
    await until(async () => (await s.vectorStores.getFile(id, 'file-a'))?.status === 'completed');
    await runner!.close();
    expect((await s.vectorStores.getFile(id, 'file-b'))?.status).toBe('cancelled');
    expect(await s.knowledge.fileChunks(id, 'file-b', undefined, 10)).toEqual([]);
    expect((await s.knowledge.fileChunks(id, 'file-a', undefined, 10)).length).toBeGreaterThan(0);
  });

  it('a shutdown mid-job hands the job back, in progress, for the next start', async () => {
    const { stores: s, held, id } = await setup();
    const closing = runner!.close();
    held.release();
    await closing;
    runner = undefined;
    expect((await s.vectorStores.getFile(id, 'file-a'))?.status).toBe('in_progress');
    // Claimable at once: no lease left to run out.
    expect((await s.vectorStores.claim(Date.now(), Date.now() + 60_000, 10)).map((j) => j.fileId)).toEqual(['file-a']);
  });
});

describe('job claims on PostgreSQL, shared by replicas', () => {
  let db: TestDatabase | undefined;
  const open: PostgresStores[] = [];
  afterAll(async () => {
    for (const s of open) await s.close();
    await db?.drop();
  });

  it('gives a job to one claimant while its lease runs, and to another once it has run out', async () => {
    db = await createTestDatabase();
    const a = await openPostgresStores(db.url);
    const b = await openPostgresStores(db.url);
    open.push(a, b);
    const now = Math.floor(Date.now() / 1000);
    await a.vectorStores.create({ id: 'vs_claims', keyId: null, name: '', metadata: null, createdAt: now, lastActiveAt: now, expiresAfterDays: null, expiresAt: null, embeddingModel: null, contextualHeaders: true }, [
      ...Array.from({ length: 20 }, (_, i): VectorStoreFileRow => ({
        vectorStoreId: 'vs_claims', fileId: `file-${i}`, filename: `${i}.txt`, keyId: null, createdAt: now, status: 'in_progress', lastError: null, attributes: null, chunking: { maxTokens: 800, overlapTokens: 400 }, usageBytes: 0, batchId: null,
      })),
    ]);
    // Two replicas claiming at once, many times over: every job goes to exactly one of them.
    const t = Date.now();
    const claims = await Promise.all(Array.from({ length: 10 }, (_, i) => (i % 2 ? a : b).vectorStores.claim(t, t + 60_000, 3)));
    const ids = claims.flat().map((j) => j.fileId);
    expect(ids.length).toBe(20);
    expect(new Set(ids).size).toBe(20);
    expect(await a.vectorStores.claim(t + 1, t + 60_000, 50)).toEqual([]);
    // A replica that died: its leases run out and the jobs go to the next claim.
    const later = t + 60_001;
    expect((await b.vectorStores.claim(later, later + 60_000, 50)).length).toBe(20);
    // A renewed lease holds; a finished job is no longer claimable nor renewable.
    expect(await a.vectorStores.renew('vs_claims', 'file-0', later + 120_000)).toBe(true);
    expect(await a.vectorStores.finish('vs_claims', 'file-1', { status: 'completed', usageBytes: 10 })).toBe(true);
    expect(await a.vectorStores.finish('vs_claims', 'file-1', { status: 'failed', error: { code: 'server_error', message: 'late' } })).toBe(false);
    expect(await a.vectorStores.renew('vs_claims', 'file-1', later + 120_000)).toBe(false);
    const next = (await a.vectorStores.claim(later + 60_001, later + 90_000, 50)).map((j) => j.fileId);
    expect(next).not.toContain('file-0');
    expect(next).not.toContain('file-1');
    expect(next).toHaveLength(18);
  });
});

/**
 * Fair ingestion: jobs go round robin by the key that added them, so a key that queues a big
 * batch does not make another key's one file wait behind all of it. Asserted on the order in
 * which files complete (and claims are made), never on time.
 */
describe.each(['sqlite', 'postgres'] as const)('fair ingestion across keys (%s)', (backend) => {
  let sqlite: SQLiteStores | undefined;
  let pgStores: PostgresStores | undefined;
  let db: TestDatabase | undefined;
  let runner: IngestionRunner | undefined;
  afterEach(async () => {
    await runner?.close();
    runner = undefined;
    sqlite?.close();
    sqlite = undefined;
    await pgStores?.close();
    pgStores = undefined;
    await db?.drop();
    db = undefined;
  });

  async function open(): Promise<SQLiteStores | PostgresStores> {
    if (backend === 'sqlite') return (sqlite = openSQLiteStores(tempDir()));
    db = await createTestDatabase();
    return (pgStores = await openPostgresStores(db.url));
  }

  const row = (vectorStoreId: string, fileId: string, keyId: string | null, createdAt: number): VectorStoreFileRow => ({
    vectorStoreId, fileId, filename: `${fileId}.txt`, keyId, createdAt, status: 'in_progress', lastError: null, attributes: null, chunking: { maxTokens: 800, overlapTokens: 400 }, usageBytes: 0, batchId: null,
  });
  const store = (id: string, keyId: string | null) => ({ id, keyId, name: '', metadata: null, createdAt: 1, lastActiveAt: 1, expiresAfterDays: null, expiresAt: null, embeddingModel: null, contextualHeaders: true });

  it('claims take each key in turn, the key served least recently first', async () => {
    const s = await open();
    const v = s.vectorStores;
    // Key A's three jobs are older than key B's one, and the admin's ('' owner) is newest.
    await v.create(store('vs_a', 'key_a'), [row('vs_a', 'a1', 'key_a', 10), row('vs_a', 'a2', 'key_a', 11), row('vs_a', 'a3', 'key_a', 12)]);
    await v.create(store('vs_b', 'key_b'), [row('vs_b', 'b1', 'key_b', 20)]);
    await v.create(store('vs_n', null), [row('vs_n', 'n1', null, 30)]);
    const t = 1_000_000;
    const claimed = async (now: number, limit: number) => (await v.claim(now, now + 100, limit)).map((f) => f.fileId);
    // One claim of three: each key's oldest, not A's three.
    expect(await claimed(t, 3)).toEqual(['a1', 'b1', 'n1']);
    expect(await claimed(t + 1, 1)).toEqual(['a2']);
    // All leases past: A was served last, so B and the admin come before A's oldest.
    expect(await claimed(t + 200, 2)).toEqual(['b1', 'n1']);
    expect(await claimed(t + 201, 5)).toEqual(['a1', 'a2', 'a3']);
  });

  it("one key's single file completes long before another key's batch queued ahead of it", async () => {
    const s = await open();
    const order: string[] = [];
    // The real store, with each finished job noted in the order it finished.
    const vectorStores = Object.create(s.vectorStores) as typeof s.vectorStores;
    vectorStores.finish = async (vectorStoreId, fileId, outcome) => {
      const done = await s.vectorStores.finish(vectorStoreId, fileId, outcome);
      if (done) order.push(fileId);
      return done;
    };
    // Key A's first jobs are held until key B has added its file, so B's file is surely queued
    // behind A's batch; then everything runs at full speed.
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let started!: () => void;
    const firstStarted = new Promise<void>((r) => (started = r));
    const prepare: PrepareFile = async (bytes, filename, chunking) => {
      started();
      await gate;
      return prepareFile(bytes, filename, { ...chunking, contextualHeaders: true });
    };
    runner = new IngestionRunner({ store: vectorStores, files: s.files, index: s.knowledge, prepare }, { pollMs: 50 });
    const service = new KnowledgeService({ store: vectorStores, files: s.files, index: s.knowledge, runner, settings: {} });
    const now = Math.floor(Date.now() / 1000);
    const keyA = { owner: 'key_a', keyId: 'key_a' };
    const keyB = { owner: 'key_b', keyId: 'key_b' };
    const chunking = { maxTokens: 800, overlapTokens: 400 };
    const A_FILES = 30;
    for (let i = 0; i < A_FILES; i++) {
      const body = Buffer.from(`${ZH} 第${i}份文件。`);
      await s.files.save({ id: `file-a${i}`, keyId: 'key_a', filename: `a${i}.txt`, purpose: 'assistants', bytes: body.length, createdAt: now, expiresAt: null }, body);
    }
    await s.files.save({ id: 'file-b', keyId: 'key_b', filename: 'b.txt', purpose: 'assistants', bytes: 5, createdAt: now, expiresAt: null }, Buffer.from('hello'));
    const a = await service.create(keyA, { name: 'a', metadata: null, expiresAfterDays: null, files: [] });
    await service.addFiles(a.store.id, keyA, Array.from({ length: A_FILES }, (_, i) => ({ fileId: `file-a${i}`, attributes: null, chunking })), true);
    await firstStarted;
    const b = await service.create(keyB, { name: 'b', metadata: null, expiresAfterDays: null, files: [{ fileId: 'file-b', attributes: null, chunking }] });
    release();
    await until(() => order.length === A_FILES + 1, 60_000);
    // First come, first served would finish B's file last (31st). Round robin: it is claimed as
    // soon as one of A's two running jobs ends, so at most A's two held jobs and one more of
    // A's (running beside it) finish before it.
    expect(order.indexOf('file-b')).toBeLessThanOrEqual(3);
    expect(order.filter((f) => f.startsWith('file-a'))).toHaveLength(A_FILES);
    expect((await service.get(b.store.id, keyB)).counts).toMatchObject({ completed: 1, total: 1 });
    expect((await service.get(a.store.id, keyA)).counts).toMatchObject({ completed: A_FILES, total: A_FILES });
  });
});
