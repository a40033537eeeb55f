/**
 * Several hubs over one PostgreSQL database keep their key and team caches in step through a
 * TenancyFeed (PostgreSQL LISTEN/NOTIFY, or Redis pub/sub): three Tenancy instances, each with its
 * own pool and feed connection as separate replicas have. Issue 18: a key made on one hub works on
 * the others at once; one revoked or changed on one is refused or changed on every hub within a second.
 */
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { Redis } from 'ioredis';
import pg from 'pg';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { HubError } from '../src/core/errors.js';
import { PostgresTenancyFeed } from '../src/store/postgres/feed.js';
import { openPostgresStores } from '../src/store/postgres/index.js';
import type { PostgresStores } from '../src/store/postgres/index.js';
import { RedisTenancyFeed } from '../src/store/redis/feed.js';
import type { TenancyFeed, TenancyStore } from '../src/tenancy/ports.js';
import { Tenancy } from '../src/tenancy/service.js';
import type { TenancyOptions } from '../src/tenancy/service.js';
import { createTestDatabase } from './helpers/pg.js';
import type { TestDatabase } from './helpers/pg.js';

const ADMIN = 'sk-baimo-admin-test-0000000000000000';
const REDIS = process.env.BAIMO_TEST_REDIS ?? 'redis://127.0.0.1:6379';
const bearer = (secret: string) => ({ authorization: `Bearer ${secret}` });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Retries `check` until it passes or `ms` have gone by; returns how long it took. */
async function within(ms: number, check: () => void | Promise<void>): Promise<number> {
  const start = Date.now();
  for (;;) {
    try {
      await check();
      return Date.now() - start;
    } catch (err) {
      if (Date.now() - start > ms) throw err;
      await sleep(5);
    }
  }
}

function refusal(run: () => unknown): string | undefined {
  try {
    run();
  } catch (err) {
    if (err instanceof HubError) return err.code;
    throw err;
  }
  return undefined;
}

/**
 * A TCP relay whose open connections can be made to go silent: nothing passes either way and
 * nothing is closed, as when a NAT or a failover drops a connection without a reset.
 */
interface SilentCutProxy {
  readonly port: number;
  silence(): void;
  close(): void;
}

