import type pg from 'pg';
import type {
  Attributes, FileBatchRow, FileCounts, FileOwner, FileStatus, JobOutcome, Page, PageQuery, StorePatch, VectorStoreFileRow, VectorStoreRow, VectorStoreStore,
} from '../../knowledge/ports.js';
import { batchFrom, countsFrom, FILE_COLUMNS, fileFrom, fileValues, STORE_COLUMNS, storeFrom, storeValues } from '../vector-store-rows.js';
import type { BatchRow, FileRow, StoreRow } from '../vector-store-rows.js';
import { transaction } from './transaction.js';

/** Builds a statement's parameters as its text is written. */
class Params {
  readonly values: unknown[] = [];
  add(v: unknown): string {
    this.values.push(v);
    return `$${this.values.length}`;
  }
}

const placeholders = (n: number, from = 1) => Array.from({ length: n }, (_, i) => `$${from + i}`).join(', ');

/** A page in (created_at, id) order, `after` or `before` the cursor (see the embedded store). */
function pageSQL(table: string, columns: string, idColumn: string, where: string, p: Params, q: PageQuery, cursor: { created_at: number; id: string } | undefined): { sql: string; reversed: boolean } {
  const reversed = q.before !== undefined && q.after === undefined;
  const ascending = (q.order === 'asc') !== reversed;
  let cond = where;
  if (cursor) cond += ` AND (created_at, ${idColumn}) ${ascending ? '>' : '<'} (${p.add(cursor.created_at)}::int8, ${p.add(cursor.id)})`;
  const dir = ascending ? 'ASC' : 'DESC';
  return { sql: `SELECT ${columns} FROM ${table} WHERE ${cond} ORDER BY created_at ${dir}, ${idColumn} ${dir} LIMIT ${p.add(q.limit + 1)}`, reversed };
}

function paged<R, T>(rows: R[], limit: number, reversed: boolean, conv: (r: R) => T): Page<T> {
  const data = rows.slice(0, limit).map(conv);
  return { data: reversed ? data.reverse() : data, hasMore: rows.length > limit };
}

/** The advisory lock that serialises job claims ("baimoing" in ASCII); per database, as every advisory lock. */
const CLAIM_LOCK = 0x6261696d6f696e67n;

const jobKey = (vectorStoreId: string, fileId: string) => `${vectorStoreId}\u0000${fileId}`;

const UPSERT_FILE = `INSERT INTO vector_store_files (${FILE_COLUMNS}, lease_until) VALUES (${placeholders(13)}, 0)
  ON CONFLICT (vector_store_id, file_id) DO NOTHING`;

/**
 * Vector stores' metadata and ingestion jobs in PostgreSQL. Replicas share the job queue: claims
 * run one at a time (an advisory lock) and take only jobs whose lease has run out, so two
 * replicas never take the same job at once, and one that dies leaves it to the next claim. Jobs
 * go round robin by the key that added them (knowledge_ingest_turns), so one key's thousand
 * files never hold another key's one file behind them.
 */
export class PostgresVectorStoreStore implements VectorStoreStore {
  constructor(private readonly pool: pg.Pool) {}

  async create(store: VectorStoreRow, files: readonly VectorStoreFileRow[]): Promise<void> {
    await transaction(this.pool, async (c) => {
      await c.query(`INSERT INTO vector_stores (${STORE_COLUMNS}) VALUES (${placeholders(10)})`, storeValues(store));
      for (const f of files) await c.query(UPSERT_FILE, fileValues(f));
    });
  }

  async get(id: string, owner: FileOwner): Promise<VectorStoreRow | undefined> {
    const row = (owner === undefined
      ? await this.pool.query<StoreRow>(`SELECT ${STORE_COLUMNS} FROM vector_stores WHERE id = $1`, [id])
      : await this.pool.query<StoreRow>(`SELECT ${STORE_COLUMNS} FROM vector_stores WHERE id = $1 AND key_id = $2`, [id, owner])
    ).rows[0];
    return row && storeFrom(row);
  }

