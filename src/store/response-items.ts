import type { SQLiteStore } from './sqlite.js';

/**
 * The items of stored Responses API objects, one row each: the request's input items (with the
 * ids the hub gave those that came without one) and the response's output items. They serve
 * `item_reference` inputs, which name an earlier item by id, and `GET /v1/responses/{id}/input_items`.
 */

export interface StoredItem {
  readonly id: string;
  readonly [k: string]: unknown;
}

/** Writes a response's items; replaces any kept for the same response id. */
export function saveResponseItems(store: SQLiteStore, responseId: string, input: readonly StoredItem[], output: readonly StoredItem[]): void {
  const del = store.statement('DELETE FROM response_items WHERE response_id = ?');
  const ins = store.statement('INSERT INTO response_items (response_id, seq, id, input, ts, item) VALUES (?, ?, ?, ?, ?, ?)');
  const ts = Date.now();
  store.db.transaction(() => {
    del.run(responseId);
    let seq = 0;
    for (const it of input) ins.run(responseId, seq++, it.id, 1, ts, JSON.stringify(it));
    for (const it of output) ins.run(responseId, seq++, it.id, 0, ts, JSON.stringify(it));
  })();
}

export function deleteResponseItems(store: SQLiteStore, responseId: string): void {
  store.statement('DELETE FROM response_items WHERE response_id = ?').run(responseId);
}

/**
 * The newest stored item with this id that the caller may see: one of its own key's responses
 * (`keyId`), or any when `keyId` is undefined (the admin, or a hub without keys).
 */
export function findItem(store: SQLiteStore, id: string, keyId: string | undefined): Record<string, unknown> | undefined {
  const row = (
    keyId === undefined
      ? store.statement('SELECT i.item AS item FROM response_items i JOIN responses r ON r.id = i.response_id WHERE i.id = ? ORDER BY i.ts DESC LIMIT 1').get(id)
      : store.statement('SELECT i.item AS item FROM response_items i JOIN responses r ON r.id = i.response_id WHERE i.id = ? AND r.key_id = ? ORDER BY i.ts DESC LIMIT 1').get(id, keyId)
  ) as { item: string } | undefined;
  return row && (JSON.parse(row.item) as Record<string, unknown>);
}

export interface InputItemsPage {
  readonly data: Record<string, unknown>[];
  readonly hasMore: boolean;
}

/**
 * One page of a response's input items, in `order`, after the item `after` (undefined: from the
 * start). Undefined when `after` names no input item of this response.
 */
export function inputItemsPage(store: SQLiteStore, responseId: string, o: { after?: string; limit: number; order: 'asc' | 'desc' }): InputItemsPage | undefined {
  let from: number | undefined;
  if (o.after !== undefined) {
    const row = store.statement('SELECT seq FROM response_items WHERE response_id = ? AND input = 1 AND id = ? ORDER BY seq LIMIT 1').get(responseId, o.after) as { seq: number } | undefined;
    if (!row) return undefined;
    from = row.seq;
  }
  const sql =
    o.order === 'asc'
      ? 'SELECT item FROM response_items WHERE response_id = ? AND input = 1 AND seq > ? ORDER BY seq ASC LIMIT ?'
      : 'SELECT item FROM response_items WHERE response_id = ? AND input = 1 AND seq < ? ORDER BY seq DESC LIMIT ?';
  const bound = from ?? (o.order === 'asc' ? -1 : Number.MAX_SAFE_INTEGER);
  const rows = store.statement(sql).all(responseId, bound, o.limit + 1) as { item: string }[];
  return { data: rows.slice(0, o.limit).map((r) => JSON.parse(r.item) as Record<string, unknown>), hasMore: rows.length > o.limit };
}
