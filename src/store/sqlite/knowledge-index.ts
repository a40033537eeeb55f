import type Database from 'better-sqlite3';
import * as sqliteVec from 'sqlite-vec';
import type { ChunkHit, ChunkIndex, ChunkInput, ChunkScope, StoredChunk } from '../../knowledge/ports.js';
import { statementCache } from './schema.js';

/**
 * The chunk index in the embedded store (tables in schema.ts's last knowledge migration).
 *
 * Keyword: BM25 computed in SQL over the scope's vector stores. FTS5's own bm25() takes its
 * statistics (document count, average length, each word's document frequency) from the whole
 * table, i.e. from every team's stores: scores would move when another team uploads a file, and
 * the score of a word would tell whether other stores hold it. So FTS5 here only keeps the
 * postings (compactly, deletable per chunk); each query word's occurrences are read through the
 * fts5vocab 'instance' table (an exact term lookup, never a MATCH: no query syntax is ever
 * parsed, so `"AND"`, `NEAR(` or `*` are just words), document frequencies are counted within
 * the scope's stores, and N and the average length come from knowledge_stats.
 *
 * Vectors: exact cosine scan by sqlite-vec's vec_distance_cosine over Float32 BLOBs, in windows
 * of rowids with a turn of the event loop between them (bench/knowledge-index.ts measured it;
 * see the report in bench/results/knowledge-index.md).
 */

const K1 = 1.2;
const B = 0.75;

/** Rows of knowledge_vectors one synchronous vector scan step covers before yielding. */
const SCAN_WINDOW = 20_000;

/**
 * A text's words as knowledge_terms' tokenizer (FTS5 `ascii`, every ASCII punctuation mark a
 * token character) cuts them: split at ASCII spaces and control characters, A-Z folded, all
 * else kept as is. Queries go through it too, so a query word meets the indexed word exactly.
 */
export function ftsWords(terms: string): string[] {
  // eslint-disable-next-line no-control-regex
  return terms.split(/[\u0000-\u0020\u007f]+/).filter((w) => w !== '').map((w) => w.replace(/[A-Z]+/g, (s) => s.toLowerCase()));
}

/** A usable result count: a positive integer, or 0 for anything else (NaN, negative, 0). */
function count(limit: number): number {
  return Number.isFinite(limit) && limit >= 1 ? Math.floor(limit) : 0;
}

function blob(v: Float32Array): Buffer {
  return Buffer.from(v.buffer.slice(v.byteOffset, v.byteOffset + v.byteLength));
}

interface HitRow {
  vector_store_id: string;
  file_id: string;
  seq: number;
  text: string;
  score: number;
}

const hit = (r: HitRow): ChunkHit => ({ vectorStoreId: r.vector_store_id, fileId: r.file_id, seq: r.seq, text: r.text, score: r.score });

/**
 * The scope as SQL over knowledge_chunks `c`: its stores and (optionally) files, each a JSON
 * array parameter so that thousands of ids make one parameter, not thousands.
 */
function scopeSql(scope: ChunkScope): { sql: string; params: string[] } {
  let sql = 'c.vector_store_id IN (SELECT value FROM json_each(?))';
  const params = [JSON.stringify(scope.vectorStoreIds)];
  if (scope.fileIds !== undefined) {
    sql += ' AND c.file_id IN (SELECT value FROM json_each(?))';
    params.push(JSON.stringify(scope.fileIds));
  }
  return { sql, params };
}

/** Whether the scope can hold anything at all. */
const emptyScope = (scope: ChunkScope): boolean => scope.vectorStoreIds.length === 0 || (scope.fileIds !== undefined && scope.fileIds.length === 0);

export class SQLiteChunkIndex implements ChunkIndex {
  private readonly statement: (sql: string) => Database.Statement;
  private readonly replace: (vectorStoreId: string, fileId: string, chunks: readonly ChunkInput[]) => void;
  private readonly remove: (vectorStoreId: string, fileId: string | undefined) => void;

