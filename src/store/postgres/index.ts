import pg from 'pg';
import type { UsageRow } from '../../usage/ports.js';
import type { UsageSink } from '../../usage/record.js';
import { PostgresEvalRunStore } from './eval-runs.js';
import { PostgresFileStore } from './files.js';
import { PostgresChunkIndex } from './knowledge-index.js';
import { PostgresResponseStore } from './responses.js';
import { CONNECT_TIMEOUT_MS, DELETE_BATCH, displayUrl, migrate, TYPES } from './schema.js';
import { PostgresTenancyStore } from './tenancy.js';
import { PostgresVectorStoreStore } from './vector-stores.js';
import { PostgresUsageStore } from './usage.js';
import { PostgresUsageWriter } from './usage-writer.js';

export { DatabaseSchemaError, MIGRATION_LOCK, SCHEMA_VERSION } from './schema.js';

/** The shared store's port implementations, over one connection pool: shaped like SQLiteStores. */
export interface PostgresStores {
  readonly kind: 'postgres';
  /** The database URL, its password masked. */
  readonly url: string;
  /** The pool, for inspection (tests, debugging); the ports are the way in. */
  readonly pool: pg.Pool;
  /** How many migrations opening the database applied (0 when it was up to date). */
  readonly migrated: number;
  readonly usage: PostgresUsageStore;
  readonly tenancy: PostgresTenancyStore;
  readonly responses: PostgresResponseStore;
  readonly files: PostgresFileStore;
  readonly evalRuns: PostgresEvalRunStore;
  /** Human judgements (the arena's votes): the eval store again, through its judgement port. */
  readonly judgements: PostgresEvalRunStore;
  readonly vectorStores: PostgresVectorStoreStore;
  /** The knowledge bases' chunk index (keyword always; vectors where the server has pgvector). */
  readonly knowledge: PostgresChunkIndex;
  /**
   * Where the usage recorder hands its batches: a thread of its own with its own small pool
   * (usage-writer.ts), started by the first batch, running the usage store's batch statement.
   */
  readonly sink: UsageSink;
  /** Most recent usage rows first (inspection only). */
  recentUsage(limit?: number): Promise<UsageRow[]>;
  /**
   * Deletes usage records older than `usageBefore`, and captured bodies, traces and stored
   * responses older than `bodiesBefore` (unix ms), in batches.
   */
  prune(usageBefore: number | undefined, bodiesBefore: number | undefined): Promise<{ usage: number; bodies: number }>;
  /** Waits for queries and usage writes under way, then closes every connection and ends the writer's thread. */
  close(): Promise<void>;
}

export interface PostgresOptions {
  /** Connections in the pool (default 10). */
  readonly poolSize?: number;
  /** Rows per delete statement when pruning (default 5000). */
  readonly deleteBatch?: number;
}

/**
 * Opens the PostgreSQL database at `url` and brings its schema up to date (under an advisory
 * lock: replicas starting together apply each migration once); refuses a schema newer than this
 * Baimo's with a DatabaseSchemaError, changing nothing.
 */
export async function openPostgresStores(url: string, o: PostgresOptions = {}): Promise<PostgresStores> {
  const pool = new pg.Pool({ connectionString: url, max: o.poolSize ?? 10, types: TYPES, application_name: 'baimo', connectionTimeoutMillis: CONNECT_TIMEOUT_MS });
  // An idle connection the server dropped (restart, failover) must not crash the process: the
  // pool opens another when one is needed, and a write that fails is retried by the recorder.
  pool.on('error', (err) => process.emitWarning(`PostgreSQL connection lost (${err.message}); reconnecting when next needed`));
  let migrated: number;
  try {
    migrated = await migrate(pool, url);
  } catch (err) {
    await pool.end();
    throw err;
  }
  const batch = o.deleteBatch ?? DELETE_BATCH;
  const usage = new PostgresUsageStore(pool, batch);
  const responses = new PostgresResponseStore(pool, batch);
  const evalRuns = new PostgresEvalRunStore(pool);
  // Started after the migrations: the thread only ever writes to an up-to-date schema.
  const sink = new PostgresUsageWriter(url);
  let closing: Promise<void> | undefined;
  return {
    kind: 'postgres',
    url: displayUrl(url),
    pool,
    migrated,
    usage,
    tenancy: new PostgresTenancyStore(pool),
    responses,
    files: new PostgresFileStore(pool),
    evalRuns,
    judgements: evalRuns,
    vectorStores: new PostgresVectorStoreStore(pool),
    knowledge: new PostgresChunkIndex(pool),
    sink,
    recentUsage: (limit) => usage.recent(limit),
    async prune(usageBefore, bodiesBefore) {
      const removed = await usage.prune(usageBefore, bodiesBefore);
      if (bodiesBefore !== undefined) await responses.prune(bodiesBefore);
      return removed;
    },
    close: () => (closing ??= Promise.all([sink.close(), pool.end()]).then(() => undefined)),
  };
}
