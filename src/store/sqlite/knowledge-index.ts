import type Database from 'better-sqlite3';
import * as sqliteVec from 'sqlite-vec';
import type { ChunkHit, ChunkIndex, ChunkInput, ChunkScope, StoredChunk } from '../../knowledge/ports.js';
import { statementCache } from './schema.js';
import { bitWords, float64sOf, hamming, hasDirection, quantize, smallest, wordsOf } from './vector-bits.js';

/**
 * The chunk index in the embedded store (tables: schema.ts's knowledge migration).
 *
 * Keyword: FTS5's bm25() (k1 1.2, b 0.75) over one FTS5 table per vector store. bm25() takes
 * its statistics (chunk count, average length, each word's chunk frequency) from the whole
 * table; one table for every store would make a store's scores move when another team uploads
 * a file, and tell, through the score, whether other stores hold a word. One table per store
 * makes the statistics the store's own. A scope of several stores is searched store by store
 * and the hits merged by score: each store's statistics are its own (as a sharded search engine
 * scores per shard), not the union's. BM25 computed in SQL from the postings over the union
 * (fts5vocab) was measured first: 8 times slower than bm25() (bench/knowledge-index.ts).
 * The idf is FTS5's, ln((N - n + 0.5) / (n + 0.5)), floored at 1e-6: a word in more than half of
 * a store's chunks weighs next to nothing, so every score stays > 0.
 *
 * The words are knowledge/segment.ts's, joined by spaces; the FTS5 `ascii` tokenizer with every
 * ASCII punctuation mark a token character splits only at spaces (and control characters) and
 * folds only A-Z: 长江 and c++ stay whole, non-ASCII is never split or folded (unicode61 would
 * cut c++ to c and api-key to api, key). Each query word is quoted as an FTS5 string, so `AND`,
 * `NEAR(` or `*` are words, never syntax.
 *
 * Vectors: Float32 BLOBs (knowledge_vectors), and a 1-bit-per-dimension copy of each, packed a
 * row per file (knowledge_bits, vector-bits.ts), written in the same transaction. A search reads
 * the scope's bits (12.5 MB at 100k × 1024 dimensions, against 400 MB of floats), takes the
 * candidates nearest in Hamming distance, and orders those by their exact cosine (sqlite-vec's
 * vec_distance_cosine over the float BLOBs): binary quantization with exact rescoring. A scope of
 * at most EXACT_BELOW vectors has all of them rescored, which is the exact answer. The scope's
 * files select the bits compared, so candidates never come from outside the scope. A store's
 * bits stay in memory between searches (storeBits: checked against the store's bits_version,
 * which every write renews). Stores from before the bits (quantized = 0) are searched by the
 * exact scan over the floats, in windows of rowids, while their first search fills their bits in
 * the background. Numbers, recall included: bench/results/knowledge-index.md.
 */

/** FTS5 tokenizer arguments: `ascii`, with every printable ASCII non-alphanumeric a token character. */
const TOKENIZE = `ascii tokenchars '${"!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~".replaceAll("'", "''")}'`;

/**
 * The distinct words of a query that count: FTS5 looks each one up (about 0.1 ms apiece, found
 * or not), so a query of 100k words would hold the thread for seconds. 256 words is a long
 * paragraph; beyond that a text is not a question.
 */
export const MAX_QUERY_WORDS = 256;

/**
 * Rowids of knowledge_vectors one synchronous step of a vector scan covers before the event loop
 * gets a turn: 10k 1024-dimension vectors take about 30 ms of CPU (bench/results/knowledge-index.md).
 */
const SCAN_WINDOW = 10_000;

/**
 * A scope of at most this many vectors is searched exactly: all of them rescored (4 to 6 µs each
 * at 1024 dimensions, looked up by id; 5,000 took 26-32 ms of CPU on the shared machine, over the
 * 20 ms goal). Above it the approximate path answers, with 400 candidates or more.
 */
export const EXACT_BELOW = 2_500;