  constructor(private readonly db: Database.Database) {
    // vec_distance_cosine; loading twice into one connection is harmless.
    sqliteVec.load(db);
    this.statement = statementCache(db);
    this.remove = db.transaction((vectorStoreId: string, fileId: string | undefined) => this.removeRows(vectorStoreId, fileId));
    this.replace = db.transaction((vectorStoreId: string, fileId: string, chunks: readonly ChunkInput[]) => {
      this.removeRows(vectorStoreId, fileId);
      const chunk = this.statement('INSERT INTO knowledge_chunks (vector_store_id, file_id, seq, tokens, length, text) VALUES (?, ?, ?, ?, ?, ?)');
      const words = this.statement('INSERT INTO knowledge_terms (rowid, terms) VALUES (?, ?)');
      const vector = this.statement('INSERT INTO knowledge_vectors (id, vector) VALUES (?, ?)');
      let length = 0;
      for (const c of chunks) {
        const n = ftsWords(c.terms).length;
        length += n;
        const id = chunk.run(vectorStoreId, fileId, c.seq, c.tokens, n, c.text).lastInsertRowid;
        words.run(id, c.terms);
        if (c.vector && c.vector.length > 0) vector.run(id, blob(c.vector));
      }
      if (chunks.length > 0) {
        this.statement(
          `INSERT INTO knowledge_stats (vector_store_id, chunks, length) VALUES (?, ?, ?)
           ON CONFLICT (vector_store_id) DO UPDATE SET chunks = chunks + excluded.chunks, length = length + excluded.length`,
        ).run(vectorStoreId, chunks.length, length);
      }
    });
  }

  /** Deletes a file's (or with no file, a store's) chunks, words, vectors and their share of the totals. */
  private removeRows(vectorStoreId: string, fileId: string | undefined): void {
    const where = fileId === undefined ? 'vector_store_id = ?' : 'vector_store_id = ? AND file_id = ?';
    const params = fileId === undefined ? [vectorStoreId] : [vectorStoreId, fileId];
    const gone = this.statement(`SELECT COUNT(*) AS chunks, COALESCE(SUM(length), 0) AS length FROM knowledge_chunks WHERE ${where}`).get(...params) as { chunks: number; length: number };
    if (gone.chunks === 0) return;
    const ids = `SELECT id FROM knowledge_chunks WHERE ${where}`;
    this.statement(`DELETE FROM knowledge_terms WHERE rowid IN (${ids})`).run(...params);
    this.statement(`DELETE FROM knowledge_vectors WHERE id IN (${ids})`).run(...params);
    this.statement(`DELETE FROM knowledge_chunks WHERE ${where}`).run(...params);
    this.statement('UPDATE knowledge_stats SET chunks = chunks - ?, length = length - ? WHERE vector_store_id = ?').run(gone.chunks, gone.length, vectorStoreId);
    this.statement('DELETE FROM knowledge_stats WHERE vector_store_id = ? AND chunks <= 0').run(vectorStoreId);
  }

  async replaceFile(vectorStoreId: string, fileId: string, chunks: readonly ChunkInput[]): Promise<void> {
    this.replace(vectorStoreId, fileId, chunks);
  }

  async removeFile(vectorStoreId: string, fileId: string): Promise<void> {
    this.remove(vectorStoreId, fileId);
  }

  async removeStore(vectorStoreId: string): Promise<void> {
    this.remove(vectorStoreId, undefined);
  }

