import type pg from 'pg';
import type { InputItemsPage, ResponseStore, StoredResponse } from '../../protocols/openai-responses/ports.js';
import { transaction } from './transaction.js';
import { deleteInBatches, DELETE_BATCH } from './schema.js';

type SaveArgs = Parameters<ResponseStore['save']>[0];

/**
 * Stored Responses API objects and their items, one row each (`input` 1 for the request's input
 * items, 0 for the response's output items), in PostgreSQL: any replica can continue a
 * conversation another one served.
 */
export class PostgresResponseStore implements ResponseStore {
  constructor(
    private readonly pool: pg.Pool,
    private readonly deleteBatch = DELETE_BATCH,
  ) {}

  /** The response and its items replace what was stored under the id, in one transaction. */
  async save(r: SaveArgs): Promise<void> {
    const ts = Date.now();
    const items = [...r.input.map((it) => [it, 1] as const), ...r.output.map((it) => [it, 0] as const)];
    await transaction(this.pool, async (client) => {
      // The upsert locks the response's row first, so two saves of one id take turns.
      await client.query(
        `INSERT INTO responses (id, ts, key_id, response, history) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (id) DO UPDATE SET ts = excluded.ts, key_id = excluded.key_id, response = excluded.response, history = excluded.history`,
        [r.id, ts, r.keyId ?? null, JSON.stringify(r.response), JSON.stringify(r.history)],
      );
      await client.query('DELETE FROM response_items WHERE response_id = $1', [r.id]);
      if (items.length > 0) {
        await client.query(
          `INSERT INTO response_items (response_id, seq, id, input, ts, item)
           SELECT $1, s.seq - 1, s.id, s.input, $2, s.item FROM unnest($3::text[], $4::int2[], $5::text[]) WITH ORDINALITY AS s(id, input, item, seq)`,
          [r.id, ts, items.map(([it]) => it.id), items.map(([, input]) => input), items.map(([it]) => JSON.stringify(it))],
        );
      }
    });
  }

  async load(id: string): Promise<StoredResponse | undefined> {
    const row = (await this.pool.query<{ key_id: string | null; response: string; history: string }>('SELECT key_id, response, history FROM responses WHERE id = $1', [id])).rows[0];
    return row && { keyId: row.key_id, response: JSON.parse(row.response), history: JSON.parse(row.history) };
  }

  async delete(id: string): Promise<void> {
    await this.pool.query('WITH gone AS (DELETE FROM responses WHERE id = $1) DELETE FROM response_items WHERE response_id = $1', [id]);
  }

  async findItem(id: string, keyId: string | undefined): Promise<Record<string, unknown> | undefined> {
    const byKey = keyId === undefined ? '' : ' AND r.key_id = $2';
    const row = (
      await this.pool.query<{ item: string }>(
        `SELECT i.item FROM response_items i JOIN responses r ON r.id = i.response_id WHERE i.id = $1${byKey} ORDER BY i.ts DESC LIMIT 1`,
        keyId === undefined ? [id] : [id, keyId],
      )
    ).rows[0];
    return row && (JSON.parse(row.item) as Record<string, unknown>);
  }

  async inputItems(responseId: string, o: { readonly after?: string; readonly limit: number; readonly order: 'asc' | 'desc' }): Promise<InputItemsPage | undefined> {
    let from: number | undefined;
    if (o.after !== undefined) {
      const row = (await this.pool.query<{ seq: number }>('SELECT seq FROM response_items WHERE response_id = $1 AND input = 1 AND id = $2 ORDER BY seq LIMIT 1', [responseId, o.after])).rows[0];
      if (!row) return undefined;
      from = row.seq;
    }
    const sql =
      o.order === 'asc'
        ? 'SELECT item FROM response_items WHERE response_id = $1 AND input = 1 AND seq > $2 ORDER BY seq ASC LIMIT $3'
        : 'SELECT item FROM response_items WHERE response_id = $1 AND input = 1 AND seq < $2 ORDER BY seq DESC LIMIT $3';
    const bound = from ?? (o.order === 'asc' ? -1 : 2 ** 31 - 1);
    const rows = (await this.pool.query<{ item: string }>(sql, [responseId, bound, o.limit + 1])).rows;
    return { data: rows.slice(0, o.limit).map((r) => JSON.parse(r.item) as Record<string, unknown>), hasMore: rows.length > o.limit };
  }

  async prune(before: number): Promise<void> {
    await deleteInBatches(this.pool, 'responses', 'ts < $1', before, this.deleteBatch);
    await deleteInBatches(this.pool, 'response_items', 'ts < $1', before, this.deleteBatch);
  }
}