/**
 * Candidates the Hamming prefilter hands to the exact rescoring: OVERSAMPLE times the results
 * asked for, at least MIN_CANDIDATES, for 1024 dimensions or more; fewer dimensions give fewer
 * bits to tell vectors apart, so proportionally more (and each is cheaper to rescore). Chosen by
 * recall@10 on bench/knowledge-index.ts's clustered vectors: at 100k × 1024 dimensions, 400
 * candidates 1.000 (200: 0.980); at 50k × 512, 800 candidates 0.993 (400: 0.978); at 50k × 256,
 * 1,600 candidates 0.983 (400: 0.880). Random vectors need far more (0.67 at 100k with 400).
 */
export const OVERSAMPLE = 40;
export const MIN_CANDIDATES = 400;
const FULL_BITS = 1024;

/** How many candidates a search for the best `n` of `dims`-dimension vectors rescores. */
export const candidates = (n: number, dims: number): number => Math.ceil(Math.max(MIN_CANDIDATES, n * OVERSAMPLE) * Math.max(1, FULL_BITS / dims));

/**
 * Queries of fewer dimensions are answered by the exact scan: a few bits cannot tell vectors
 * apart (every vector of a 2-dimension quadrant has the same bits), and such small vectors are
 * cheap to scan exactly (they sit in the table's pages, not in overflow pages).
 */
export const MIN_BITS_DIMS = 128;

/** knowledge_bits rows (a file's vectors of one length each) one synchronous step reads. */
const BITS_PAGE = 256;

/** Vectors one synchronous step compares by Hamming distance (about 2 ms at 1024 dimensions). */
const HAMMING_WINDOW = 50_000;

/**
 * Memory the stores' bits may hold between searches: 64 MiB, 470k vectors of 1024 dimensions.
 * A store larger than that is read from knowledge_bits for each search.
 */
const BITS_CACHE_BYTES = 64 * 2 ** 20;

/** Candidates one synchronous step rescores (about 3 µs each at 1024 dimensions). */
const RESCORE_BATCH = 2_000;

const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/**
 * A text's words as the FTS5 tokenizer (TOKENIZE) cuts them: split at ASCII spaces and control
 * characters, A-Z folded, all else kept as is. Query words go through it too, so that each is
 * exactly one indexed word (a query word holding a space would otherwise be a phrase).
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

interface StoreRow {
  id: number;
  vector_store_id: string;
  quantized: number;
  /** Random, new with each write of the store's bits: what the bits cache is checked against. */
  bits_version: number;
}

/** A store's bits for one vector length, as cached: its knowledge_bits rows as read. */
interface StoreBits {
  vectorStoreId: string;
  version: number;
  /** A row per file: its chunk ids, and their bits (bitWords(dims) words each). */
  rows: { ids: Float64Array; bits: Uint32Array }[];
  /** File id → its row. */
  files: Map<string, { ids: Float64Array; bits: Uint32Array }>;
  bytes: number;
}

/** Higher score first, then the older chunk. */
const byScore = (a: { id: number; score: number }, b: { id: number; score: number }): number => b.score - a.score || a.id - b.id;

/** A typed array of `size` elements holding `a`'s. */
function grow<T extends Float64Array | Uint32Array>(a: T, size: number): T {
  const b = new (a.constructor as new (n: number) => T)(size);
  b.set(a);
  return b;
}

const hit = (r: HitRow): ChunkHit => ({ vectorStoreId: r.vector_store_id, fileId: r.file_id, seq: r.seq, text: r.text, score: r.score });

/** Whether the scope can hold anything at all. */
const emptyScope = (scope: ChunkScope): boolean => scope.vectorStoreIds.length === 0 || (scope.fileIds !== undefined && scope.fileIds.length === 0);

/** An FTS5 string: the word taken literally, whatever it holds. */
const literal = (word: string): string => `"${word.replaceAll('"', '""')}"`;

/** A store's words' table; `id` is knowledge_stores.id, an integer, so the name is safe SQL. */
const termsTable = (id: number): string => `knowledge_terms_${id}`;