  async list(owner: FileOwner, q: PageQuery): Promise<Page<VectorStoreRow>> {
    const p = new Params();
    const own = owner === undefined ? 'true' : `key_id = ${p.add(owner)}`;
    const cursorId = q.after ?? q.before;
    let cursor: { created_at: number; id: string } | undefined;
    if (cursorId !== undefined) {
      const c = new Params();
      cursor = (await this.pool.query<{ created_at: number; id: string }>(`SELECT created_at, id FROM vector_stores WHERE id = ${c.add(cursorId)}${owner === undefined ? '' : ` AND key_id = ${c.add(owner)}`}`, c.values)).rows[0];
      if (!cursor) return { data: [], hasMore: false };
    }
    const s = pageSQL('vector_stores', STORE_COLUMNS, 'id', own, p, q, cursor);
    return paged((await this.pool.query<StoreRow>(s.sql, p.values)).rows, q.limit, s.reversed, storeFrom);
  }

  async update(id: string, patch: StorePatch): Promise<void> {
    const p = new Params();
    const sets: string[] = [];
    if (patch.name !== undefined) sets.push(`name = ${p.add(patch.name)}`);
    if (patch.metadata !== undefined) sets.push(`metadata = ${p.add(patch.metadata === null ? null : JSON.stringify(patch.metadata))}`);
    if (patch.expiresAfterDays !== undefined) sets.push(`expires_after_days = ${p.add(patch.expiresAfterDays)}::int8`);
    if (patch.expiresAt !== undefined) sets.push(`expires_at = ${p.add(patch.expiresAt)}::int8`);
    if (patch.lastActiveAt !== undefined) sets.push(`last_active_at = ${p.add(patch.lastActiveAt)}::int8`);
    if (sets.length) await this.pool.query(`UPDATE vector_stores SET ${sets.join(', ')} WHERE id = ${p.add(id)}`, p.values);
  }

  async setEmbeddingModel(id: string, model: string | null): Promise<void> {
    await this.pool.query('UPDATE vector_stores SET embedding_model = $1 WHERE id = $2', [model, id]);
  }

  async delete(id: string, owner: FileOwner): Promise<boolean> {
    // Files and batches go with it (ON DELETE CASCADE).
    const r = owner === undefined ? await this.pool.query('DELETE FROM vector_stores WHERE id = $1', [id]) : await this.pool.query('DELETE FROM vector_stores WHERE id = $1 AND key_id = $2', [id, owner]);
    return (r.rowCount ?? 0) > 0;
  }

  async counts(ids: readonly string[]): Promise<Map<string, FileCounts & { usageBytes: number }>> {
    const out = new Map<string, FileCounts & { usageBytes: number }>();
    if (!ids.length) return out;
    const rows = (await this.pool.query<{ vector_store_id: string; status: string; n: number; bytes: number }>(
      'SELECT vector_store_id, status, count(*)::int8 AS n, sum(usage_bytes)::int8 AS bytes FROM vector_store_files WHERE vector_store_id = ANY($1) GROUP BY vector_store_id, status',
      [ids],
    )).rows;
    for (const id of ids) {
      const mine = rows.filter((r) => r.vector_store_id === id);
      if (mine.length) out.set(id, { ...countsFrom(mine), usageBytes: mine.reduce((a, r) => a + Number(r.bytes), 0) });
    }
    return out;
  }

  async addFiles(files: readonly VectorStoreFileRow[], batch?: FileBatchRow): Promise<void> {
    await transaction(this.pool, async (c) => {
      if (batch) await c.query('INSERT INTO vector_store_file_batches (id, vector_store_id, created_at, cancelled_at) VALUES ($1, $2, $3, $4)', [batch.id, batch.vectorStoreId, batch.createdAt, batch.cancelledAt]);
      for (const f of files) await c.query(UPSERT_FILE, fileValues(f));
    });
  }

  async getFile(vectorStoreId: string, fileId: string): Promise<VectorStoreFileRow | undefined> {
    const row = (await this.pool.query<FileRow>(`SELECT ${FILE_COLUMNS} FROM vector_store_files WHERE vector_store_id = $1 AND file_id = $2`, [vectorStoreId, fileId])).rows[0];
    return row && fileFrom(row);
  }

