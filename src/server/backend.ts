/**
 * The storage a hub stands on, chosen by its settings: the embedded SQLite store (the default,
 * one process) or the shared one, PostgreSQL with Redis where given (several replicas). Each
 * backend brings its stores, where the usage recorder's batches go, the budget ledger, the rate
 * limits and, when shared, the feed that tells replicas of key and team changes. The rest of the
 * hub sees only the ports, so it cannot tell them apart.
 */
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { DataDirError, lockDataDir, prepareDataDir } from '../store/data-dir.js';
import { DatabaseSchemaError, displayUrl, maskPassword } from '../store/postgres/schema.js';
import { openPostgresStores } from '../store/postgres/index.js';
import type { PostgresStores } from '../store/postgres/index.js';
import { PostgresTenancyFeed } from '../store/postgres/feed.js';
import { PostgresBudgetLedger } from '../store/postgres/ledger.js';
import { PostgresRateLimits } from '../store/postgres/rate-limits.js';
import { RedisTenancyFeed } from '../store/redis/feed.js';
import { RedisLimits, spendLoader } from '../store/redis/index.js';
import { openSQLiteStores, UsageWriter } from '../store/sqlite/index.js';
import type { SQLiteStores } from '../store/sqlite/index.js';
import { Ledger } from '../tenancy/ledger.js';
import type { BudgetLedger, RateLimits, SpendReader, TenancyFeed, TenancyStore } from '../tenancy/ports.js';
import { RateLimiter } from '../tenancy/rate-limits.js';
import type { UsageStore } from '../usage/ports.js';
import type { UsageRecord, UsageSink } from '../usage/record.js';

/** What the host needs of any backend's stores. */
export interface BackendStores {
  readonly usage: Pick<UsageStore, 'writeUsage'>;
  readonly tenancy: TenancyStore;
}

export interface Backend<S extends BackendStores = BackendStores> {
  readonly stores: S;
  /** Where the usage recorder hands its batches. */
  readonly sink: UsageSink;
  readonly ledger: BudgetLedger;
  readonly limiter: RateLimits;
  /** How this hub hears other hubs' key and team changes; none for a store no one else uses. */
  readonly feed: TenancyFeed | undefined;
  /**
   * Closes the sink (after the recorder has drained into it), waits for writes behind (settles,
   * token corrections), then closes every connection and releases the data directory.
   */
  close(): Promise<void>;
}

export type EmbeddedBackend = Backend<SQLiteStores> & { readonly kind: 'sqlite' };
export type SharedBackend = Backend<PostgresStores> & { readonly kind: 'postgres'; readonly redis: boolean };

/** A shared store the hub could not open at start: one line for the operator, the URL's password masked. */
export class StoreUnreachableError extends DataDirError {
  constructor(message: string) {
    super(message);
    this.name = 'StoreUnreachableError';
  }
}

function unreachable(what: string, url: string, err: unknown, setting: string): StoreUnreachableError {
  const e = err as { message?: string; code?: string };
  const detail = maskPassword(e.message || e.code || String(err), url).replace(/\.$/, '');
  return new StoreUnreachableError(`could not open ${what} at ${displayUrl(url)}: ${detail}. Check ${setting} and that the server is up and reachable.`);
}

/** The in-process ledger over an embedded store's spend (read synchronously, once per account and period). */
function localLedger(spend: SpendReader): Ledger {
  return new Ledger((account, _period, since) => {
    const [kind, id] = account.split(':') as ['key' | 'team', string];
    return spend.spendOf(kind, id, since);
  });
}

/**
 * The embedded backend: SQLite in the data directory (its lock taken: a second hub on it is
 * refused), usage written by a writer thread, limits and budgets in this process's memory.
 */