export class SQLiteChunkIndex implements ChunkIndex {
  private readonly statement: (sql: string) => Database.Statement;
  /**
   * Statements over one store's words' table, by knowledge_stores.id: dropped with the store, so
   * that stores come and go without the cache growing.
   */
  private readonly storeStatements = new Map<number, (sql: string) => Database.Statement>();
  private readonly replace: Database.Transaction<(vectorStoreId: string, fileId: string, chunks: readonly ChunkInput[]) => void>;
  private readonly removeOne: Database.Transaction<(vectorStoreId: string, fileId: string) => void>;
  private readonly removeAll: Database.Transaction<(vectorStoreId: string) => void>;
  /** Writes one file's bits of a store from before them; false when the store is gone. */
  private readonly fillBits: Database.Transaction<(id: number, vectorStoreId: string, fileId: string) => boolean>;
  /** Stores from before the bits whose bits are being written, by knowledge_stores.id. */
  private readonly filling = new Map<number, Promise<void>>();
  /** Stores' bits by `${knowledge_stores.id}:${dims}`, least recently used first (storeBits). */
  private readonly bitsCache = new Map<string, StoreBits>();
  /** The store whose words temp.export_words holds (exportChunks); undefined: none, or stale. */
  private exportedStore: string | undefined;

  constructor(private readonly db: Database.Database) {
    // vec_distance_cosine; loading twice into one connection is harmless.
    sqliteVec.load(db);
    this.statement = statementCache(db);
    this.removeOne = db.transaction((vectorStoreId: string, fileId: string) => {
      const id = this.storeId(vectorStoreId);
      if (id === undefined) return;
      this.removeFileRows(id, vectorStoreId, fileId);
      this.bitsChanged(id);
    });
    this.removeAll = db.transaction((vectorStoreId: string) => {
      const id = this.storeId(vectorStoreId);
      if (id === undefined) return;
      this.statement('DELETE FROM knowledge_bits WHERE store_id = ?').run(id);
      this.statement('DELETE FROM knowledge_vectors WHERE vector_store_id = ?').run(vectorStoreId);
      this.statement('DELETE FROM knowledge_chunks WHERE vector_store_id = ?').run(vectorStoreId);
      this.statement('DELETE FROM knowledge_stores WHERE id = ?').run(id);
      db.exec(`DROP TABLE ${termsTable(id)}`);
      this.storeStatements.delete(id);
      for (const key of [...this.bitsCache.keys()]) if (key.startsWith(`${id}:`)) this.bitsCache.delete(key);
    });
    this.replace = db.transaction((vectorStoreId: string, fileId: string, chunks: readonly ChunkInput[]) => {
      const id = this.storeId(vectorStoreId) ?? this.createStore(vectorStoreId);
      this.removeFileRows(id, vectorStoreId, fileId);
      const chunk = this.statement('INSERT INTO knowledge_chunks (vector_store_id, file_id, seq, tokens, text) VALUES (?, ?, ?, ?, ?)');
      const words = this.storeStatement(id, `INSERT INTO ${termsTable(id)} (rowid, terms) VALUES (?, ?)`);
      const vector = this.statement('INSERT INTO knowledge_vectors (id, vector_store_id, file_id, vector) VALUES (?, ?, ?, ?)');
      const vectors: { id: number; vector: Float32Array }[] = [];
      for (const c of chunks) {
        const rowid = chunk.run(vectorStoreId, fileId, c.seq, c.tokens, c.text).lastInsertRowid;
        words.run(rowid, c.terms);
        if (c.vector && c.vector.length > 0) {
          vector.run(rowid, vectorStoreId, fileId, blob(c.vector));
          vectors.push({ id: Number(rowid), vector: c.vector });
        }
      }
      this.writeBits(id, fileId, vectors);
      this.bitsChanged(id);
    });
    this.fillBits = db.transaction((id: number, vectorStoreId: string, fileId: string): boolean => {
      // The store may have gone (and its id been given to another) since the fill began.
      if (this.storeId(vectorStoreId) !== id) return false;
      const rows = this.statement(
        `SELECT v.id, v.vector FROM knowledge_chunks c JOIN knowledge_vectors v ON v.id = c.id
         WHERE c.vector_store_id = ? AND c.file_id = ? ORDER BY c.id`,
      ).all(vectorStoreId, fileId) as { id: number; vector: Buffer }[];
      this.statement('DELETE FROM knowledge_bits WHERE store_id = ? AND file_id = ?').run(id, fileId);
      this.writeBits(id, fileId, rows.map((r) => ({ id: r.id, vector: new Float32Array(new Uint8Array(r.vector).buffer, 0, r.vector.byteLength >>> 2) })));
      this.bitsChanged(id);
      return true;
    });
  }

