/**
 * Replicas of `baimo serve` on a shared PostgreSQL (and Redis) when things break, as issue 18
 * asks: kill -9 of one replica under load loses no record of a request whose response completed
 * (its journal is replayed when it restarts), and a PostgreSQL outage does not stop traffic
 * (records wait in each replica's journal and drain into the database once it is back, none
 * twice). The outage runs on a cluster of the test's own (helpers/pg-cluster.ts), never on the
 * machine's server that other tests share.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSharedTestHub } from './helpers/hub.js';
import type { TestHub } from './helpers/hub.js';
import { startPgCluster } from './helpers/pg-cluster.js';
import type { PgCluster } from './helpers/pg-cluster.js';
import { createTestDatabase } from './helpers/pg.js';
import type { TestDatabase } from './helpers/pg.js';
import { deleteKeys } from './helpers/redis.js';
import type { PostgresStores } from '../src/store/postgres/index.js';
import { startOpenAIUpstream } from './upstreams/openai.js';
import type { OpenAIUpstream } from './upstreams/openai.js';

const ROOT = join(import.meta.dirname, '..');
/** tsx's loader by absolute URL: the replicas run in a temp directory with no node_modules. */
const TSX = pathToFileURL(join(ROOT, 'node_modules/tsx/dist/loader.mjs')).href;
const REDIS = process.env.BAIMO_TEST_REDIS ?? 'redis://127.0.0.1:6379';
let upstream: OpenAIUpstream;
let dir: string;

