import type Database from 'better-sqlite3';
import type {
  Attributes, FileBatchRow, FileCounts, FileOwner, FileStatus, JobOutcome, Page, PageQuery, StorePatch, VectorStoreFileRow, VectorStoreRow, VectorStoreStore,
} from '../../knowledge/ports.js';
import { batchFrom, countsFrom, FILE_COLUMNS, fileFrom, fileValues, STORE_COLUMNS, storeFrom, storeValues } from '../vector-store-rows.js';
import type { BatchRow, FileRow, StoreRow } from '../vector-store-rows.js';
import { statementCache } from './schema.js';

/**
 * A page in (created_at, id) order: `after` the cursor in the list's order, or `before` it (read
 * backwards from the cursor, then turned round). `where` holds the page's fixed conditions.
 */
function pageSQL(table: string, columns: string, idColumn: string, where: string, q: PageQuery, cursor: { created_at: number; id: string } | undefined): { sql: string; params: unknown[]; reversed: boolean } {
  const reversed = q.before !== undefined && q.after === undefined;
  const ascending = (q.order === 'asc') !== reversed;
  const params: unknown[] = [];
  let cond = where;
  if (cursor) {
    cond += ` AND (created_at, ${idColumn}) ${ascending ? '>' : '<'} (?, ?)`;
    params.push(cursor.created_at, cursor.id);
  }
  const dir = ascending ? 'ASC' : 'DESC';
  return { sql: `SELECT ${columns} FROM ${table} WHERE ${cond} ORDER BY created_at ${dir}, ${idColumn} ${dir} LIMIT ?`, params: [...params, q.limit + 1], reversed };
}

function paged<R, T>(rows: R[], limit: number, reversed: boolean, conv: (r: R) => T): Page<T> {
  const data = rows.slice(0, limit).map(conv);
  return { data: reversed ? data.reverse() : data, hasMore: rows.length > limit };
}

/** Vector stores' metadata and their ingestion jobs in the embedded store. */
export class SQLiteVectorStoreStore implements VectorStoreStore {
  // Every write transaction is IMMEDIATE: one that read first and then writes would get
  // SQLITE_BUSY at once, without waiting, when the usage writer's thread wrote in between.
  private readonly statement: (sql: string) => Database.Statement;
  /**
   * Fair ingestion: each key's turn, the order in which keys' jobs were last claimed (higher:
   * served more recently; '' is the admin or an open hub). In memory: one process holds the data
   * directory, and after a restart every key starts even.
   */
  private readonly turns = new Map<string, number>();
  private lastTurn = 0;

  constructor(private readonly db: Database.Database) {
    this.statement = statementCache(db);
  }

  private insertFiles(files: readonly VectorStoreFileRow[]): void {
    const s = this.statement(
      `INSERT INTO vector_store_files (${FILE_COLUMNS}, lease_until) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0)
  ON CONFLICT (vector_store_id, file_id) DO NOTHING`,
    );
    for (const f of files) s.run(...fileValues(f));
  }

  async create(store: VectorStoreRow, files: readonly VectorStoreFileRow[]): Promise<void> {
    this.db.transaction(() => {
      this.statement(`INSERT INTO vector_stores (${STORE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`).run(...storeValues(store).map((v) => (typeof v === 'boolean' ? Number(v) : v)));
      this.insertFiles(files);
    }).immediate();
  }

  async get(id: string, owner: FileOwner): Promise<VectorStoreRow | undefined> {
    const row = (owner === undefined
      ? this.statement(`SELECT ${STORE_COLUMNS} FROM vector_stores WHERE id = ?`).get(id)
      : this.statement(`SELECT ${STORE_COLUMNS} FROM vector_stores WHERE id = ? AND key_id = ?`).get(id, owner)) as StoreRow | undefined;
    return row && storeFrom(row);
  }