  /** A new random bits_version for the store (in the caller's transaction): cached bits are stale. */
  private bitsChanged(id: number): void {
    // 53 bits: exact as a JavaScript number.
    this.statement('UPDATE knowledge_stores SET bits_version = random() >> 11 WHERE id = ?').run(id);
  }

  /** A file's vectors' sign bits, a knowledge_bits row per vector length (in the caller's transaction). */
  private writeBits(id: number, fileId: string, vectors: readonly { id: number; vector: Float32Array }[]): void {
    const byDims = new Map<number, { id: number; vector: Float32Array }[]>();
    for (const v of vectors) {
      if (!hasDirection(v.vector)) continue;
      const same = byDims.get(v.vector.length);
      if (same) same.push(v);
      else byDims.set(v.vector.length, [v]);
    }
    const insert = this.statement('INSERT INTO knowledge_bits (store_id, file_id, dims, ids, bits) VALUES (?, ?, ?, ?, ?)');
    for (const [dims, list] of byDims) {
      const words = bitWords(dims);
      const ids = new Float64Array(list.length);
      const bits = new Uint32Array(list.length * words);
      list.forEach((v, i) => {
        ids[i] = v.id;
        quantize(v.vector, bits, i * words);
      });
      insert.run(id, fileId, dims, Buffer.from(ids.buffer), Buffer.from(bits.buffer));
    }
  }

  private storeStatement(id: number, sql: string): Database.Statement {
    let cache = this.storeStatements.get(id);
    if (!cache) {
      cache = statementCache(this.db);
      this.storeStatements.set(id, cache);
    }
    return cache(sql);
  }

  private storeId(vectorStoreId: string): number | undefined {
    return (this.statement('SELECT id FROM knowledge_stores WHERE vector_store_id = ?').get(vectorStoreId) as { id: number } | undefined)?.id;
  }

  /** Registers a store and makes its words' table (in the caller's transaction). */
  private createStore(vectorStoreId: string): number {
    // quantized: every vector of a store made now gets its bits as it is written.
    const id = Number(this.statement('INSERT INTO knowledge_stores (vector_store_id, quantized) VALUES (?, 1)').run(vectorStoreId).lastInsertRowid);
    // contentless: the text is in knowledge_chunks already; contentless_delete: rows can still be deleted one by one.
    this.db.exec(`CREATE VIRTUAL TABLE ${termsTable(id)} USING fts5 (terms, content = '', contentless_delete = 1, tokenize = '${TOKENIZE.replaceAll("'", "''")}')`);
    return id;
  }

  private removeFileRows(id: number, vectorStoreId: string, fileId: string): void {
    const ids = 'SELECT id FROM knowledge_chunks WHERE vector_store_id = ? AND file_id = ?';
    this.storeStatement(id, `DELETE FROM ${termsTable(id)} WHERE rowid IN (${ids})`).run(vectorStoreId, fileId);
    this.statement('DELETE FROM knowledge_bits WHERE store_id = ? AND file_id = ?').run(id, fileId);
    // By the chunks' ids (knowledge_chunks_file), not by file_id: knowledge_vectors is indexed by
    // store only, so that would visit every vector of the store for each file written.
    this.statement(`DELETE FROM knowledge_vectors WHERE id IN (${ids})`).run(vectorStoreId, fileId);
    this.statement('DELETE FROM knowledge_chunks WHERE vector_store_id = ? AND file_id = ?').run(vectorStoreId, fileId);
  }

  // Writes take the write lock when they begin (IMMEDIATE): a deferred transaction that read first
  // gets SQLITE_BUSY at once, without waiting, when the usage writer's thread wrote meanwhile.
  async replaceFile(vectorStoreId: string, fileId: string, chunks: readonly ChunkInput[]): Promise<void> {
    this.exportedStore = undefined;
    this.replace.immediate(vectorStoreId, fileId, chunks);
  }

  async removeFile(vectorStoreId: string, fileId: string): Promise<void> {
    this.exportedStore = undefined;
    this.removeOne.immediate(vectorStoreId, fileId);
  }

