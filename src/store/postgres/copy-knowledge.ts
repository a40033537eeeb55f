/**
 * The knowledge half of `baimo migrate --from sqlite` (copy-from-sqlite.ts): vector stores, their
 * batches, their files' rows and the chunk index. Safe to run again like the rest: rows go with
 * ON CONFLICT DO NOTHING on their keys, and a file's chunks are copied only when the database
 * holds none of them (the index takes a file whole, in one transaction, through the ChunkIndex
 * port, which keeps the per-store statistics BM25 needs in step).
 *
 * Order, a page of files at a time: a file's chunks before its row, so a copy cut short never
 * leaves a `completed` file that search finds empty; stores and batches before the files that
 * name them. A file `in_progress` goes as it is with no lease (lease_until 0): the embedded hub is
 * stopped, so the shared hubs' ingestion runners claim it at once and ingest it from its bytes
 * (copied with the uploaded files), as a restarted embedded hub would have.
 */
import { VectorsUnavailableError } from '../../knowledge/ports.js';
import type { ChunkInput, VectorStoreFileRow } from '../../knowledge/ports.js';
import type { SQLiteStores } from '../sqlite/index.js';
import { FILE_COLUMNS, fileValues, STORE_COLUMNS, storeValues } from '../vector-store-rows.js';
import type { PostgresStores } from './index.js';

export interface KnowledgeCopy {
  readonly table: string;
  readonly read: number;
  readonly added: number;
  /** Something the copy could not do, said in one line (vectors without pgvector). */
  readonly note?: string;
}

type Progress = (e: { readonly table: string; readonly done: number; readonly total: number }) => void;

/** PostgreSQL refuses NUL in text (as copy-from-sqlite.ts does for bodies). */
function text(s: string | null): string | null {
  return s !== null && s.includes('\u0000') ? s.replaceAll('\u0000', '\uFFFD') : s;
}

/** Rows as one array per column, for an INSERT … SELECT FROM unnest(…). */
function columns(rows: readonly unknown[][], width: number): unknown[][] {
  return Array.from({ length: width }, (_, i) => rows.map((r) => (typeof r[i] === 'string' ? text(r[i] as string) : r[i])));
}

const STORE_TYPES = ['text', 'text', 'text', 'text', 'int8', 'int8', 'int8', 'int8', 'text', 'bool'];
const FILE_TYPES = ['text', 'text', 'text', 'text', 'int8', 'text', 'text', 'text', 'text', 'int8', 'int8', 'int8', 'text'];
const unnest = (types: readonly string[]) => `unnest(${types.map((t, i) => `$${i + 1}::${t}[]`).join(', ')})`;

/**
 * Copies the knowledge bases of `src` into `dst`, `chunk` rows (or files) a page. Returns what
 * each table's copy did, in the order copied.
 */