async function silentCutProxy(target: number): Promise<SilentCutProxy> {
  const pairs = new Set<{ client: net.Socket; server: net.Socket; silent: boolean }>();
  const srv = net.createServer((client) => {
    const server = net.connect(target, '127.0.0.1');
    const pair = { client, server, silent: false };
    client.on('data', (d) => void (pair.silent || server.write(d)));
    server.on('data', (d) => void (pair.silent || client.write(d)));
    const close = () => {
      client.destroy();
      server.destroy();
      pairs.delete(pair);
    };
    for (const s of [client, server]) s.on('close', close).on('error', close);
    pairs.add(pair);
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  return {
    port: (srv.address() as AddressInfo).port,
    silence: () => pairs.forEach((p) => (p.silent = true)),
    close() {
      pairs.forEach((p) => (p.client.destroy(), p.server.destroy()));
      srv.close();
    },
  };
}

/** One replica: its own pool, its own feed connection, its own cache. */
interface Replica {
  readonly stores: PostgresStores;
  readonly feed: TenancyFeed & { readonly connections: number; close(): Promise<void> };
  readonly tenancy: Tenancy;
}

interface FeedKind {
  readonly name: string;
  /** The server's port, for a proxy in front of it. */
  readonly port: number;
  /** A replica's feed, reaching the server through `port`. */
  open(db: TestDatabase, stores: PostgresStores, label: string, channel: string, port: number): Promise<Replica['feed']>;
  /** Cuts the named replica's listening connection from the server's side; resolves once it is gone. */
  drop(db: TestDatabase, label: string): Promise<void>;
}

const postgresFeed: FeedKind = {
  name: 'PostgreSQL LISTEN/NOTIFY',
  port: Number(new URL(process.env.BAIMO_TEST_PG ?? 'postgres://postgres@127.0.0.1:5432').port || 5432),
  open: (db, stores, label, _channel, port) => {
    const url = new URL(db.url);
    url.port = String(port);
    return PostgresTenancyFeed.open(url.toString(), stores.pool, { applicationName: `feed-${label}`, minBackoffMs: 1000, heartbeatMs: 200 });
  },
  async drop(db, label) {
    const c = new pg.Client({ connectionString: db.url });
    await c.connect();
    try {
      const killed = await c.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND application_name = $2', [db.name, `feed-${label}`]);
      expect(killed.rowCount).toBe(1);
      await within(2000, async () => {
        const { rows } = await c.query('SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1 AND application_name = $2', [db.name, `feed-${label}`]);
        expect(rows[0].n).toBe(0);
      });
    } finally {
      await c.end();
    }
  },
};

let redisName = '';
const redisFeed: FeedKind = {
  name: 'Redis pub/sub',
  port: Number(new URL(REDIS).port || 6379),
  open: (_db, _stores, label, channel, port) => {
    const url = new URL(REDIS);
    url.port = String(port);
    return RedisTenancyFeed.open(url.toString(), { channel, connectionName: `${redisName}-${label}`, minBackoffMs: 1000, heartbeatMs: 200 });
  },
  async drop(_db, label) {
    const admin = new Redis(REDIS);
    try {
      const list = (await admin.client('LIST')) as string;
      const ids = list.split('\n').filter((l) => l.includes(` name=${redisName}-${label} `)).map((l) => /\bid=(\d+)/.exec(l)![1]!);
      expect(ids).toHaveLength(1);
      await admin.client('KILL', 'ID', ids[0]!);
    } finally {
      admin.disconnect();
    }
  },
};

for (const kind of [postgresFeed, redisFeed]) {
  describe(`three hubs over one database, changes over ${kind.name}`, () => {
    let db: TestDatabase;
    let replicas: Replica[];
    let a: Tenancy, b: Tenancy, c: Tenancy;
    /** In front of B's feed connection only. */
    let proxy: SilentCutProxy;

    beforeEach(async () => {
      proxy = await silentCutProxy(kind.port);
      db = await createTestDatabase();
      redisName = `baimo-test-${randomBytes(4).toString('hex')}`;
      const channel = `${redisName}:tenancy`;
      replicas = [];
      for (const label of ['a', 'b', 'c']) {
        const stores = await openPostgresStores(db.url, { poolSize: 3 });
        const feed = await kind.open(db, stores, label, channel, label === 'b' ? proxy.port : kind.port);
        const { tenancy } = await Tenancy.open(stores.tenancy, ADMIN, true, { feed });
        replicas.push({ stores, feed, tenancy });
      }
      [a, b, c] = replicas.map((r) => r.tenancy) as [Tenancy, Tenancy, Tenancy];
    });

    afterEach(async () => {
      for (const r of replicas) {
        r.tenancy.close();
        await r.feed.close();
        await r.stores.close();
      }
      proxy.close();
      await db.drop();
    });

    it('a key made on one hub authenticates on the others at once, with its new team', async () => {
      const team = await a.createTeam({ name: 'new', budgetUsd: 3 });
      const { secret, key } = await a.createKey({ name: 'k', teamId: team.id });
      // Asked straight away, before any notice can be relied on.
      for (const other of [b, c]) {
        const p = await other.authenticateShared(bearer(secret));
        expect(p).toMatchObject({ kind: 'key', key: { id: key.id }, team: { id: team.id, budgetUsd: 3 } });
      }
      // Soon it is in the cache (from the lookup, or from the notice if that is read meanwhile):
      // the synchronous path knows it too.
      await within(1000, () => expect(b.authenticate(bearer(secret))).toMatchObject({ kind: 'key', key: { id: key.id } }));
    });

    it('a key revoked on one hub is refused on every other within a second', async () => {
      const { secret, key } = await a.createKey({ name: 'k' });
      await within(1000, () => {
        for (const t of [b, c]) expect(t.authenticate(bearer(secret)).kind).toBe('key');
      });
      await a.revokeKey(key.id);
      const took = await within(1000, () => {
        for (const t of [b, c]) expect(refusal(() => t.authenticate(bearer(secret)))).toBe('key_revoked');
      });
      expect(took).toBeLessThan(1000);
    });

    it('budget and limit changes on one hub are seen on the others; a deleted team disappears', async () => {
      const team = await b.createTeam({ name: 't', budgetUsd: 1, budgetPeriod: 'month' });
      const { key } = await b.createKey({ name: 'k', teamId: team.id, rpm: 10 });
      await within(1000, () => {
        for (const t of [a, c]) expect(t.key(key.id).rpm).toBe(10);
      });
      await a.updateTeam(team.id, { budgetUsd: 2.5 });
      await a.updateKey(key.id, { rpm: 20, allowedModels: ['x/*'] });
      await within(1000, () => {
        for (const t of [b, c]) {
          expect(t.team(team.id).budgetUsd).toBe(2.5);
          expect(t.key(key.id)).toMatchObject({ rpm: 20, allowedModels: ['x/*'] });
        }
      });
      await c.revokeKey(key.id);
      await within(1000, () => expect(a.key(key.id).revokedAt).toBeDefined());
      await a.deleteTeam(team.id);
      await within(1000, () => {
        for (const t of [b, c]) expect(refusal(() => t.team(team.id))).toBe('team_not_found');
      });
    });

    it('a dropped feed connection reconnects and catches up on what it missed', async () => {
      const { secret, key } = await a.createKey({ name: 'k' });
      const other = await a.createKey({ name: 'other' });
      await within(1000, () => expect(b.authenticate(bearer(secret)).kind).toBe('key'));
      const feedB = replicas[1]!.feed;
      expect(feedB.connections).toBe(1);

      await kind.drop(db, 'b');
      // B listens to nothing now (it waits at least half a second before reconnecting): these
      // notices are lost to it.
      await a.revokeKey(key.id);
      await a.updateKey(other.key.id, { tpm: 77 });
      await within(3000, () => {
        expect(feedB.connections).toBe(2);
        expect(refusal(() => b.authenticate(bearer(secret)))).toBe('key_revoked');
        expect(b.key(other.key.id).tpm).toBe(77);
      });
      // And it hears changes again.
      await a.updateKey(other.key.id, { tpm: 78 });
      await within(1000, () => expect(b.key(other.key.id).tpm).toBe(78));
      // C never lost its connection and heard everything as it happened.
      expect((replicas[2]!.feed).connections).toBe(1);
      expect(c.key(other.key.id).tpm).toBe(78);
    });

    it('a feed connection gone silent is noticed by its heartbeat, made again, and catches up', async () => {
      const { secret, key } = await a.createKey({ name: 'k' });
      await within(1000, () => expect(b.authenticate(bearer(secret)).kind).toBe('key'));
      proxy.silence();
      await a.revokeKey(key.id);
      await within(4000, () => {
        expect(replicas[1]!.feed.connections).toBe(2);
        expect(refusal(() => b.authenticate(bearer(secret)))).toBe('key_revoked');
      });
    });
  });
}

describe('a key another hub just made, before its notice arrives', () => {
  let db: TestDatabase;
  let stores: PostgresStores;
  let lookups: string[];
  /** While set, the store's hash lookups fail as an unreachable database's would. */
  let storeDown = false;
  let hubs: Tenancy[];
  /** A feed that never delivers: only the store lookup can find a key made elsewhere. */
  const silent: TenancyFeed = { publish: async () => undefined, subscribe: () => () => undefined };

  beforeEach(async () => {
    db = await createTestDatabase();
    stores = await openPostgresStores(db.url, { poolSize: 3 });
    lookups = [];
    storeDown = false;
    hubs = [];
  });

  afterEach(async () => {
    for (const t of hubs) t.close();
    await stores.close();
    await db.drop();
  });

  function counting(store: TenancyStore): TenancyStore {
    return new Proxy(store, {
      get: (target, prop, receiver) => {
        const v = Reflect.get(target, prop, receiver) as unknown;
        if (prop === 'keyByHash') {
          return (hash: string) => {
            lookups.push(hash);
            return storeDown ? Promise.reject(new Error('connection refused')) : store.keyByHash(hash);
          };
        }
        return typeof v === 'function' ? v.bind(target) : v;
      },
    });
  }

  async function hub(o: TenancyOptions = {}) {
    const { tenancy } = await Tenancy.open(counting(stores.tenancy), ADMIN, true, { feed: silent, ...o });
    hubs.push(tenancy);
    return tenancy;
  }

  it('is looked up in the store once, then cached', async () => {
    const maker = await hub();
    const other = await hub();
    const { secret, key } = await maker.createKey({ name: 'k' });
    expect(refusal(() => other.authenticate(bearer(secret)))).toBe('invalid_api_key');
    const all = await Promise.all(Array.from({ length: 20 }, () => other.authenticateShared(bearer(secret))));
    expect(all.every((p) => p.kind === 'key' && p.key.id === key.id)).toBe(true);
    expect(lookups).toHaveLength(1);
    expect(other.authenticateShared(bearer(secret))).toMatchObject({ kind: 'key' });
    expect(lookups).toHaveLength(1);
  });

  it('an unknown key is refused, and asked about again only once its miss has expired', async () => {
    const t = await hub({ missTtlMs: 300 });
    const bad = bearer('sk-baimo-not-a-key-000000000000000000');
    for (let i = 0; i < 30; i++) await expect(t.authenticateShared(bad)).rejects.toMatchObject({ code: 'invalid_api_key' });
    expect(lookups).toHaveLength(1);
    await sleep(350);
    await expect(t.authenticateShared(bad)).rejects.toMatchObject({ code: 'invalid_api_key' });
    expect(lookups).toHaveLength(2);
  });

  it('a flood of different bad keys reaches the store a few times a second at most', async () => {
    const t = await hub({ missLookupsPerSecond: 5 });
    const tries = Array.from({ length: 100 }, (_, i) => t.authenticateShared(bearer(`sk-baimo-bad-${i}-${'0'.repeat(24)}`)));
    const results = await Promise.allSettled(tries);
    expect(results.every((r) => r.status === 'rejected' && (r.reason as HubError).code === 'invalid_api_key')).toBe(true);
    // Five per second; ten if the burst straddled a second's turn.
    expect(lookups.length).toBeGreaterThanOrEqual(5);
    expect(lookups.length).toBeLessThanOrEqual(10);
  });

  it('a store that cannot answer gets the key refused (401, not 500), and asked again next time', async () => {
    const maker = await hub();
    const other = await hub();
    const { secret } = await maker.createKey({ name: 'k' });
    storeDown = true;
    await expect(other.authenticateShared(bearer(secret))).rejects.toMatchObject({ code: 'invalid_api_key' });
    storeDown = false;
    await expect(other.authenticateShared(bearer(secret))).resolves.toMatchObject({ kind: 'key' });
    expect(lookups).toHaveLength(2);
  });

  it('a change whose notice could not be sent still succeeds, and reaches the others at their periodic reload', async () => {
    const broken: TenancyFeed = { publish: async () => Promise.reject(new Error('feed down')), subscribe: () => () => undefined };
    const warnings: string[] = [];
    const onWarning = (w: Error) => warnings.push(w.message);
    process.on('warning', onWarning);
    try {
      const maker = await hub({ feed: broken });
      const other = await hub({ reloadEveryMs: 100 });
      const { secret, key } = await maker.createKey({ name: 'k' });
      await within(2000, () => expect(other.authenticate(bearer(secret)).kind).toBe('key'));
      await maker.revokeKey(key.id);
      await within(2000, () => expect(refusal(() => other.authenticate(bearer(secret)))).toBe('key_revoked'));
      await within(1000, () => expect(warnings.some((w) => w.includes(`key ${key.id} changed`))).toBe(true));
    } finally {
      process.off('warning', onWarning);
    }
  });

  it('without a feed, authentication never reaches the store', async () => {
    const maker = await hub();
    const alone = (await Tenancy.open(counting(stores.tenancy), ADMIN, true)).tenancy;
    const { secret } = await maker.createKey({ name: 'k' });
    expect(() => alone.authenticateShared(bearer(secret))).toThrow(HubError);
    expect(lookups).toEqual([]);
  });
});

describe('a feed that cannot connect', () => {
  it('fails to open, so a hub that could not hear changes does not start', async () => {
    const pool = new pg.Pool({ connectionString: 'postgres://postgres@127.0.0.1:1/none' });
    try {
      await expect(PostgresTenancyFeed.open('postgres://postgres@127.0.0.1:1/none', pool)).rejects.toThrow();
    } finally {
      await pool.end();
    }
    await expect(RedisTenancyFeed.open('redis://127.0.0.1:1')).rejects.toThrow();
  });
});
