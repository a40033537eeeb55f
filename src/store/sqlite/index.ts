import { chmodSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import type Database from 'better-sqlite3';
import type { UsageRow } from '../../usage/ports.js';
import { FILE_MODE, lockDataDir, prepareDataDir, privateFile } from '../data-dir.js';
import { SQLiteEvalRunStore } from './eval-runs.js';
import { SQLiteFileStore } from './files.js';
import { SQLiteChunkIndex } from './knowledge-index.js';
import { SQLiteResponseStore } from './responses.js';
import { openDatabase } from './schema.js';
import { SQLiteTenancyStore } from './tenancy.js';
import { SQLiteVectorStoreStore } from './vector-stores.js';
import { SQLiteUsageStore } from './usage.js';

export { SCHEMA_VERSION } from './schema.js';
export { UsageWriter } from './usage-writer.js';

/** The embedded store's port implementations, over one SQLite connection. */
export interface SQLiteStores {
  readonly kind: 'sqlite';
  /** The database file. */
  readonly path: string;
  /** The connection, for inspection (tests, debugging); the ports are the way in. */
  readonly db: Database.Database;
  readonly usage: SQLiteUsageStore;
  readonly tenancy: SQLiteTenancyStore;
  readonly responses: SQLiteResponseStore;
  readonly files: SQLiteFileStore;
  readonly evalRuns: SQLiteEvalRunStore;
  /** Human judgements (the arena's votes): the eval store again, through its judgement port. */
  readonly judgements: SQLiteEvalRunStore;
  readonly vectorStores: SQLiteVectorStoreStore;
  readonly knowledge: SQLiteChunkIndex;
  /** Most recent usage rows first (inspection only). */
  recentUsage(limit?: number): UsageRow[];
  /**
   * Deletes usage records older than `usageBefore`, and captured bodies, traces and stored
   * responses older than `bodiesBefore` (unix ms).
   */
  prune(usageBefore: number | undefined, bodiesBefore: number | undefined): Promise<{ usage: number; bodies: number }>;
  /** Closes the connection and releases the data directory's lock. */
  close(): void;
}

/** The port implementations over the database at `path` (no data-directory lock: see openSQLiteStores). */
function openSQLiteFile(path: string, unlock?: () => void): SQLiteStores {
  const db = openDatabase(path);
  const usage = new SQLiteUsageStore(db);
  const responses = new SQLiteResponseStore(db);
  const evalRuns = new SQLiteEvalRunStore(db);
  let release = unlock;
  return {
    kind: 'sqlite',
    path,
    db,
    usage,
    tenancy: new SQLiteTenancyStore(db),
    responses,
    files: new SQLiteFileStore(db),
    evalRuns,
    judgements: evalRuns,
    vectorStores: new SQLiteVectorStoreStore(db),
    knowledge: new SQLiteChunkIndex(db),
    recentUsage: (limit) => usage.recent(limit),
    async prune(usageBefore, bodiesBefore) {
      const removed = await usage.prune(usageBefore, bodiesBefore);
      if (bodiesBefore !== undefined) await responses.prune(bodiesBefore);
      return removed;
    },
    close() {
      try {
        db.close();
      } finally {
        release?.();
        release = undefined;
      }
    },
  };
}

/**
 * Opens the data directory's store: the directory made private (0700), this hub's lock taken
 * (a second hub on the same directory is refused), and the database created 0600 — SQLite
 * gives its WAL and shared-memory files the database file's mode.
 */
export function openSQLiteStores(dataDir: string): SQLiteStores {
  prepareDataDir(dataDir);
  const unlock = lockDataDir(dataDir);
  try {
    const path = join(dataDir, 'baimo.db');
    privateFile(path);
    // Files left by an older hub that made them world-readable.
    for (const f of [`${path}-wal`, `${path}-shm`, `${path}-journal`]) if (existsSync(f)) chmodSync(f, FILE_MODE);
    return openSQLiteFile(path, unlock);
  } catch (err) {
    unlock();
    throw err;
  }
}