  async removeStore(vectorStoreId: string): Promise<void> {
    this.exportedStore = undefined;
    this.removeAll.immediate(vectorStoreId);
  }

  async keyword(scope: ChunkScope, terms: readonly string[], limit: number): Promise<ChunkHit[]> {
    const n = count(limit);
    const words = [...new Set(terms.flatMap(ftsWords))].slice(0, MAX_QUERY_WORDS);
    if (n === 0 || words.length === 0 || emptyScope(scope)) return [];
    const match = words.map(literal).join(' OR ');
    const files = scope.fileIds === undefined ? undefined : JSON.stringify(scope.fileIds);
    const stores = this.statement('SELECT id, vector_store_id FROM knowledge_stores WHERE vector_store_id IN (SELECT value FROM json_each(?))').all(JSON.stringify(scope.vectorStoreIds)) as { id: number; vector_store_id: string }[];
    let best: { id: number; score: number }[] = [];
    for (const store of stores) {
      const t = termsTable(store.id);
      // bm25() is lower-is-better (negative); the port's score is higher-is-better.
      const rows = files === undefined
        ? this.storeStatement(store.id, `SELECT rowid AS id, -bm25(${t}) AS score FROM ${t} WHERE ${t} MATCH ? ORDER BY rank LIMIT ?`).all(match, n)
        : // Every match scored first (as ORDER BY rank does anyway), then the files kept: a rowid
          // constraint handed to FTS5 would rerun the whole query once per rowid.
          this.storeStatement(
            store.id,
            `WITH m AS MATERIALIZED (SELECT rowid AS id, -bm25(${t}) AS score FROM ${t} WHERE ${t} MATCH ?)
             SELECT m.id, m.score FROM m JOIN knowledge_chunks c ON c.id = m.id
             WHERE c.file_id IN (SELECT value FROM json_each(?))
             ORDER BY m.score DESC LIMIT ?`,
          ).all(match, files, n);
      best = best.concat(rows as { id: number; score: number }[]);
    }
    return this.hits(best, n);
  }

  /** The best `n` of `scored` (by score, then insertion order) with their chunks. */
  private hits(scored: { id: number; score: number }[], n: number): ChunkHit[] {
    const best = scored.sort(byScore).slice(0, n);
    if (best.length === 0) return [];
    const rows = this.statement('SELECT id, vector_store_id, file_id, seq, text FROM knowledge_chunks WHERE id IN (SELECT value FROM json_each(?))').all(JSON.stringify(best.map((b) => b.id))) as (Omit<HitRow, 'score'> & { id: number })[];
    const byId = new Map(rows.map((r) => [r.id, r]));
    // A chunk deleted between the scan and this read is left out.
    return best.flatMap((b) => {
      const r = byId.get(b.id);
      return r ? [hit({ ...r, score: b.score })] : [];
    });
  }

  async nearest(scope: ChunkScope, vector: Float32Array, limit: number): Promise<ChunkHit[]> {
    const n = count(limit);
    // A zero or NaN query has no direction: no cosine to rank by.
    if (n === 0 || !hasDirection(vector) || emptyScope(scope)) return [];
    const stores = this.statement('SELECT id, vector_store_id, quantized, bits_version FROM knowledge_stores WHERE vector_store_id IN (SELECT value FROM json_each(?))').all(JSON.stringify(scope.vectorStoreIds)) as StoreRow[];
    const bits = vector.length >= MIN_BITS_DIMS;
    const ready = stores.filter((s) => bits && s.quantized === 1);
    const exact = stores.filter((s) => !bits || s.quantized !== 1);
    for (const s of stores) if (s.quantized !== 1) this.fill(s.id, s.vector_store_id);
    const best = [
      ...(ready.length > 0 ? await this.nearestByBits(ready, scope, vector, n) : []),
      ...(exact.length > 0 ? await this.nearestExact({ ...scope, vectorStoreIds: exact.map((s) => s.vector_store_id) }, vector, n) : []),
    ];
    return this.hits(best, n);
  }

