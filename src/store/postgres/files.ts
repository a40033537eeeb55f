import type pg from 'pg';
import type { FileListQuery, FileOwner, FilePage, FileStore, StoredFile } from '../../knowledge/ports.js';
import { FILE_COLUMNS, fileFrom } from '../rows.js';
import type { FileRow } from '../rows.js';


/**
 * Builds a statement's parameters as its text is written, so that optional conditions (the
 * owner, the purpose, the cursor) number their placeholders without counting by hand.
 */
class Params {
  readonly values: unknown[] = [];
  add(v: unknown): string {
    this.values.push(v);
    return `$${this.values.length}`;
  }
}

/**
 * The files `owner` may see: its own (`AND key_id = $n`) or, for the admin, all; and none past
 * its expiry, which is as good as deleted. The one place both rules are applied.
 */
function ownedBy(owner: FileOwner, p: Params): string {
  const live = ` AND (expires_at IS NULL OR expires_at > ${p.add(Math.floor(Date.now() / 1000))}::int8)`;
  return owner === undefined ? live : ` AND key_id = ${p.add(owner)}${live}`;
}

/** Files of the Files API in PostgreSQL, bytes inline as BYTEA: any replica serves any file. */
export class PostgresFileStore implements FileStore {
  constructor(private readonly pool: pg.Pool) {}

  async save(f: StoredFile, content: Uint8Array): Promise<void> {
    await this.pool.query(`INSERT INTO files (${FILE_COLUMNS}, content) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, [
      f.id,
      f.keyId,
      f.filename,
      f.purpose,
      f.bytes,
      f.createdAt,
      f.expiresAt,
      Buffer.from(content.buffer, content.byteOffset, content.byteLength),
    ]);
  }

  async get(id: string, owner: FileOwner): Promise<StoredFile | undefined> {
    const p = new Params();
    const sql = `SELECT ${FILE_COLUMNS} FROM files WHERE id = ${p.add(id)}${ownedBy(owner, p)}`;
    const row = (await this.pool.query<FileRow>(sql, p.values)).rows[0];
    return row && fileFrom(row);
  }

  async list(q: FileListQuery): Promise<FilePage> {
    let cursor: { created_at: number; id: string } | undefined;
    if (q.after !== undefined) {
      const p = new Params();
      cursor = (await this.pool.query<{ created_at: number; id: string }>(`SELECT created_at, id FROM files WHERE id = ${p.add(q.after)}${ownedBy(q.owner, p)}`, p.values)).rows[0];
      if (!cursor) return { data: [], hasMore: false };
    }
    const p = new Params();
    let sql = `SELECT ${FILE_COLUMNS} FROM files WHERE true${ownedBy(q.owner, p)}`;
    if (q.purpose !== undefined) sql += ` AND purpose = ${p.add(q.purpose)}`;
    if (cursor) sql += ` AND (created_at, id) ${q.order === 'asc' ? '>' : '<'} (${p.add(cursor.created_at)}::int8, ${p.add(cursor.id)}::text)`;
    const dir = q.order === 'asc' ? 'ASC' : 'DESC';
    sql += ` ORDER BY created_at ${dir}, id ${dir} LIMIT ${p.add(q.limit + 1)}`;
    const rows = (await this.pool.query<FileRow>(sql, p.values)).rows;
    return { data: rows.slice(0, q.limit).map(fileFrom), hasMore: rows.length > q.limit };
  }

  async content(id: string, owner: FileOwner): Promise<Uint8Array | undefined> {
    const p = new Params();
    const row = (await this.pool.query<{ content: Buffer }>(`SELECT content FROM files WHERE id = ${p.add(id)}${ownedBy(owner, p)}`, p.values)).rows[0];
    return row?.content;
  }

  async delete(id: string, owner: FileOwner): Promise<boolean> {
    const p = new Params();
    return ((await this.pool.query(`DELETE FROM files WHERE id = ${p.add(id)}${ownedBy(owner, p)}`, p.values)).rowCount ?? 0) > 0;
  }
}
