import type Database from 'better-sqlite3';
import type { FileListQuery, FileOwner, FilePage, FileStore, StoredFile } from '../../knowledge/ports.js';
import { FILE_COLUMNS, fileFrom } from '../rows.js';
import type { FileRow } from '../rows.js';
import { statementCache } from './schema.js';


/**
 * The files `owner` may see: its own (`AND key_id = ?`) or, for the admin, all; and none past
 * its expiry, which is as good as deleted. The one place both rules are applied.
 */
function ownedBy(owner: FileOwner): { sql: string; params: unknown[] } {
  const now = Math.floor(Date.now() / 1000);
  const live = ' AND (expires_at IS NULL OR expires_at > ?)';
  return owner === undefined ? { sql: live, params: [now] } : { sql: ` AND key_id = ?${live}`, params: [owner, now] };
}

/** Files of the Files API in the embedded store, bytes inline as a BLOB. */
export class SQLiteFileStore implements FileStore {
  private readonly statement: (sql: string) => Database.Statement;

  constructor(db: Database.Database) {
    this.statement = statementCache(db);
  }

  async save(f: StoredFile, content: Uint8Array): Promise<void> {
    this.statement(`INSERT INTO files (${FILE_COLUMNS}, content) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`).run(f.id, f.keyId, f.filename, f.purpose, f.bytes, f.createdAt, f.expiresAt, Buffer.from(content.buffer, content.byteOffset, content.byteLength));
  }

  async get(id: string, owner: FileOwner): Promise<StoredFile | undefined> {
    const o = ownedBy(owner);
    const row = this.statement(`SELECT ${FILE_COLUMNS} FROM files WHERE id = ?${o.sql}`).get(id, ...o.params) as FileRow | undefined;
    return row && fileFrom(row);
  }

  async list(q: FileListQuery): Promise<FilePage> {
    const o = ownedBy(q.owner);
    const where: string[] = [];
    const params: unknown[] = [];
    if (q.purpose !== undefined) {
      where.push('purpose = ?');
      params.push(q.purpose);
    }
    if (q.after !== undefined) {
      const cursor = this.statement(`SELECT created_at, id FROM files WHERE id = ?${o.sql}`).get(q.after, ...o.params) as { created_at: number; id: string } | undefined;
      if (!cursor) return { data: [], hasMore: false };
      where.push(q.order === 'asc' ? '(created_at, id) > (?, ?)' : '(created_at, id) < (?, ?)');
      params.push(cursor.created_at, cursor.id);
    }
    const dir = q.order === 'asc' ? 'ASC' : 'DESC';
    const sql = `SELECT ${FILE_COLUMNS} FROM files WHERE 1 = 1${o.sql}${where.map((w) => ` AND ${w}`).join('')} ORDER BY created_at ${dir}, id ${dir} LIMIT ?`;
    const rows = this.statement(sql).all(...o.params, ...params, q.limit + 1) as FileRow[];
    return { data: rows.slice(0, q.limit).map(fileFrom), hasMore: rows.length > q.limit };
  }

  async content(id: string, owner: FileOwner): Promise<Uint8Array | undefined> {
    const o = ownedBy(owner);
    const row = this.statement(`SELECT content FROM files WHERE id = ?${o.sql}`).get(id, ...o.params) as { content: Buffer } | undefined;
    return row?.content;
  }

  async delete(id: string, owner: FileOwner): Promise<boolean> {
    const o = ownedBy(owner);
    return this.statement(`DELETE FROM files WHERE id = ?${o.sql}`).run(id, ...o.params).changes > 0;
  }
}