  /**
   * Binary quantization and exact rescoring: the Hamming distance from the query's bits to every
   * vector of the scope's files, then the exact cosine of the nearest few (all of them in a scope
   * of at most EXACT_BELOW). The event loop gets a turn every HAMMING_WINDOW vectors and between
   * rescoring batches.
   */
  private async nearestByBits(stores: readonly StoreRow[], scope: ChunkScope, vector: Float32Array, n: number): Promise<{ id: number; score: number }[]> {
    const dims = vector.length;
    const words = bitWords(dims);
    const q = new Uint32Array(words);
    quantize(vector, q, 0);
    const fileIds = scope.fileIds === undefined ? undefined : [...new Set(scope.fileIds)];
    let ids = new Float64Array(1024);
    let dist = new Uint32Array(1024);
    let total = 0;
    let sinceTurn = 0;
    const add = async (row: { ids: Float64Array; bits: Uint32Array }): Promise<void> => {
      const m = Math.min(row.ids.length, Math.floor(row.bits.length / words));
      if (total + m > ids.length) {
        const size = Math.max(total + m, ids.length * 2);
        ids = grow(ids, size);
        dist = grow(dist, size);
      }
      ids.set(row.ids.subarray(0, m), total);
      hamming(row.bits, m, q, dist, total);
      total += m;
      sinceTurn += m;
      if (sinceTurn >= HAMMING_WINDOW) {
        sinceTurn = 0;
        await turn();
      }
    };
    for (const store of stores) {
      const entry = await this.storeBits(store, dims);
      if (fileIds === undefined) {
        for (const row of entry.rows) await add(row);
      } else {
        for (const f of fileIds) {
          const row = entry.files.get(f);
          if (row) await add(row);
        }
      }
    }
    const wanted = total <= EXACT_BELOW ? total : candidates(n, dims);
    const chosen = smallest(dist, total, wanted, dims).map((i) => ids[i]!);
    // The stores and files are checked again: bits read before a write may name a chunk id since
    // deleted and, SQLite reusing the largest rowid, given to another store's chunk.
    const files = scope.fileIds === undefined ? '' : 'AND file_id IN (SELECT value FROM json_each(@files))';
    const rescore = this.statement(
      `SELECT id, 1 - vec_distance_cosine(vector, @q) AS score FROM knowledge_vectors
       WHERE id IN (SELECT value FROM json_each(@ids)) AND length(vector) = @bytes
         AND vector_store_id IN (SELECT value FROM json_each(@stores)) ${files}`,
    );
    const qb = blob(vector);
    const stable = { q: qb, bytes: qb.byteLength, stores: JSON.stringify(stores.map((s) => s.vector_store_id)), ...(fileIds !== undefined && { files: JSON.stringify(fileIds) }) };
    let best: { id: number; score: number }[] = [];
    for (let i = 0; i < chosen.length; i += RESCORE_BATCH) {
      await turn();
      const rows = rescore.all({ ...stable, ids: JSON.stringify(chosen.slice(i, i + RESCORE_BATCH)) }) as { id: number; score: number | null }[];
      best = best.concat(rows.filter((r): r is { id: number; score: number } => r.score !== null)).sort(byScore).slice(0, n);
    }
    return best;
  }