export async function copyKnowledge(src: SQLiteStores, dst: PostgresStores, chunk: number, progress: Progress): Promise<KnowledgeCopy[]> {
  const pool = dst.pool;
  const counts = src.vectorStores.exportCounts();

  progress({ table: 'vector_stores', done: 0, total: counts.stores });
  const stores = { read: 0, added: 0 };
  for (let after = ''; ; ) {
    const page = src.vectorStores.exportStores(after, chunk);
    if (page.length === 0) break;
    const r = await pool.query(`INSERT INTO vector_stores (${STORE_COLUMNS}) SELECT * FROM ${unnest(STORE_TYPES)} ON CONFLICT DO NOTHING`, columns(page.map(storeValues), STORE_TYPES.length));
    stores.read += page.length;
    stores.added += r.rowCount ?? 0;
    after = page[page.length - 1]!.id;
  }

  // A batch (or below, a file) whose store is gone from SQLite (a file edited with its foreign
  // keys off) would break the database's: it is read and left out.
  progress({ table: 'vector_store_file_batches', done: 0, total: counts.batches });
  const batches = { read: 0, added: 0 };
  for (let after = ''; ; ) {
    const page = src.vectorStores.exportBatches(after, chunk);
    if (page.length === 0) break;
    const r = await pool.query(
      `INSERT INTO vector_store_file_batches (id, vector_store_id, created_at, cancelled_at)
       SELECT u.* FROM unnest($1::text[], $2::text[], $3::int8[], $4::int8[]) AS u (id, vector_store_id, created_at, cancelled_at)
       WHERE EXISTS (SELECT 1 FROM vector_stores s WHERE s.id = u.vector_store_id)
       ON CONFLICT DO NOTHING`,
      [page.map((b) => b.id), page.map((b) => b.vectorStoreId), page.map((b) => b.createdAt), page.map((b) => b.cancelledAt)],
    );
    batches.read += page.length;
    batches.added += r.rowCount ?? 0;
    after = page[page.length - 1]!.id;
  }

  progress({ table: 'vector_store_files', done: 0, total: counts.files });
  const files = { read: 0, added: 0 };
  const chunks = { read: 0, added: 0 };
  const vectors = { read: 0, added: 0 };
  // Without pgvector the keyword half is still copied and the rest of the copy goes on: keys,
  // usage and every keyword-only store are worth having on the shared store now, and vectors have
  // nowhere to go until the extension is installed. A run after installing it copies the vectors
  // the database lacks (nothing else twice). Stopping instead would hold everything else hostage
  // to one server package; the summary names the extension and the stores left without vectors.
  let noVectors: string | undefined;
  const storesWithoutVectors = new Set<string>();
  for (let after: VectorStoreFileRow | undefined; ; ) {
    const page = src.vectorStores.exportFiles(after, chunk);
    if (page.length === 0) break;
    const have = await indexed(dst, page);
    for (const f of page) {
      const lite = src.knowledge.exportFileCounts(f.vectorStoreId, f.fileId);
      chunks.read += lite.chunks;
      vectors.read += lite.vectors;
      if (lite.chunks === 0) continue;
      const pg = have.get(key(f)) ?? { chunks: 0, vectors: 0 };
      const needChunks = pg.chunks === 0;
      const needVectors = lite.vectors > 0 && pg.vectors === 0;
      if (!needChunks && (!needVectors || noVectors !== undefined)) {
        if (needVectors) storesWithoutVectors.add(f.vectorStoreId);
        continue;
      }
      let input: ChunkInput[] = src.knowledge.exportChunks(f.vectorStoreId, f.fileId);
      if (noVectors !== undefined) input = input.map(keywordOnly);
      try {
        await dst.knowledge.replaceFile(f.vectorStoreId, f.fileId, input);
      } catch (err) {
        if (!(err instanceof VectorsUnavailableError)) throw err;
        noVectors = err.message;
        input = input.map(keywordOnly);
        if (needChunks) await dst.knowledge.replaceFile(f.vectorStoreId, f.fileId, input);
      }
      if (needChunks) chunks.added += input.length;
      const withVectors = input.filter((c) => c.vector !== undefined).length;
      vectors.added += withVectors;
      if (lite.vectors > withVectors) storesWithoutVectors.add(f.vectorStoreId);
    }
    const r = await pool.query(
      `INSERT INTO vector_store_files (${FILE_COLUMNS}, lease_until)
       SELECT u.*, 0 FROM ${unnest(FILE_TYPES)} AS u (${FILE_COLUMNS})
       WHERE EXISTS (SELECT 1 FROM vector_stores s WHERE s.id = u.vector_store_id)
       ON CONFLICT DO NOTHING`,
      columns(page.map(fileValues), FILE_TYPES.length),
    );
    files.read += page.length;
    files.added += r.rowCount ?? 0;
    progress({ table: 'vector_store_files', done: files.read, total: counts.files });
    after = page[page.length - 1]!;
  }
  // Chunks the index holds for a file no store lists any more (none, unless SQLite was edited by hand) are not copied.

  const out: KnowledgeCopy[] = [
    { table: 'vector_stores', ...stores },
    { table: 'vector_store_file_batches', ...batches },
    { table: 'vector_store_files', ...files },
    { table: 'knowledge_chunks', ...chunks },
    { table: 'knowledge_vectors', ...vectors },
  ];
  if (storesWithoutVectors.size > 0) {
    const ids = [...storesWithoutVectors].sort();
    out[4] = {
      ...out[4]!,
      note:
        `the vectors of ${ids.length} vector store(s) (${ids.join(', ')}) were not copied: this PostgreSQL has no usable pgvector extension ("vector")` +
        `${noVectors ? ` (${noVectors.replace(/\s*\n\s*/g, ' ')})` : ''}. Their keyword index was copied; install pgvector and run this again to copy the vectors.`,
    };
  }
  return out;
}

const key = (f: { vectorStoreId: string; fileId: string }) => `${f.vectorStoreId}\n${f.fileId}`;

function keywordOnly(c: ChunkInput): ChunkInput {
  const { vector: _vector, ...rest } = c;
  return rest;
}

/** How many chunks and vectors the database holds for each of `files` (absent: none). */
async function indexed(dst: PostgresStores, files: readonly VectorStoreFileRow[]): Promise<Map<string, { chunks: number; vectors: number }>> {
  const params = [files.map((f) => f.vectorStoreId), files.map((f) => f.fileId)];
  const pairs = 'SELECT * FROM unnest($1::text[], $2::text[])';
  // The vectors' table exists only once pgvector has been used (knowledge-index.ts).
  const hasVectors = (await dst.pool.query<{ t: string | null }>(`SELECT to_regclass('knowledge_vectors')::text AS t`)).rows[0]!.t !== null;
  const { rows } = await dst.pool.query<{ vector_store_id: string; file_id: string; chunks: number; vectors: number }>(
    `SELECT c.vector_store_id, c.file_id, count(*)::int8 AS chunks, ${hasVectors ? 'count(v.seq)' : '0'}::int8 AS vectors
     FROM knowledge_chunks c ${hasVectors ? 'LEFT JOIN knowledge_vectors v USING (vector_store_id, file_id, seq)' : ''}
     WHERE (c.vector_store_id, c.file_id) IN (${pairs})
     GROUP BY c.vector_store_id, c.file_id`,
    params,
  );
  return new Map(rows.map((r) => [key({ vectorStoreId: r.vector_store_id, fileId: r.file_id }), { chunks: Number(r.chunks), vectors: Number(r.vectors) }]));
}