  async listFiles(vectorStoreId: string, q: PageQuery & { status?: FileStatus; batchId?: string }): Promise<Page<VectorStoreFileRow>> {
    const p = new Params();
    let where = `vector_store_id = ${p.add(vectorStoreId)}`;
    if (q.status !== undefined) where += ` AND status = ${p.add(q.status)}`;
    if (q.batchId !== undefined) where += ` AND batch_id = ${p.add(q.batchId)}`;
    const cursorId = q.after ?? q.before;
    let cursor: { created_at: number; id: string } | undefined;
    if (cursorId !== undefined) {
      cursor = (await this.pool.query<{ created_at: number; id: string }>('SELECT created_at, file_id AS id FROM vector_store_files WHERE vector_store_id = $1 AND file_id = $2', [vectorStoreId, cursorId])).rows[0];
      if (!cursor) return { data: [], hasMore: false };
    }
    const s = pageSQL('vector_store_files', FILE_COLUMNS, 'file_id', where, p, q, cursor);
    return paged((await this.pool.query<FileRow>(s.sql, p.values)).rows, q.limit, s.reversed, fileFrom);
  }

  async searchable(vectorStoreIds: readonly string[]): Promise<VectorStoreFileRow[]> {
    return (await this.pool.query<FileRow>(`SELECT ${FILE_COLUMNS} FROM vector_store_files WHERE vector_store_id = ANY($1) AND status = 'completed'`, [vectorStoreIds])).rows.map(fileFrom);
  }

  async setAttributes(vectorStoreId: string, fileId: string, attributes: Attributes | null): Promise<boolean> {
    const r = await this.pool.query('UPDATE vector_store_files SET attributes = $1 WHERE vector_store_id = $2 AND file_id = $3', [attributes === null ? null : JSON.stringify(attributes), vectorStoreId, fileId]);
    return (r.rowCount ?? 0) > 0;
  }

  async removeFile(vectorStoreId: string, fileId: string): Promise<boolean> {
    return ((await this.pool.query('DELETE FROM vector_store_files WHERE vector_store_id = $1 AND file_id = $2', [vectorStoreId, fileId])).rowCount ?? 0) > 0;
  }

  async getBatch(vectorStoreId: string, batchId: string): Promise<FileBatchRow | undefined> {
    const row = (await this.pool.query<BatchRow>('SELECT id, vector_store_id, created_at, cancelled_at FROM vector_store_file_batches WHERE id = $1 AND vector_store_id = $2', [batchId, vectorStoreId])).rows[0];
    return row && batchFrom(row);
  }

  async batchCounts(batchId: string): Promise<FileCounts> {
    return countsFrom((await this.pool.query<{ status: string; n: number }>('SELECT status, count(*)::int8 AS n FROM vector_store_files WHERE batch_id = $1 GROUP BY status', [batchId])).rows);
  }

  async cancelBatch(vectorStoreId: string, batchId: string, now: number): Promise<string[]> {
    return transaction(this.pool, async (c) => {
      await c.query('UPDATE vector_store_file_batches SET cancelled_at = coalesce(cancelled_at, $1) WHERE id = $2 AND vector_store_id = $3', [now, batchId, vectorStoreId]);
      const rows = (await c.query<{ file_id: string }>(`UPDATE vector_store_files SET status = 'cancelled' WHERE batch_id = $1 AND vector_store_id = $2 AND status = 'in_progress' RETURNING file_id`, [batchId, vectorStoreId])).rows;
      return rows.map((r) => r.file_id);
    });
  }