  /**
   * A store's bits for vectors of `dims` dimensions: from the cache when the store's bits_version
   * is the one cached (every write of the store's bits gives it a new random version, so a write
   * by any connection shows), else read from knowledge_bits a page of rows at a time, with a turn
   * of the event loop between pages, and cached (least recently used out past BITS_CACHE_BYTES).
   * Reading the rows is most of a search's cost otherwise (13.6 MB of BLOBs at 100k × 1024).
   */
  private async storeBits(store: StoreRow, dims: number): Promise<StoreBits> {
    const key = `${store.id}:${dims}`;
    const cached = this.bitsCache.get(key);
    if (cached && cached.version === store.bits_version && cached.vectorStoreId === store.vector_store_id) {
      this.bitsCache.delete(key);
      this.bitsCache.set(key, cached);
      return cached;
    }
    const page = this.statement(`SELECT file_id, ids, bits FROM knowledge_bits WHERE store_id = ? AND file_id > ? AND dims = ? ORDER BY file_id LIMIT ${BITS_PAGE}`);
    const rows: { file_id: string; ids: Buffer; bits: Buffer }[] = [];
    for (let after = ''; ; ) {
      if (rows.length > 0) await turn();
      const got = page.all(store.id, after, dims) as { file_id: string; ids: Buffer; bits: Buffer }[];
      rows.push(...got);
      if (got.length < BITS_PAGE) break;
      after = got[got.length - 1]!.file_id;
    }
    // The BLOBs are kept as read (views, no copy): one Buffer per file.
    const entry: StoreBits = { vectorStoreId: store.vector_store_id, version: store.bits_version, rows: [], files: new Map(), bytes: 0 };
    for (const r of rows) {
      const row = { ids: float64sOf(r.ids), bits: wordsOf(r.bits) };
      entry.rows.push(row);
      entry.files.set(r.file_id, row);
      entry.bytes += r.ids.byteLength + r.bits.byteLength;
    }
    this.bitsCache.delete(key);
    if (entry.bytes <= BITS_CACHE_BYTES) {
      let held = entry.bytes;
      for (const b of this.bitsCache.values()) held += b.bytes;
      for (const [k, b] of this.bitsCache) {
        if (held <= BITS_CACHE_BYTES) break;
        this.bitsCache.delete(k);
        held -= b.bytes;
      }
      this.bitsCache.set(key, entry);
    }
    return entry;
  }

  /** The exact cosine scan over the float vectors, for stores whose bits are not written yet. */
  private async nearestExact(scope: ChunkScope, vector: Float32Array, n: number): Promise<{ id: number; score: number }[]> {
    const files = scope.fileIds === undefined ? '' : 'AND file_id IN (SELECT value FROM json_each(@files))';
    // Vectors of another length (another embedding model: the caller's to refuse) are skipped,
    // not compared. A zero (or NaN) vector has no direction: its NULL score sorts last and is
    // dropped below (`score IS NOT NULL` here would compute every distance twice).
    const sql = `
      SELECT id, 1 - vec_distance_cosine(vector, @q) AS score FROM knowledge_vectors
      WHERE vector_store_id IN (SELECT value FROM json_each(@stores)) AND id > @from AND id <= @to
        AND length(vector) = @bytes ${files}
      ORDER BY score DESC, id LIMIT @n`;
    const q = blob(vector);
    const params: Record<string, unknown> = { q, stores: JSON.stringify(scope.vectorStoreIds), bytes: q.byteLength, n };
    if (scope.fileIds !== undefined) params.files = JSON.stringify(scope.fileIds);
    const { lo, hi } = this.statement('SELECT COALESCE(MIN(id), 0) AS lo, COALESCE(MAX(id), 0) AS hi FROM knowledge_vectors').get() as { lo: number; hi: number };
    let best: { id: number; score: number }[] = [];
    // A scan of 100k vectors holds the thread for too long (bench/results/knowledge-index.md):
    // in windows of rowids, the event loop gets a turn between them. Writes between windows may
    // show or hide a chunk; a search over a store being changed has no better answer anyway.
    for (let from = lo - 1; from < hi; from += SCAN_WINDOW) {
      if (from > lo - 1) await turn();
      const rows = (this.statement(sql).all({ ...params, from, to: from + SCAN_WINDOW }) as { id: number; score: number | null }[]).filter(
        (r): r is { id: number; score: number } => r.score !== null,
      );
      best = best.concat(rows).sort(byScore).slice(0, n);
    }
    return best;
  }

  /**
   * Writes the bits of a store from before them, in the background: a file per transaction, a
   * turn of the event loop between files, then marks the store quantized. Files written
   * meanwhile get their bits from replaceFile; one rewritten twice is harmless. A failure (the
   * connection closed, say) leaves the store as it was, to be filled on a later search.
   */
  private fill(id: number, vectorStoreId: string): void {
    if (this.filling.has(id)) return;
    const run = (async () => {
      const next = this.statement('SELECT DISTINCT file_id FROM knowledge_chunks WHERE vector_store_id = ? AND file_id > ? ORDER BY file_id LIMIT 64');
      for (let after = ''; ; ) {
        await turn();
        const files = next.pluck().all(vectorStoreId, after) as string[];
        for (const f of files) {
          if (!this.fillBits.immediate(id, vectorStoreId, f)) return;
          await turn();
        }
        if (files.length === 0) break;
        after = files[files.length - 1]!;
      }
      this.db.transaction(() => {
        if (this.storeId(vectorStoreId) === id) this.statement('UPDATE knowledge_stores SET quantized = 1 WHERE id = ?').run(id);
      }).immediate();
    })()
      .catch(() => undefined)
      .finally(() => this.filling.delete(id));
    this.filling.set(id, run);
  }