  async list(owner: FileOwner, q: PageQuery): Promise<Page<VectorStoreRow>> {
    const own = owner === undefined ? { sql: '1 = 1', params: [] as unknown[] } : { sql: 'key_id = ?', params: [owner] as unknown[] };
    const cursorId = q.after ?? q.before;
    let cursor: { created_at: number; id: string } | undefined;
    if (cursorId !== undefined) {
      cursor = this.statement(`SELECT created_at, id FROM vector_stores WHERE id = ? AND ${own.sql}`).get(cursorId, ...own.params) as typeof cursor;
      if (!cursor) return { data: [], hasMore: false };
    }
    const p = pageSQL('vector_stores', STORE_COLUMNS, 'id', own.sql, q, cursor);
    return paged(this.statement(p.sql).all(...own.params, ...p.params) as StoreRow[], q.limit, p.reversed, storeFrom);
  }

  async update(id: string, patch: StorePatch): Promise<void> {
    const sets: string[] = [];
    const params: unknown[] = [];
    const set = (column: string, v: unknown) => {
      sets.push(`${column} = ?`);
      params.push(v);
    };
    if (patch.name !== undefined) set('name', patch.name);
    if (patch.metadata !== undefined) set('metadata', patch.metadata === null ? null : JSON.stringify(patch.metadata));
    if (patch.expiresAfterDays !== undefined) set('expires_after_days', patch.expiresAfterDays);
    if (patch.expiresAt !== undefined) set('expires_at', patch.expiresAt);
    if (patch.lastActiveAt !== undefined) set('last_active_at', patch.lastActiveAt);
    if (sets.length) this.db.prepare(`UPDATE vector_stores SET ${sets.join(', ')} WHERE id = ?`).run(...params, id);
  }

  async setEmbeddingModel(id: string, model: string | null): Promise<void> {
    this.statement('UPDATE vector_stores SET embedding_model = ? WHERE id = ?').run(model, id);
  }

  async delete(id: string, owner: FileOwner): Promise<boolean> {
    return this.db.transaction(() => {
      const gone = (owner === undefined
        ? this.statement('DELETE FROM vector_stores WHERE id = ?').run(id)
        : this.statement('DELETE FROM vector_stores WHERE id = ? AND key_id = ?').run(id, owner)
      ).changes > 0;
      // Foreign keys are not enforced on this connection: the rest goes by hand.
      if (gone) {
        this.statement('DELETE FROM vector_store_files WHERE vector_store_id = ?').run(id);
        this.statement('DELETE FROM vector_store_file_batches WHERE vector_store_id = ?').run(id);
      }
      return gone;
    }).immediate();
  }

  async counts(ids: readonly string[]): Promise<Map<string, FileCounts & { usageBytes: number }>> {
    const out = new Map<string, FileCounts & { usageBytes: number }>();
    const s = this.statement('SELECT status, count(*) AS n, sum(usage_bytes) AS bytes FROM vector_store_files WHERE vector_store_id = ? GROUP BY status');
    for (const id of ids) {
      const rows = s.all(id) as { status: string; n: number; bytes: number }[];
      if (rows.length) out.set(id, { ...countsFrom(rows), usageBytes: rows.reduce((a, r) => a + Number(r.bytes), 0) });
    }
    return out;
  }

  async addFiles(files: readonly VectorStoreFileRow[], batch?: FileBatchRow): Promise<void> {
    this.db.transaction(() => {
      if (batch) this.statement('INSERT INTO vector_store_file_batches (id, vector_store_id, created_at, cancelled_at) VALUES (?, ?, ?, ?)').run(batch.id, batch.vectorStoreId, batch.createdAt, batch.cancelledAt);
      this.insertFiles(files);
    }).immediate();
  }

  async getFile(vectorStoreId: string, fileId: string): Promise<VectorStoreFileRow | undefined> {
    const row = this.statement(`SELECT ${FILE_COLUMNS} FROM vector_store_files WHERE vector_store_id = ? AND file_id = ?`).get(vectorStoreId, fileId) as FileRow | undefined;
    return row && fileFrom(row);
  }