beforeAll(async () => {
  // `loop/slow` waits this long before its headers; `loop/slow-stream` sends a chunk every 100 ms:
  // some requests are always in flight when something breaks.
  upstream = await startOpenAIUpstream({ slowFirstByteMs: 150 });
  dir = mkdtempSync(join(tmpdir(), 'baimo-crash-'));
  writeFileSync(join(dir, 'baimo.yaml'), `providers:\n  loop: { baseURL: ${upstream.baseURL} }\n`);
});
afterAll(async () => {
  await upstream?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const MODELS = ['loop/gpt-test', 'loop/slow', 'loop/slow-stream'];

/**
 * One chat request; the request id when the response completed: status 200 and the whole body
 * read (a stream up to its `[DONE]`). Undefined when it did not, throws when the hub is gone.
 */
async function chat(url: string, i: number, key?: string): Promise<{ status: number; id: string | undefined }> {
  const stream = i % 2 === 0;
  const res = await fetch(`${url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(key && { authorization: `Bearer ${key}` }) },
    body: JSON.stringify({ model: MODELS[i % MODELS.length], messages: [{ role: 'user', content: `request ${i}` }], stream }),
  });
  const text = await res.text();
  const whole = stream ? text.trimEnd().endsWith('data: [DONE]') : (JSON.parse(text) as { choices?: unknown[] }).choices?.length === 1;
  return { status: res.status, id: res.status === 200 && whole ? (res.headers.get('x-request-id') ?? undefined) : undefined };
}

type Query = (sql: string, params?: unknown[]) => Promise<{ rows: Record<string, unknown>[] }>;

/** Those of `ids` that have no final usage record in PostgreSQL yet. */
async function unstored(query: Query, ids: readonly string[]): Promise<string[]> {
  const have = new Set((await query('SELECT request_id FROM usage WHERE final = 1 AND request_id = ANY($1)', [ids])).rows.map((r) => r.request_id as string));
  return ids.filter((id) => !have.has(id));
}
/** Records counted in the hourly totals beyond the records themselves: a batch written twice would show here. */
async function countedTwice(query: Query): Promise<number> {
  const { rows } = await query('SELECT (SELECT coalesce(sum(requests), 0) FROM usage_hourly)::int - (SELECT count(*) FROM usage)::int AS extra');
  return rows[0]!.extra as number;
}

/** The journal's sealed segments in a data directory: batches not yet in the database. */
const segments = (dataDir: string) => readdirSync(dataDir).filter((f) => f.startsWith('usage.journal.'));

/** A replica running as its own process, as `baimo serve` runs in production. */
interface Replica {
  readonly child: ChildProcess;
  /** Its address, read from the banner once it listens. */
  readonly url: Promise<string>;
  readonly exited: Promise<void>;
}

describe('kill -9 of one replica under load', () => {
  let db: TestDatabase;
  const children: Replica[] = [];

  function serve(dataDir: string): Replica {
    const child = spawn(process.execPath, ['--import', TSX, join(ROOT, 'src/cli/main.ts'), 'serve', '--port', '0', '--data-dir', dataDir], {
      cwd: dir,
      env: { PATH: process.env.PATH ?? '', HOME: dir, BAIMO_AUTH: 'none', BAIMO_LOG_LEVEL: 'warn', BAIMO_DATABASE_URL: db.url, BAIMO_REDIS_URL: REDIS },
    });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
    const url = (async () => {
      await expect.poll(() => /listening on (http:\S+)/.exec(out)?.[1], { timeout: 30_000, interval: 50 }).toBeTruthy();
      return /listening on (http:\S+)/.exec(out)![1]!;
    })();
    const hub = { child, url, exited };
    children.push(hub);
    return hub;
  }

  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(async () => {
    for (const c of children) if (c.child.exitCode === null && c.child.signalCode === null) c.child.kill('SIGKILL');
    await Promise.all(children.map((c) => c.exited));
    if (db) {
      const c = new pg.Client({ connectionString: db.url });
      await c.connect();
      const ns = (await c.query<{ value: string }>("SELECT value FROM settings WHERE key = 'redis_namespace'").catch(() => ({ rows: [] }))).rows[0]?.value;
      await c.end();
      if (ns) {
        const r = new Redis(REDIS);
        await deleteKeys(r, `baimo:{${ns}}:`);
        r.disconnect();
      }
      await db.drop();
    }
  });

  it('loses no record of a completed request: the killed replica replays its journal when it restarts', async () => {
    const dataDirs = [0, 1, 2].map((i) => join(dir, `replica-${i}`));
    const replicas = dataDirs.map((d) => serve(d));
    const urls = await Promise.all(replicas.map((r) => r.url));
    const VICTIM = 1;
    const completed: string[][] = [[], [], []];
    let dead = false;
    let cut = 0;
    let stop = false;
    let n = 0;
    const workers = Array.from({ length: 12 }, async (_, w) => {
      while (!stop) {
        // Round robin, but for the killed replica once it is gone: the others keep serving.
        let target = (w + n) % 3;
        if (dead && target === VICTIM) target = (target + 1) % 3;
        const i = n++;
        try {
          const r = await chat(urls[target]!, i);
          if (r.id) completed[target]!.push(r.id);
        } catch {
          // The victim died with this request in flight: its response never completed.
          cut++;
        }
      }
    });
    // Kill once the victim has completed enough requests, however fast this machine is.
    await expect.poll(() => completed[VICTIM]!.length, { timeout: 30_000, interval: 10 }).toBeGreaterThan(40);
    replicas[VICTIM]!.child.kill('SIGKILL');
    dead = true;
    await replicas[VICTIM]!.exited;
    const beforeKill = completed[VICTIM]!.length;
    // The others go on serving after the kill.
    const othersAtKill = completed[0]!.length + completed[2]!.length;
    await expect.poll(() => completed[0]!.length + completed[2]!.length, { timeout: 10_000, interval: 10 }).toBeGreaterThan(othersAtKill + 20);
    stop = true;
    await Promise.all(workers);
    expect(completed[VICTIM]!.length).toBe(beforeKill);
    // It was killed mid-load: requests were in flight on it.
    expect(cut).toBeGreaterThan(0);

    // Restarted on the same data directory, it replays its journal before it listens.
    const again = serve(dataDirs[VICTIM]!);
    await again.url;
    expect(segments(dataDirs[VICTIM]!)).toEqual([]);
    const c = new pg.Client({ connectionString: db.url });
    await c.connect();
    try {
      const query = (sql: string, params?: unknown[]) => c.query(sql, params);
      const all = completed.flat();
      expect(all.length).toBeGreaterThan(80);
      // The survivors write theirs off the request path: wait for them.
      await expect.poll(() => unstored(query, all), { timeout: 15_000, interval: 100 }).toEqual([]);
      expect(await countedTwice(query)).toBe(0);
    } finally {
      await c.end();
      for (const r of [replicas[0]!, replicas[2]!, again]) r.child.kill('SIGTERM');
      await Promise.all([replicas[0]!.exited, replicas[2]!.exited, again.exited]);
    }
  }, 90_000);
});

describe('a PostgreSQL outage under load', () => {
  let cluster: PgCluster;
  let hubs: TestHub<PostgresStores>[] = [];
  const ADMIN = 'sk-baimo-admin-outage-0000000000000';

  beforeAll(async () => {
    cluster = await startPgCluster();
    const urls = { databaseUrl: cluster.url, redisUrl: REDIS };
    hubs = await Promise.all([0, 1].map(() => startSharedTestHub(`providers:\n  loop: { baseURL: ${upstream.baseURL} }\n`, urls, { BAIMO_AUTH: 'required', BAIMO_ADMIN_KEY: ADMIN })));
  });
  afterAll(async () => {
    // The hubs close while the database is up, so their recorders drain.
    await Promise.all(hubs.map((h) => h.dispose()));
    const ns = await (async () => {
      const c = new pg.Client({ connectionString: cluster.url });
      await c.connect();
      try {
        return (await c.query<{ value: string }>("SELECT value FROM settings WHERE key = 'redis_namespace'")).rows[0]?.value;
      } finally {
        await c.end();
      }
    })().catch(() => undefined);
    if (ns) {
      const r = new Redis(REDIS);
      await deleteKeys(r, `baimo:{${ns}}:`);
      r.disconnect();
    }
    await cluster?.destroy();
  });

  it('does not stop traffic: records wait in the journals and drain into PostgreSQL once it is back, none twice', async () => {
    // A virtual key, made before the outage: keys are cached, so authenticating never waits on the database.
    const made = await fetch(`${hubs[0]!.url}/admin/keys`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'outage' }),
    });
    expect(made.status).toBe(201);
    const key = ((await made.json()) as { key: string }).key;
    for (const h of hubs) expect((await chat(h.url, 0, key)).status).toBe(200);

    const completed: string[] = [];
    const failed: string[] = [];
    let outage = false;
    let duringOutage = 0;
    let stop = false;
    let n = 0;
    const workers = Array.from({ length: 8 }, async () => {
      while (!stop) {
        const i = n++;
        try {
          const r = await chat(hubs[i % 2]!.url, i, key);
          if (r.id) {
            completed.push(r.id);
            if (outage) duringOutage++;
          } else failed.push(`status ${r.status}`);
        } catch (err) {
          failed.push((err as Error).message);
        }
      }
    });
    const dataDirs = hubs.map((h) => join(h.dir, 'data'));
    try {
      await expect.poll(() => completed.length, { timeout: 10_000, interval: 10 }).toBeGreaterThan(30);
      await cluster.stop();
      outage = true;
      // Traffic goes on; what is recorded meanwhile is sealed into journal segments on disk.
      await expect.poll(() => dataDirs.every((d) => segments(d).length > 0), { timeout: 10_000, interval: 50 }).toBe(true);
      await expect.poll(() => duringOutage, { timeout: 10_000, interval: 10 }).toBeGreaterThan(60);
      await cluster.start();
      outage = false;
      const after = completed.length;
      await expect.poll(() => completed.length, { timeout: 10_000, interval: 10 }).toBeGreaterThan(after + 30);
    } finally {
      stop = true;
      await Promise.all(workers);
    }
    expect(failed).toEqual([]);

    const query = (sql: string, params?: unknown[]) => hubs[0]!.store.pool.query(sql, params);
    // Every completed request arrives once the database is back (the recorders retry with backoff, at most 5 s apart).
    await expect.poll(() => unstored(query, completed), { timeout: 20_000, interval: 200 }).toEqual([]);
    expect(await countedTwice(query)).toBe(0);
    // And the journals are drained: no segment is left for a restart to replay.
    await expect.poll(() => dataDirs.map((d) => segments(d).length), { timeout: 5_000, interval: 50 }).toEqual([0, 0]);
  }, 60_000);
});