export function openEmbedded(dataDir: string, o: { readonly writer?: 'thread' | 'inline' } = {}): EmbeddedBackend {
  const stores = openSQLiteStores(dataDir);
  try {
    // The CLI writes its few records inline: a thread is worth starting for a hub, not for one call.
    const sink: UsageSink & { close?(): Promise<void> } =
      o.writer === 'inline'
        ? { writeUsageLines: (jsonl) => stores.usage.writeUsage(jsonl.split('\n').map((l) => JSON.parse(l) as UsageRecord)) }
        : new UsageWriter(stores.path);
    return {
      kind: 'sqlite',
      stores,
      sink,
      ledger: localLedger(stores.tenancy),
      limiter: new RateLimiter(),
      feed: undefined,
      async close() {
        try {
          await sink.close?.();
        } finally {
          stores.close();
        }
      },
    };
  } catch (err) {
    stores.close();
    throw err;
  }
}

/**
 * The shared backend: every durable thing in PostgreSQL (migrated on open, under an advisory
 * lock); with Redis, rate windows, budget reservations and the change feed there; without it,
 * the same through PostgreSQL (row locks, LISTEN/NOTIFY): exact, slower.
 */
export async function openShared(dataDir: string, databaseUrl: string, redisUrl: string | undefined): Promise<SharedBackend> {
  // The data directory holds this replica's journal: a second process on it is refused, as for the embedded store.
  prepareDataDir(dataDir);
  const unlock = lockDataDir(dataDir);
  let stores: PostgresStores;
  try {
    stores = await openPostgresStores(databaseUrl);
  } catch (err) {
    unlock();
    if (err instanceof DatabaseSchemaError) throw err;
    throw unreachable('PostgreSQL', databaseUrl, err, 'BAIMO_DATABASE_URL (or store.url)');
  }
  const opened: { close(): Promise<unknown> }[] = [];
  try {
    const load = spendLoader((kind, id, since) => stores.tenancy.spend(kind, id, since));
    let ledger: RedisLimits | PostgresBudgetLedger;
    let limiter: RedisLimits | PostgresRateLimits;
    let feed: TenancyFeed & { close(): Promise<unknown> };
    if (redisUrl) {
      // Every hub on this database shares one Redis namespace; hubs of another database on the same
      // Redis (staging beside production, or tests) never see its keys, windows or changes.
      const id = await stores.tenancy.claimSetting('redis_namespace', randomBytes(6).toString('hex'));
      const prefix = `baimo:{${id}}:`;
      // A request waits for Redis at most one retry: past that it is refused (503), never queued unboundedly.
      // Auto-pipelining: the commands of every request in one event-loop turn go in one write (a write per
      // command was the replica's largest CPU cost under load).
      const redis = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1, connectionName: 'baimo-limits', keepAlive: 10_000, enableAutoPipelining: true });
      // Reconnected by ioredis; a request meanwhile gets the error. The last one says why a first connect failed.
      let lastError: unknown;
      redis.on('error', (err: unknown) => void (lastError = err));
      opened.push({ close: () => redis.quit().catch(() => redis.disconnect()) });
      await redis.connect().catch((err: unknown) => {
        throw unreachable('Redis', redisUrl, lastError ?? err, 'BAIMO_REDIS_URL (or redis.url)');
      });
      // One object for both: admission then checks the rate and reserves the budget in one script call.
      const limits = new RedisLimits(redis, load, { prefix });
      ledger = limits;
      limiter = limits;
      await limits.ready();
      feed = await RedisTenancyFeed.open(redisUrl, { channel: `${prefix}tenancy` }).catch((err: unknown) => {
        throw unreachable('Redis', redisUrl, err, 'BAIMO_REDIS_URL (or redis.url)');
      });
    } else {
      ledger = new PostgresBudgetLedger(stores.pool, load);
      limiter = new PostgresRateLimits(stores.pool);
      feed = await PostgresTenancyFeed.open(databaseUrl, stores.pool);
    }
    opened.unshift(feed);
    return {
      kind: 'postgres',
      redis: redisUrl !== undefined,
      stores,
      sink: stores.sink,
      ledger,
      limiter,
      feed,
      async close() {
        await Promise.allSettled([ledger.flush(), limiter.flush()]);
        for (const o of opened) await o.close().catch(() => undefined);
        try {
          await stores.close();
        } finally {
          unlock();
        }
      },
    };
  } catch (err) {
    for (const o of opened) await o.close().catch(() => undefined);
    await stores.close();
    unlock();
    throw err;
  }
}
