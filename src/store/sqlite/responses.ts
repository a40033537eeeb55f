import type Database from 'better-sqlite3';
import type { InputItemsPage, ResponseStore, StoredResponse } from '../../protocols/openai-responses/ports.js';
import { deleteInChunks, statementCache } from './schema.js';

/** A stored response's row (export reads). */
export interface ExportedResponse {
  id: string;
  ts: number;
  key_id: string | null;
  response: string;
  history: string;
}

/** A stored response item's row (export reads). */
export interface ExportedItem {
  response_id: string;
  seq: number;
  id: string;
  input: number;
  ts: number;
  item: string;
}

/**
 * Stored Responses API objects and their items, one row each (`input` 1 for the request's input
 * items, 0 for the response's output items), in the embedded store.
 */
export class SQLiteResponseStore implements ResponseStore {
  private readonly statement: (sql: string) => Database.Statement;
  private readonly saveAll: (r: Parameters<ResponseStore['save']>[0]) => void;

  constructor(private readonly db: Database.Database) {
    this.statement = statementCache(db);
    this.saveAll = db.transaction((r: Parameters<ResponseStore['save']>[0]) => {
      const ts = Date.now();
      this.statement('INSERT OR REPLACE INTO responses (id, ts, key_id, response, history) VALUES (?, ?, ?, ?, ?)').run(r.id, ts, r.keyId ?? null, JSON.stringify(r.response), JSON.stringify(r.history));
      this.statement('DELETE FROM response_items WHERE response_id = ?').run(r.id);
      const ins = this.statement('INSERT INTO response_items (response_id, seq, id, input, ts, item) VALUES (?, ?, ?, ?, ?, ?)');
      let seq = 0;
      for (const it of r.input) ins.run(r.id, seq++, it.id, 1, ts, JSON.stringify(it));
      for (const it of r.output) ins.run(r.id, seq++, it.id, 0, ts, JSON.stringify(it));
    });
  }

  async save(r: Parameters<ResponseStore['save']>[0]): Promise<void> {
    this.saveAll(r);
  }

  async load(id: string): Promise<StoredResponse | undefined> {
    const row = this.statement('SELECT key_id, response, history FROM responses WHERE id = ?').get(id) as { key_id: string | null; response: string; history: string } | undefined;
    return row && { keyId: row.key_id, response: JSON.parse(row.response), history: JSON.parse(row.history) };
  }

  async delete(id: string): Promise<void> {
    this.statement('DELETE FROM responses WHERE id = ?').run(id);
    this.statement('DELETE FROM response_items WHERE response_id = ?').run(id);
  }

  async findItem(id: string, keyId: string | undefined): Promise<Record<string, unknown> | undefined> {
    const row = (
      keyId === undefined
        ? this.statement('SELECT i.item AS item FROM response_items i JOIN responses r ON r.id = i.response_id WHERE i.id = ? ORDER BY i.ts DESC LIMIT 1').get(id)
        : this.statement('SELECT i.item AS item FROM response_items i JOIN responses r ON r.id = i.response_id WHERE i.id = ? AND r.key_id = ? ORDER BY i.ts DESC LIMIT 1').get(id, keyId)
    ) as { item: string } | undefined;
    return row && (JSON.parse(row.item) as Record<string, unknown>);
  }

  async inputItems(responseId: string, o: { readonly after?: string; readonly limit: number; readonly order: 'asc' | 'desc' }): Promise<InputItemsPage | undefined> {
    let from: number | undefined;
    if (o.after !== undefined) {
      const row = this.statement('SELECT seq FROM response_items WHERE response_id = ? AND input = 1 AND id = ? ORDER BY seq LIMIT 1').get(responseId, o.after) as { seq: number } | undefined;
      if (!row) return undefined;
      from = row.seq;
    }
    const sql =
      o.order === 'asc'
        ? 'SELECT item FROM response_items WHERE response_id = ? AND input = 1 AND seq > ? ORDER BY seq ASC LIMIT ?'
        : 'SELECT item FROM response_items WHERE response_id = ? AND input = 1 AND seq < ? ORDER BY seq DESC LIMIT ?';
    const bound = from ?? (o.order === 'asc' ? -1 : Number.MAX_SAFE_INTEGER);
    const rows = this.statement(sql).all(responseId, bound, o.limit + 1) as { item: string }[];
    return { data: rows.slice(0, o.limit).map((r) => JSON.parse(r.item) as Record<string, unknown>), hasMore: rows.length > o.limit };
  }

  /**
   * Export reads, for `baimo migrate --from sqlite`: stored responses in id order, a page at a
   * time after the last id seen, and each one's items as stored (JSON text, timestamps kept).
   */
  exportResponses(afterId: string, limit: number): ExportedResponse[] {
    return this.statement('SELECT id, ts, key_id, response, history FROM responses WHERE id > ? ORDER BY id LIMIT ?').all(afterId, limit) as ExportedResponse[];
  }

  exportItems(responseId: string): ExportedItem[] {
    return this.statement('SELECT response_id, seq, id, input, ts, item FROM response_items WHERE response_id = ? ORDER BY seq').all(responseId) as ExportedItem[];
  }

  exportCounts(): { responses: number; items: number } {
    return this.statement('SELECT (SELECT COUNT(*) FROM responses) AS responses, (SELECT COUNT(*) FROM response_items) AS items').get() as { responses: number; items: number };
  }

  async prune(before: number): Promise<void> {
    deleteInChunks(this.db, 'DELETE FROM responses WHERE id IN (SELECT id FROM responses WHERE ts < ? LIMIT 5000)', before);
    deleteInChunks(this.db, 'DELETE FROM response_items WHERE (response_id, seq) IN (SELECT response_id, seq FROM response_items WHERE ts < ? LIMIT 5000)', before);
  }
}