  async claim(now: number, leaseUntil: number, limit: number): Promise<VectorStoreFileRow[]> {
    const n = Math.max(0, Math.floor(limit));
    if (n === 0) return [];
    // The idle poll (every replica, every 2 s) is one indexed read, not a transaction and a lock.
    const open = await this.pool.query(`SELECT 1 FROM vector_store_files WHERE status = 'in_progress' AND lease_until < $1 LIMIT 1`, [now]);
    if (!open.rowCount) return [];
    return transaction(this.pool, async (c) => {
      // Claims are serialised across replicas (a short lock: one read, one update, one upsert),
      // so the turns they read are the ones the last claim left. The lease check in the UPDATE
      // still guards each row, as a job finished or removed meanwhile must not be taken.
      await c.query('SELECT pg_advisory_xact_lock($1)', [CLAIM_LOCK]);
      // Round robin by key: every key's oldest open job first, the key served least recently
      // (never served: first) before the others, then every key's second job, and so on. Only
      // each key's first n jobs can be among n picks.
      const picked = (await c.query<{ vector_store_id: string; file_id: string; owner: string }>(
        `WITH open AS (
           SELECT vector_store_id, file_id, created_at, coalesce(key_id, '') AS owner,
                  row_number() OVER (PARTITION BY coalesce(key_id, '') ORDER BY created_at, vector_store_id, file_id) AS nth
           FROM vector_store_files WHERE status = 'in_progress' AND lease_until < $1)
         SELECT o.vector_store_id, o.file_id, o.owner
         FROM open o LEFT JOIN knowledge_ingest_turns t ON t.owner = o.owner
         WHERE o.nth <= $2
         ORDER BY o.nth, t.turn NULLS FIRST, o.created_at, o.vector_store_id, o.file_id
         LIMIT $2`,
        [now, n],
      )).rows;
      if (!picked.length) return [];
      const claimed = (await c.query<FileRow>(
        `UPDATE vector_store_files f SET lease_until = $1
         FROM unnest($2::text[], $3::text[]) AS p (vector_store_id, file_id)
         WHERE f.vector_store_id = p.vector_store_id AND f.file_id = p.file_id AND f.status = 'in_progress' AND f.lease_until < $4
         RETURNING ${FILE_COLUMNS.split(', ').map((col) => `f.${col}`).join(', ')}`,
        [leaseUntil, picked.map((p) => p.vector_store_id), picked.map((p) => p.file_id), now],
      )).rows;
      const got = new Map(claimed.map((r) => [jobKey(r.vector_store_id, r.file_id), r]));
      const inOrder = picked.filter((p) => got.has(jobKey(p.vector_store_id, p.file_id)));
      // Each key served now takes the turn of its last pick, after every earlier turn.
      await c.query(
        `INSERT INTO knowledge_ingest_turns (owner, turn)
         SELECT x.owner, (SELECT coalesce(max(turn), 0) FROM knowledge_ingest_turns) + max(x.i)
         FROM unnest($1::text[]) WITH ORDINALITY AS x (owner, i) GROUP BY x.owner
         ON CONFLICT (owner) DO UPDATE SET turn = excluded.turn`,
        [inOrder.map((p) => p.owner)],
      );
      return inOrder.map((p) => fileFrom(got.get(jobKey(p.vector_store_id, p.file_id))!));
    });
  }

  async renew(vectorStoreId: string, fileId: string, leaseUntil: number): Promise<boolean> {
    const r = await this.pool.query(`UPDATE vector_store_files SET lease_until = $1 WHERE vector_store_id = $2 AND file_id = $3 AND status = 'in_progress'`, [leaseUntil, vectorStoreId, fileId]);
    return (r.rowCount ?? 0) > 0;
  }

  async finish(vectorStoreId: string, fileId: string, outcome: JobOutcome): Promise<boolean> {
    const r =
      outcome.status === 'completed'
        ? await this.pool.query(`UPDATE vector_store_files SET status = 'completed', usage_bytes = $1, lease_until = 0 WHERE vector_store_id = $2 AND file_id = $3 AND status = 'in_progress'`, [outcome.usageBytes, vectorStoreId, fileId])
        : await this.pool.query(`UPDATE vector_store_files SET status = 'failed', error_code = $1, error_message = $2, lease_until = 0 WHERE vector_store_id = $3 AND file_id = $4 AND status = 'in_progress'`, [outcome.error.code, outcome.error.message, vectorStoreId, fileId]);
    return (r.rowCount ?? 0) > 0;
  }
}