  async keyword(scope: ChunkScope, terms: readonly string[], limit: number): Promise<ChunkHit[]> {
    const n = count(limit);
    const words = [...new Set(terms.flatMap(ftsWords))];
    if (n === 0 || words.length === 0 || emptyScope(scope)) return [];
    const stores = JSON.stringify(scope.vectorStoreIds);
    // Document frequencies over the scope's stores (not its files: an attribute filter narrows
    // what is returned, not how words are weighed), as the port says.
    const inStores = 'c.vector_store_id IN (SELECT value FROM json_each(@stores))';
    const files = scope.fileIds === undefined ? '' : 'AND c.file_id IN (SELECT value FROM json_each(@files))';
    // idf as Lucene's, ln(1 + (N - df + 0.5) / (df + 0.5)): always > 0, unlike FTS5's, which
    // floors a word in over half the chunks at 1e-6.
    const sql = `
      WITH q(term) AS (SELECT DISTINCT value FROM json_each(@words)),
      stats AS (SELECT SUM(chunks) AS n, 1.0 * SUM(length) / SUM(chunks) AS avgdl FROM knowledge_stats WHERE vector_store_id IN (SELECT value FROM json_each(@stores))),
      tf AS (SELECT p.term, p.doc, COUNT(*) AS tf FROM q JOIN knowledge_postings p ON p.term = q.term GROUP BY p.term, p.doc),
      scoped AS (SELECT tf.term, tf.doc, tf.tf, c.length, c.file_id FROM tf JOIN knowledge_chunks c ON c.id = tf.doc WHERE ${inStores}),
      df AS (SELECT term, COUNT(*) AS df FROM scoped GROUP BY term),
      scored AS (
        SELECT s.doc, SUM(ln(1 + (stats.n - df.df + 0.5) / (df.df + 0.5)) * s.tf * ${K1 + 1} / (s.tf + ${K1} * (${1 - B} + ${B} * s.length / stats.avgdl))) AS score
        FROM scoped s JOIN df ON df.term = s.term, stats
        GROUP BY s.doc
      )
      SELECT c.vector_store_id, c.file_id, c.seq, c.text, scored.score
      FROM scored JOIN knowledge_chunks c ON c.id = scored.doc
      WHERE 1 = 1 ${files}
      ORDER BY scored.score DESC, c.id
      LIMIT @limit`;
    const params: Record<string, unknown> = { words: JSON.stringify(words), stores, limit: n };
    if (scope.fileIds !== undefined) params.files = JSON.stringify(scope.fileIds);
    return (this.statement(sql).all(params) as HitRow[]).map(hit);
  }

  async nearest(scope: ChunkScope, vector: Float32Array, limit: number): Promise<ChunkHit[]> {
    const n = count(limit);
    if (n === 0 || vector.length === 0 || emptyScope(scope)) return [];
    const s = scopeSql(scope);
    // Vectors of another length (another embedding model: the caller's to refuse) are skipped,
    // not compared; a zero vector has no direction, and its NULL distance is skipped too.
    const sql = `
      SELECT v.id, 1 - vec_distance_cosine(v.vector, ?) AS score FROM knowledge_vectors v
      WHERE v.id > ? AND v.id <= ? AND length(v.vector) = ?
        AND v.id IN (SELECT c.id FROM knowledge_chunks c WHERE ${s.sql})
        AND score IS NOT NULL
      ORDER BY score DESC, v.id LIMIT ?`;
    const q = blob(vector);
    const { lo, hi } = this.statement('SELECT COALESCE(MIN(id), 0) AS lo, COALESCE(MAX(id), 0) AS hi FROM knowledge_vectors').get() as { lo: number; hi: number };
    let best: { id: number; score: number }[] = [];
    // A scan of 100k vectors holds the thread for tens of milliseconds: in windows, the event
    // loop gets a turn between them. Writes between windows may show or hide a chunk; a search
    // over a store being changed has no better answer anyway.
    for (let from = lo - 1; from < hi; from += SCAN_WINDOW) {
      if (from > lo - 1) await new Promise((resolve) => setImmediate(resolve));
      const rows = this.statement(sql).all(q, from, from + SCAN_WINDOW, q.byteLength, ...s.params, n) as { id: number; score: number }[];
      best = best.concat(rows).sort((a, b) => b.score - a.score || a.id - b.id).slice(0, n);
    }
    if (best.length === 0) return [];
    const rows = this.statement('SELECT id, vector_store_id, file_id, seq, text FROM knowledge_chunks WHERE id IN (SELECT value FROM json_each(?))').all(JSON.stringify(best.map((b) => b.id))) as (Omit<HitRow, 'score'> & { id: number })[];
    const byId = new Map(rows.map((r) => [r.id, r]));
    // A chunk deleted between the scan and this read is left out.
    return best.flatMap((b) => {
      const r = byId.get(b.id);
      return r ? [hit({ ...r, score: b.score })] : [];
    });
  }

  async fileChunks(vectorStoreId: string, fileId: string, after: number | undefined, limit: number): Promise<StoredChunk[]> {
    const n = count(limit);
    if (n === 0) return [];
    return this.statement('SELECT seq, text, tokens FROM knowledge_chunks WHERE vector_store_id = ? AND file_id = ? AND seq > ? ORDER BY seq LIMIT ?').all(vectorStoreId, fileId, after ?? -1, n) as StoredChunk[];
  }
}
