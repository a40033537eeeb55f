/**
 * PostgreSQL usage batches written on a thread of their own (issue 18): what the recorder relies
 * on is unchanged — a batch lands and is read back from the main pool, a write the database
 * cannot take rejects (the recorder keeps the batch and retries) and a later one succeeds once
 * it is back, a thread that died is replaced by the next write, and closing ends the thread
 * after the writes it holds, so the process can exit.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Worker } from 'node:worker_threads';
import pg from 'pg';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openPostgresStores } from '../src/store/postgres/index.js';
import type { PostgresStores } from '../src/store/postgres/index.js';
import { PostgresUsageWriter } from '../src/store/postgres/usage-writer.js';
import type { UsageRecord } from '../src/usage/record.js';
import { createTestDatabase } from './helpers/pg.js';
import type { TestDatabase } from './helpers/pg.js';
import { usageRecord } from './helpers/usage-record.js';

const ROOT = join(import.meta.dirname, '..');
const TSX = pathToFileURL(join(ROOT, 'node_modules/tsx/dist/loader.mjs')).href;
const SERVER = process.env.BAIMO_TEST_PG ?? 'postgres://postgres@127.0.0.1:5432';

let db: TestDatabase;
let stores: PostgresStores;
let raw: pg.Client;

beforeEach(async () => {
  db = await createTestDatabase();
  stores = await openPostgresStores(db.url);
  raw = new pg.Client({ connectionString: db.url });
  await raw.connect();
});

afterEach(async () => {
  await raw.end();
  await stores.close();
  await admin(`ALTER DATABASE ${db.name} ALLOW_CONNECTIONS true`);
  await db.drop();
});

async function admin(sql: string): Promise<void> {
  const c = new pg.Client({ connectionString: `${SERVER}/postgres` });
  await c.connect();
  try {
    await c.query(sql);
  } finally {
    await c.end();
  }
}

function record(i: number, o: Partial<UsageRecord> = {}): UsageRecord {
  return usageRecord({
    requestId: `r${i}`,
    ts: Date.UTC(2026, 0, 1) + i,
    model: 'm',
    keyId: 'k',
    costUsd: 0.001,
    usage: { inputTokens: 3, outputTokens: 4 },
    latencyMs: 10,
    ttftMs: undefined,
    ...o,
  });
}

const lines = (records: UsageRecord[]) => records.map((r) => JSON.stringify(r)).join('\n');
const range = (from: number, n: number) => Array.from({ length: n }, (_, i) => record(from + i));

async function count(): Promise<number> {
  return Number((await raw.query('SELECT COUNT(*) AS n FROM usage')).rows[0].n);
}

describe('the usage writer thread', () => {
  it('writes batches that the main pool reads back, a full batch with bodies and a NUL in one included', async () => {
    const big = range(0, 2000).map((r) => ({ ...r, bodies: { request: 'q'.repeat(4000), response: 'a'.repeat(4000) } }));
    const odd = record(5000, { bodies: { request: 'a\u0000b', response: '{}' }, trace: { steps: ['x\u0000'] } });
    await Promise.all([stores.sink.writeUsageLines(lines(big)), stores.sink.writeUsageLines(lines([odd, record(5001)]))]);
    expect(await count()).toBe(2002);
    const totals = await stores.usage.totals({ from: Date.UTC(2026, 0, 1), to: Date.UTC(2026, 0, 2), groupBy: [], includeAttempts: true, limit: 1 });
    expect(totals[0]!.requests).toBe(2002);
    expect(await stores.usage.bodies('r5000')).toEqual({ request: 'a\uFFFDb', response: '{}' });
    expect(await stores.usage.trace('r5000')).toEqual({ steps: ['x\u0000'] });
    expect((await stores.usage.bodies('r1999'))?.request).toHaveLength(4000);
    // The thread's own pool, named so an operator can tell it apart.
    const names = await raw.query<{ n: string }>("SELECT COUNT(*) AS n FROM pg_stat_activity WHERE application_name = 'baimo-usage-writer' AND datname = $1", [db.name]);
    expect(Number(names.rows[0]!.n)).toBeGreaterThan(0);
  });

  it('rejects a batch while the database refuses connections, and writes the next once it is back', async () => {
    await stores.sink.writeUsageLines(lines(range(0, 10)));
    // Its idle connections are cut as in a server restart: the thread must live through that.
    await admin(`ALTER DATABASE ${db.name} ALLOW_CONNECTIONS false`);
    await admin(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '${db.name}' AND application_name = 'baimo-usage-writer'`);
    await expect(stores.sink.writeUsageLines(lines(range(10, 10)))).rejects.toThrow(/not currently accepting connections/);
    await admin(`ALTER DATABASE ${db.name} ALLOW_CONNECTIONS true`);
    await stores.sink.writeUsageLines(lines(range(10, 10)));
    expect(await count()).toBe(20);
  });

  it('rejects with the driver’s message, never the password, when the server cannot be reached', async () => {
    const writer = new PostgresUsageWriter('postgres://baimo:s3cret@127.0.0.1:1/baimo');
    try {
      const err = await writer.writeUsageLines(lines([record(1)])).then(
        () => undefined,
        (e: unknown) => e as Error,
      );
      expect(err).toBeInstanceOf(Error);
      expect(err!.message).toMatch(/ECONNREFUSED/);
      expect(err!.message).not.toContain('s3cret');
    } finally {
      await writer.close();
    }
  });

  it('a thread that died fails the batches it held, and the next write starts a new one', async () => {
    const writer = new PostgresUsageWriter(db.url);
    try {
      await writer.writeUsageLines(lines(range(0, 5)));
      const worker = (writer as unknown as { worker: Worker }).worker;
      const held = writer.writeUsageLines(lines(range(5, 5)));
      await worker.terminate();
      await expect(held).rejects.toThrow(/usage writer stopped/);
      // The batch comes again, as the recorder's retry would send it: stored once.
      await writer.writeUsageLines(lines(range(5, 10)));
      expect(await count()).toBe(15);
    } finally {
      await writer.close();
    }
  });

  it('close() lets the writes under way finish, and rejects any after it', async () => {
    const writing = stores.sink.writeUsageLines(lines(range(0, 500)));
    await stores.close();
    await expect(writing).resolves.toBeUndefined();
    expect(await count()).toBe(500);
    await expect(stores.sink.writeUsageLines(lines([record(1)]))).rejects.toThrow(/closed/);
    // The thread ended its pool: none of its connections is left on the server.
    const writers = async () =>
      Number((await raw.query("SELECT COUNT(*) AS n FROM pg_stat_activity WHERE application_name = 'baimo-usage-writer' AND datname = $1", [db.name])).rows[0].n);
    await expect.poll(writers, { timeout: 2000 }).toBe(0);
  });

  it('a process that wrote through the thread and closed its stores exits on its own', async () => {
    const code = `
      const { openPostgresStores } = await import(${JSON.stringify(pathToFileURL(join(ROOT, 'src/store/postgres/index.ts')).href)});
      const s = await openPostgresStores(process.env.URL);
      await s.sink.writeUsageLines(${JSON.stringify(lines([record(1)]))});
      await s.close();
      console.log('closed');`;
    const child = spawn(process.execPath, ['--import', TSX, '--input-type=module', '-e', code], { env: { ...process.env, URL: db.url } });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const exit = await new Promise<number | null>((resolve) => {
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        resolve(null);
      }, 15_000);
      child.on('exit', (c) => {
        clearTimeout(timer);
        resolve(c);
      });
    });
    expect(out).toContain('closed');
    expect(exit).toBe(0);
    expect(await count()).toBe(1);
  });
});