  /** Resolves when every background fill of bits begun so far has ended (for tests and shutdown). */
  async settled(): Promise<void> {
    while (this.filling.size > 0) await Promise.all(this.filling.values());
  }

  async fileChunks(vectorStoreId: string, fileId: string, after: number | undefined, limit: number): Promise<StoredChunk[]> {
    const n = count(limit);
    if (n === 0) return [];
    return this.statement('SELECT seq, text, tokens FROM knowledge_chunks WHERE vector_store_id = ? AND file_id = ? AND seq > ? ORDER BY seq LIMIT ?').all(vectorStoreId, fileId, after ?? -1, n) as StoredChunk[];
  }

  // Exports for `baimo migrate --from sqlite` (store/postgres/copy-from-sqlite.ts).

  /** How many chunks, and vectors among them, the index holds for a file. */
  exportFileCounts(vectorStoreId: string, fileId: string): { chunks: number; vectors: number } {
    return this.statement(
      `SELECT count(*) AS chunks, count(v.id) AS vectors FROM knowledge_chunks c LEFT JOIN knowledge_vectors v ON v.id = c.id
       WHERE c.vector_store_id = ? AND c.file_id = ?`,
    ).get(vectorStoreId, fileId) as { chunks: number; vectors: number };
  }

  /**
   * A file's chunks as ingestion handed them to replaceFile: text, tokens, vector, and the words.
   * The words' table is contentless (the text lives in knowledge_chunks), so the words are read
   * back from the FTS5 index itself (fts5vocab 'instance': each word with its chunk and position)
   * in position order. They come back as the tokenizer keeps them, A-Z folded, which
   * knowledge/segment.ts's lower-cased words already are. fts5vocab can only be read whole, so a
   * store's words are copied once into a temporary table keyed by chunk (on this connection only;
   * the data file is not written) and its files read from there.
   */
  exportChunks(vectorStoreId: string, fileId: string): ChunkInput[] {
    if (this.exportedStore !== vectorStoreId) {
      this.db.exec('CREATE TEMP TABLE IF NOT EXISTS export_words (doc INTEGER NOT NULL, pos INTEGER NOT NULL, term TEXT NOT NULL, PRIMARY KEY (doc, pos)) WITHOUT ROWID; DELETE FROM temp.export_words;');
      const id = this.storeId(vectorStoreId);
      if (id !== undefined) {
        this.db.exec(
          `DROP TABLE IF EXISTS temp.export_vocab;
           CREATE VIRTUAL TABLE temp.export_vocab USING fts5vocab(main, ${termsTable(id)}, instance);
           INSERT INTO temp.export_words (doc, pos, term) SELECT doc, offset, term FROM temp.export_vocab;
           DROP TABLE temp.export_vocab;`,
        );
      }
      this.exportedStore = vectorStoreId;
    }
    // Not cached: the temporary table comes and goes with the connection's other exports.
    const rows = this.db.prepare(
      `SELECT c.seq, c.text, c.tokens, v.vector,
              (SELECT group_concat(w.term, ' ' ORDER BY w.pos) FROM temp.export_words w WHERE w.doc = c.id) AS terms
       FROM knowledge_chunks c LEFT JOIN knowledge_vectors v ON v.id = c.id
       WHERE c.vector_store_id = ? AND c.file_id = ? ORDER BY c.seq`,
    ).all(vectorStoreId, fileId) as { seq: number; text: string; tokens: number; vector: Buffer | null; terms: string | null }[];
    return rows.map((r) => ({
      seq: r.seq,
      text: r.text,
      tokens: r.tokens,
      terms: r.terms ?? '',
      // Copied into an aligned buffer of its own (a Float32Array view needs a 4-byte aligned offset).
      ...(r.vector !== null && { vector: new Float32Array(new Uint8Array(r.vector).buffer) }),
    }));
  }
}