  async listFiles(vectorStoreId: string, q: PageQuery & { status?: FileStatus; batchId?: string }): Promise<Page<VectorStoreFileRow>> {
    let where = 'vector_store_id = ?';
    const params: unknown[] = [vectorStoreId];
    if (q.status !== undefined) {
      where += ' AND status = ?';
      params.push(q.status);
    }
    if (q.batchId !== undefined) {
      where += ' AND batch_id = ?';
      params.push(q.batchId);
    }
    const cursorId = q.after ?? q.before;
    let cursor: { created_at: number; id: string } | undefined;
    if (cursorId !== undefined) {
      cursor = this.statement('SELECT created_at, file_id AS id FROM vector_store_files WHERE vector_store_id = ? AND file_id = ?').get(vectorStoreId, cursorId) as typeof cursor;
      if (!cursor) return { data: [], hasMore: false };
    }
    const p = pageSQL('vector_store_files', FILE_COLUMNS, 'file_id', where, q, cursor);
    return paged(this.statement(p.sql).all(...params, ...p.params) as FileRow[], q.limit, p.reversed, fileFrom);
  }

  async searchable(vectorStoreIds: readonly string[]): Promise<VectorStoreFileRow[]> {
    const s = this.statement(`SELECT ${FILE_COLUMNS} FROM vector_store_files WHERE vector_store_id = ? AND status = 'completed'`);
    return vectorStoreIds.flatMap((id) => (s.all(id) as FileRow[]).map(fileFrom));
  }

  async setAttributes(vectorStoreId: string, fileId: string, attributes: Attributes | null): Promise<boolean> {
    return this.statement('UPDATE vector_store_files SET attributes = ? WHERE vector_store_id = ? AND file_id = ?').run(attributes === null ? null : JSON.stringify(attributes), vectorStoreId, fileId).changes > 0;
  }

  async removeFile(vectorStoreId: string, fileId: string): Promise<boolean> {
    return this.statement('DELETE FROM vector_store_files WHERE vector_store_id = ? AND file_id = ?').run(vectorStoreId, fileId).changes > 0;
  }

  async getBatch(vectorStoreId: string, batchId: string): Promise<FileBatchRow | undefined> {
    const row = this.statement('SELECT id, vector_store_id, created_at, cancelled_at FROM vector_store_file_batches WHERE id = ? AND vector_store_id = ?').get(batchId, vectorStoreId) as BatchRow | undefined;
    return row && batchFrom(row);
  }

  async batchCounts(batchId: string): Promise<FileCounts> {
    return countsFrom(this.statement('SELECT status, count(*) AS n FROM vector_store_files WHERE batch_id = ? GROUP BY status').all(batchId) as { status: string; n: number }[]);
  }

  async cancelBatch(vectorStoreId: string, batchId: string, now: number): Promise<string[]> {
    return this.db.transaction(() => {
      this.statement('UPDATE vector_store_file_batches SET cancelled_at = coalesce(cancelled_at, ?) WHERE id = ? AND vector_store_id = ?').run(now, batchId, vectorStoreId);
      const rows = this.statement(`UPDATE vector_store_files SET status = 'cancelled' WHERE batch_id = ? AND vector_store_id = ? AND status = 'in_progress' RETURNING file_id`).all(batchId, vectorStoreId) as { file_id: string }[];
      return rows.map((r) => r.file_id);
    }).immediate();
  }

  // Exports for `baimo migrate --from sqlite` (store/postgres/copy-from-sqlite.ts): every row, in
  // key order after a cursor, whatever its owner or expiry.

  /** Stores after `after` (an id; '' from the start), by id. */
  exportStores(after: string, limit: number): VectorStoreRow[] {
    return (this.statement(`SELECT ${STORE_COLUMNS} FROM vector_stores WHERE id > ? ORDER BY id LIMIT ?`).all(after, limit) as StoreRow[]).map(storeFrom);
  }

  /** Batches after `after` (an id; '' from the start), by id. */
  exportBatches(after: string, limit: number): FileBatchRow[] {
    return (this.statement('SELECT id, vector_store_id, created_at, cancelled_at FROM vector_store_file_batches WHERE id > ? ORDER BY id LIMIT ?').all(after, limit) as BatchRow[]).map(batchFrom);
  }

  /** Files after the (store, file) cursor (undefined from the start), by store then file. */
  exportFiles(after: { readonly vectorStoreId: string; readonly fileId: string } | undefined, limit: number): VectorStoreFileRow[] {
    const c = after ?? { vectorStoreId: '', fileId: '' };
    return (this.statement(`SELECT ${FILE_COLUMNS} FROM vector_store_files WHERE (vector_store_id, file_id) > (?, ?) ORDER BY vector_store_id, file_id LIMIT ?`).all(c.vectorStoreId, c.fileId, limit) as FileRow[]).map(fileFrom);
  }

  exportCounts(): { stores: number; files: number; batches: number } {
    return this.statement(
      'SELECT (SELECT count(*) FROM vector_stores) AS stores, (SELECT count(*) FROM vector_store_files) AS files, (SELECT count(*) FROM vector_store_file_batches) AS batches',
    ).get() as { stores: number; files: number; batches: number };
  }

  async claim(now: number, leaseUntil: number, limit: number): Promise<VectorStoreFileRow[]> {
    const n = Math.max(0, Math.floor(limit));
    if (n === 0) return [];
    return this.db.transaction(() => {
      // Round robin by key, as the shared store does: every key's oldest open job first, the key
      // served least recently (never served: first) before the others, then every key's second
      // job, and so on. Only each key's first n jobs can be among n picks.
      const open = this.statement(
        `SELECT rid, owner, created_at, nth FROM (
           SELECT rowid AS rid, coalesce(key_id, '') AS owner, created_at,
                  row_number() OVER (PARTITION BY coalesce(key_id, '') ORDER BY created_at, rowid) AS nth
           FROM vector_store_files WHERE status = 'in_progress' AND lease_until < ?)
         WHERE nth <= ?`,
      ).all(now, n) as { rid: number; owner: string; created_at: number; nth: number }[];
      const turn = (owner: string) => this.turns.get(owner) ?? -1;
      open.sort((a, b) => a.nth - b.nth || turn(a.owner) - turn(b.owner) || a.created_at - b.created_at || a.rid - b.rid);
      const take = this.statement(`UPDATE vector_store_files SET lease_until = ? WHERE rowid = ? RETURNING ${FILE_COLUMNS}`);
      const out: VectorStoreFileRow[] = [];
      for (const job of open.slice(0, n)) {
        const row = take.get(leaseUntil, job.rid) as FileRow | undefined;
        if (!row) continue;
        this.turns.set(job.owner, ++this.lastTurn);
        out.push(fileFrom(row));
      }
      return out;
    }).immediate();
  }

  async renew(vectorStoreId: string, fileId: string, leaseUntil: number): Promise<boolean> {
    return this.statement(`UPDATE vector_store_files SET lease_until = ? WHERE vector_store_id = ? AND file_id = ? AND status = 'in_progress'`).run(leaseUntil, vectorStoreId, fileId).changes > 0;
  }

  async finish(vectorStoreId: string, fileId: string, outcome: JobOutcome): Promise<boolean> {
    const r =
      outcome.status === 'completed'
        ? this.statement(`UPDATE vector_store_files SET status = 'completed', usage_bytes = ?, lease_until = 0 WHERE vector_store_id = ? AND file_id = ? AND status = 'in_progress'`).run(outcome.usageBytes, vectorStoreId, fileId)
        : this.statement(`UPDATE vector_store_files SET status = 'failed', error_code = ?, error_message = ?, lease_until = 0 WHERE vector_store_id = ? AND file_id = ? AND status = 'in_progress'`).run(outcome.error.code, outcome.error.message, vectorStoreId, fileId);
    return r.changes > 0;
  }
}
