/**
 * The chunk index (knowledge/ports.ts ChunkIndex) in PostgreSQL: BM25 over the segmented words
 * with PostgreSQL text search, nearest neighbours by cosine with pgvector (HNSW).
 *
 * Keyword. Each chunk's words (ChunkInput.terms, already segmented by knowledge/segment.ts) are
 * stored as a tsvector built here, one lexeme per word with its positions, and GIN-indexed. It is
 * not `to_tsvector('simple', terms)`: the text-search parser would cut our words again (`e-mail`
 * → e-mail, e, mail; `c++` → c; `a_b` → a, b), so a query word would no longer be one lexeme with
 * one term frequency. BM25 (PostgreSQL's ts_rank is not BM25) is computed in SQL, exactly, top k
 * first by MaxScore (see keyword()): the query's words are taken highest bound (mostly rarest)
 * first and a common word's chunks are read only while that word could still lift a chunk into
 * the top k. A word's document frequency and greatest tf come from a per-store word count table,
 * N, the average length and the fewest words from a per-store statistics row, all kept in step
 * by every write, so no search counts chunks. Words
 * are matched through the GIN index with a tsquery of quoted lexemes OR-ed, so a word like `a:*`,
 * `!` or `'` is always a literal.
 *
 * Vectors. pgvector is optional: nothing about vectors exists until a vector store with an
 * embedding model first writes vectors or searches; then the extension, a vectors table and an
 * HNSW index for that many dimensions are created. pgvector's HNSW indexes need one fixed
 * dimension (its column type's), and vector stores use different models, so vectors are kept in an
 * untyped `vector` column with their dimension beside it, and each dimension gets its own partial
 * expression index: `USING hnsw ((embedding::vector(1024)) vector_cosine_ops) WHERE dims = 1024`.
 * A query for a 1024-dimension vector names the same expression and predicate, so the planner
 * can use that index and nothing casts another dimension's vector. HNSW indexes `vector` up to
 * 2,000 dimensions; up to 4,000 the index is over `halfvec` (half precision: an approximate index
 * either way); beyond, the search is an exact scan.
 */
import type pg from 'pg';
import type { ChunkHit, ChunkIndex, ChunkInput, ChunkScope, StoredChunk } from '../../knowledge/ports.js';
import { transaction } from './transaction.js';
import { VectorsUnavailableError } from '../../knowledge/ports.js';

/** BM25's parameters, as the port states them. */
const K1 = 1.2;
const B = 0.75;

/**
 * Limits of PostgreSQL's tsvector: a lexeme is at most 2,047 bytes (longer is an error, so a
 * longer word — a run of base64, say — is left out of the index: nobody searches for it); positions
 * stop at 16,383 and at 255 per lexeme (tf saturates long before that).
 */
const MAX_LEXEME_BYTES = 2047;
const MAX_POSITION = 16383;
const MAX_POSITIONS = 255;

/** pgvector: a vector holds at most 16,000 dimensions; HNSW indexes `vector` to 2,000 and `halfvec` to 4,000. */
const MAX_DIMS = 16000;
const HNSW_VECTOR_DIMS = 2000;
const HNSW_HALFVEC_DIMS = 4000;

/** Serialises the vector DDL (extension, table, per-dimension indexes) between replicas: "baimovec". */
const VECTOR_DDL_LOCK = 0x6261696d6f766563n;

/** A lexeme as tsvector and tsquery input quote it: quotes doubled, backslashes escaped. */
function quoteLexeme(word: string): string {
  return `'${word.replace(/\\/g, '\\\\').replace(/'/g, "''")}'`;
}

/** PostgreSQL text cannot hold NUL; a stray one in extracted text is dropped rather than failing the file. */
function pgText(s: string): string {
  return s.includes('\0') ? s.replace(/\0/g, '') : s;
}

function indexable(word: string): boolean {
  return word.length > 0 && Buffer.byteLength(word) <= MAX_LEXEME_BYTES;
}

/** The largest int4: what a minimum is given when nothing is added to it. */
const MAX_INT4 = 2147483647;

/**
 * A chunk's words as a tsvector literal (each word a lexeme at its positions), the count of all
 * its words (BM25's document length), and each distinct word's term frequency as PostgreSQL will
 * count it (its positions, after the collapse).
 */
function tsvectorOf(terms: string): { tsv: string; words: number; tf: Map<string, number> } {
  const words = pgText(terms).split(' ').filter(indexable);
  const at = new Map<string, number[]>();
  words.forEach((w, i) => {
    const list = at.get(w) ?? at.set(w, []).get(w)!;
    if (list.length < MAX_POSITIONS) list.push(Math.min(i + 1, MAX_POSITION));
  });
  // Positions past the last one collapse onto it (PostgreSQL would drop the duplicates): tf stays exact below 16,383 words.
  const tf = new Map<string, number>();
  const parts = [...at].map(([w, pos]) => {
    const kept = [...new Set(pos)];
    tf.set(w, kept.length);
    return `${quoteLexeme(w)}:${kept.join(',')}`;
  });
  return { tsv: parts.join(' '), words: words.length, tf };
}

/** The query's distinct, indexable words. */
function queryWords(terms: readonly string[]): string[] {
  return [...new Set(terms.map(pgText))].filter((w) => indexable(w) && !w.includes(' '));
}

/** A tsquery matching any of the words (each a quoted literal, never tsquery syntax). */
function anyOf(words: readonly string[]): string {
  return words.map(quoteLexeme).join(' | ');
}

/** A LIMIT from the caller's number: null (no limit) for Infinity, 0 for nonsense. */
function limitOf(limit: number): number | null {
  if (limit === Infinity) return null;
  return Number.isFinite(limit) && limit >= 1 ? Math.floor(limit) : 0;
}

/** How a dimension's vectors are indexed and compared: the expression the index is on, and the cast a query vector gets. */
function vectorForm(column: string, dims: number, halfvec: boolean): { expr: string; cast: string; ops: string | undefined } {
  if (dims <= HNSW_VECTOR_DIMS) return { expr: `(${column}::vector(${dims}))`, cast: `vector(${dims})`, ops: 'vector_cosine_ops' };
  if (dims <= HNSW_HALFVEC_DIMS && halfvec) return { expr: `(${column}::halfvec(${dims}))`, cast: `halfvec(${dims})`, ops: 'halfvec_cosine_ops' };
  return { expr: column, cast: 'vector', ops: undefined };
}

/** A vector as pgvector's text input, after checking it is one pgvector takes. */
function vectorText(v: Float32Array): string {
  if (!(v instanceof Float32Array) || v.length < 1 || v.length > MAX_DIMS) {
    throw new RangeError(`A vector must have 1 to ${MAX_DIMS} dimensions (pgvector's limit); this one has ${v?.length}.`);
  }
  for (const x of v) if (!Number.isFinite(x)) throw new RangeError('A vector must hold finite numbers only (no NaN or infinity).');
  return `[${v.join(',')}]`;
}

function isZero(v: Float32Array): boolean {
  return v.every((x) => x === 0);
}

/** What pgvector offers on this server, once it is installed. */
interface Vectors {
  /** 0.7.0 and later: halfvec (HNSW to 4,000 dimensions). */
  readonly halfvec: boolean;
  /** 0.8.0 and later: iterative index scans, so a filtered search still fills its limit. */
  readonly iterative: boolean;
}

function versionAtLeast(version: string, major: number, minor: number): boolean {
  const [a = 0, b = 0] = version.split('.').map(Number);
  return a > major || (a === major && b >= minor);
}

interface HitRow {
  vector_store_id: string;
  file_id: string;
  seq: number;
  text: string;
  score: number;
}

function hitFrom(r: HitRow): ChunkHit {
  return { vectorStoreId: r.vector_store_id, fileId: r.file_id, seq: r.seq, text: r.text, score: r.score };
}

/**
 * N, the average length and the fewest words in a chunk from the per-store statistics rows, and
 * each word's document frequency and greatest term frequency from the per-store word counts
 * (knowledge_index_terms, kept in step by every write: a word's chunks are never read to count
 * them). $1 the scope's store ids, $2 the words.
 */
const STATS_READ_SQL = `
SELECT s.n, s.avgdl, s.min_words,
       ARRAY (SELECT coalesce((SELECT sum(t.chunks) FROM knowledge_index_terms t
                               WHERE t.vector_store_id = ANY ($1::text[]) AND t.word = u.w), 0)::float8
              FROM unnest($2::text[]) WITH ORDINALITY AS u (w, i) ORDER BY u.i) AS df,
       ARRAY (SELECT coalesce((SELECT max(t.max_tf) FROM knowledge_index_terms t
                               WHERE t.vector_store_id = ANY ($1::text[]) AND t.word = u.w), 0)::int4
              FROM unnest($2::text[]) WITH ORDINALITY AS u (w, i) ORDER BY u.i) AS max_tf
FROM (SELECT sum(chunks)::float8 AS n, sum(words)::float8 / greatest(sum(chunks), 1) AS avgdl, min(min_words)::float8 AS min_words
      FROM knowledge_index_stats WHERE vector_store_id = ANY ($1::text[])) s`;

/**
 * BM25 of the chunks $5 matches (a batch of the query's words, and none of the words already
 * scored: `(a | b) & !(c | d)`, so the GIN index leaves those out before any row is read), best
 * first, at most $8, of at most $9 words (null: any). $1 store ids, $2 file ids (null: every
 * file), $3 every query word, $4 their document frequencies, $6 N, $7 the average length. A
 * chunk's score sums over all the query words it holds (ts_filter keeps only the lexemes
 * setweight marked, so only the query's words are unnested; each finds its df by its place in
 * $3, not by a join per chunk); idf is Lucene's,
 * ln(1 + (N − df + 0.5)/(df + 0.5)), positive for every word, so every score is > 0. The
 * arithmetic is written as the one-pass query had it (test/knowledge/index-postgres.test.ts keeps
 * that as the reference), so the scores are the same to the bit.
 */
const SCORE_SQL = `
SELECT c.vector_store_id, c.file_id, c.seq,
       (SELECT sum(ln(1 + ($6::float8 - w.df + 0.5) / (w.df + 0.5)) * w.tf * ${K1 + 1}
                   / (w.tf + ${K1} * (${1 - B} + ${B} * c.words / greatest($7::float8, 1e-9))))
        FROM (SELECT ($4::float8[])[array_position($3::text[], u.lexeme)] AS df, cardinality(u.positions) AS tf
              FROM unnest(ts_filter(setweight(c.tsv, 'A', $3::text[]), '{a}')) AS u) AS w) AS score
FROM knowledge_chunks c
WHERE c.tsv @@ $5::tsquery AND ($9::int4 IS NULL OR c.words <= $9::int4)
  AND c.vector_store_id = ANY ($1::text[]) AND ($2::text[] IS NULL OR c.file_id = ANY ($2::text[]))
ORDER BY score DESC, c.vector_store_id, c.file_id, c.seq
LIMIT $8`;

/** The winners among the scored chunks, in the database's order (ties by its collation), with their text. */
const WINNERS_SQL = `
SELECT t.vector_store_id, t.file_id, t.seq, c.text, t.score
FROM unnest($1::text[], $2::text[], $3::int4[], $4::float8[]) AS t (vector_store_id, file_id, seq, score)
JOIN knowledge_chunks c USING (vector_store_id, file_id, seq)
ORDER BY t.score DESC, t.vector_store_id, t.file_id, t.seq
LIMIT $5`;

/** Takes a file's chunks out, saying how many and how many words they held. $1 store, $2 file. */
const REMOVE_FILE_SQL = `
WITH gone AS (DELETE FROM knowledge_chunks WHERE vector_store_id = $1 AND file_id = $2 RETURNING words)
SELECT count(*)::int8 AS chunks, coalesce(sum(words), 0)::int8 AS words FROM gone`;

/** A file's words and how many of its chunks hold each, read before its chunks go. $1 store, $2 file. */
const FILE_TERMS_SQL = `
SELECT u.lexeme AS word, count(*)::int4 AS n
FROM knowledge_chunks c CROSS JOIN LATERAL unnest(c.tsv) AS u
WHERE c.vector_store_id = $1 AND c.file_id = $2 GROUP BY u.lexeme`;

/**
 * Adds changes to a store's document frequencies: $2 words (sorted, so that two writers to one
 * store lock the rows they share in one order and queue rather than deadlock), $3 how many chunks
 * more (or fewer) hold each, $4 the most times a new chunk holds it (0: none added). A word whose
 * count falls to 0 keeps its row (it reads as absent); its greatest tf only grows (a bound).
 */
const TERMS_SQL = `
INSERT INTO knowledge_index_terms AS t (vector_store_id, word, chunks, max_tf)
SELECT $1, u.word, u.n, u.tf FROM unnest($2::text[], $3::int8[], $4::int4[]) WITH ORDINALITY AS u (word, n, tf, i) ORDER BY u.i
ON CONFLICT (vector_store_id, word) DO UPDATE SET chunks = t.chunks + excluded.chunks, max_tf = greatest(t.max_tf, excluded.max_tf)`;

/**
 * Adds a change to a store's statistics: the last statement of its transaction, so that writers
 * to one store queue on its statistics row only for the moment before their commit. $4 the fewest
 * words in a new chunk (MAX_INT4: none added); the minimum only shrinks (a bound).
 */
const STATS_SQL = `
INSERT INTO knowledge_index_stats AS s (vector_store_id, chunks, words, min_words) VALUES ($1, $2, $3, $4)
ON CONFLICT (vector_store_id) DO UPDATE SET chunks = s.chunks + excluded.chunks, words = s.words + excluded.words,
  min_words = least(s.min_words, excluded.min_words)`;

/** A file's words, each with minus the number of its chunks holding it: what taking the file out changes. */
async function fileTerms(client: pg.PoolClient, vectorStoreId: string, fileId: string): Promise<Map<string, number>> {
  const { rows } = await client.query<{ word: string; n: number }>(FILE_TERMS_SQL, [vectorStoreId, fileId]);
  return new Map(rows.map((r) => [r.word, -r.n]));
}

/** Applies count changes (`terms`) and the new chunks' greatest tf per word (`maxTf`, absent for a removal). */
async function addTerms(client: pg.PoolClient, vectorStoreId: string, terms: ReadonlyMap<string, number>, maxTf: ReadonlyMap<string, number> = new Map()): Promise<void> {
  // A word whose count is unchanged (a file replaced by one as rich in it) may still have a greater tf.
  const changed = [...terms].filter(([w, n]) => n !== 0 || maxTf.has(w)).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  if (changed.length === 0) return;
  await client.query(TERMS_SQL, [vectorStoreId, changed.map(([w]) => w), changed.map(([, n]) => n), changed.map(([w]) => maxTf.get(w) ?? 0)]);
}

export class PostgresChunkIndex implements ChunkIndex {
  /** pgvector's abilities once ensured; the dimensions whose index exists (created by this process or found). */
  private vectors: Promise<Vectors> | undefined;
  private readonly indexed = new Set<number>();

  constructor(private readonly pool: pg.Pool) {}

  async replaceFile(vectorStoreId: string, fileId: string, chunks: readonly ChunkInput[]): Promise<void> {
    const rows = chunks.map((c) => ({ c, ...tsvectorOf(c.terms) }));
    const withVectors = chunks.filter((c) => c.vector !== undefined);
    // Checked and prepared before anything is written: a bad vector or a server without pgvector changes nothing.
    const vectorTexts = withVectors.map((c) => vectorText(c.vector!));
    if (withVectors.length > 0) await this.ensureDims(new Set(withVectors.map((c) => c.vector!.length)));
    await transaction(this.pool, async (client) => {
      // Two ingestions of one file (a restarted job and the old one) take turns rather than colliding on its seqs.
      await client.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [`knowledge:${vectorStoreId}\n${fileId}`]);
      const terms = await fileTerms(client, vectorStoreId, fileId);
      const maxTf = new Map<string, number>();
      for (const r of rows) {
        for (const [w, tf] of r.tf) {
          terms.set(w, (terms.get(w) ?? 0) + 1);
          if (tf > (maxTf.get(w) ?? 0)) maxTf.set(w, tf);
        }
      }
      const gone = (await client.query<{ chunks: number; words: number }>(REMOVE_FILE_SQL, [vectorStoreId, fileId])).rows[0]!;
      if (rows.length > 0) {
        // One statement for the file, one array per column.
        await client.query(
          `INSERT INTO knowledge_chunks (vector_store_id, file_id, seq, text, tokens, words, tsv)
           SELECT $1, $2, * FROM unnest($3::int4[], $4::text[], $5::int4[], $6::int4[], $7::tsvector[])`,
          [vectorStoreId, fileId, rows.map((r) => r.c.seq), rows.map((r) => pgText(r.c.text)), rows.map((r) => r.c.tokens), rows.map((r) => r.words), rows.map((r) => r.tsv)],
        );
      }
      if (withVectors.length > 0) {
        await client.query(
          `INSERT INTO knowledge_vectors (vector_store_id, file_id, seq, dims, embedding)
           SELECT $1, $2, seq, vector_dims(v), v FROM unnest($3::int4[], $4::vector[]) AS u (seq, v)`,
          [vectorStoreId, fileId, withVectors.map((c) => c.seq), vectorTexts],
        );
      }
      await addTerms(client, vectorStoreId, terms, maxTf);
      const words = rows.reduce((n, r) => n + r.words, 0);
      const minWords = rows.reduce((m, r) => Math.min(m, r.words), MAX_INT4);
      if (rows.length > 0 || gone.chunks > 0) await client.query(STATS_SQL, [vectorStoreId, rows.length - gone.chunks, words - gone.words, minWords]);
    });
  }

  async removeFile(vectorStoreId: string, fileId: string): Promise<void> {
    // Its vectors go with its chunks (ON DELETE CASCADE).
    await transaction(this.pool, async (client) => {
      const terms = await fileTerms(client, vectorStoreId, fileId);
      const gone = (await client.query<{ chunks: number; words: number }>(REMOVE_FILE_SQL, [vectorStoreId, fileId])).rows[0]!;
      await addTerms(client, vectorStoreId, terms);
      if (gone.chunks > 0) await client.query(STATS_SQL, [vectorStoreId, -gone.chunks, -gone.words, MAX_INT4]);
    });
  }

  async removeStore(vectorStoreId: string): Promise<void> {
    await transaction(this.pool, async (client) => {
      await client.query('DELETE FROM knowledge_chunks WHERE vector_store_id = $1', [vectorStoreId]);
      await client.query('DELETE FROM knowledge_index_terms WHERE vector_store_id = $1', [vectorStoreId]);
      await client.query('DELETE FROM knowledge_index_stats WHERE vector_store_id = $1', [vectorStoreId]);
    });
  }

  /**
   * Exact BM25 top-k with MaxScore pruning (Turtle & Flood 1995). A word adds at most
   * idf·tfₘ·(k1+1)/(tfₘ + k1·(1 − b + b·lₘ/avgdl)) to any chunk's score, its bound: tfₘ the most
   * times a chunk of the scope's stores holds it, lₘ their fewest words (both kept by the writes;
   * BM25's term weight grows with tf and shrinks with length); with tf unbounded it would be the
   * looser idf·(k1+1), and in 250-word chunks a mid-frequency word's tfₘ is 1 to 6, a bound 0.55 to
   * 0.9 of that (bench/results/knowledge-index-pg.md). The words are scored highest bound first
   * (mostly the rarest), in batches of the chunks holding a batch's words and none scored before; once
   * k chunks are scored, θ is the k-th best score, and the lowest-bound words whose bounds sum to at
   * most θ are non-essential: a chunk holding only those scores below θ and cannot enter the top
   * k, so their chunks are never read. A query of mid-frequency words reads the chunks of its rarer
   * words only; one with a common word, the common word's chunks only when its bound can matter.
   * Round trips: statistics and document frequencies, one per batch, the winners' text.
   */
  async keyword(scope: ChunkScope, terms: readonly string[], limit: number): Promise<ChunkHit[]> {
    const all = queryWords(terms);
    const k = limitOf(limit);
    if (all.length === 0 || k === 0 || scope.vectorStoreIds.length === 0 || scope.fileIds?.length === 0) return [];
    // Prepared once per connection (named): primary-key reads whose plan no parameter changes, so
    // a query skips their parsing and planning. The scoring statement is planned each time: how
    // many chunks hold its words decides its plan.
    const stats = (await this.pool.query<{ n: number | null; avgdl: number | null; min_words: number | null; df: number[]; max_tf: number[] }>({ name: 'baimo_kb_stats', text: STATS_READ_SQL, values: [scope.vectorStoreIds, all] })).rows[0]!;
    const n = stats.n ?? 0;
    // The smallest length normalisation any chunk of the scope has (a store without chunks: none).
    const kMin = K1 * (1 - B + (B * Math.max(stats.min_words ?? 0, 0)) / Math.max(stats.avgdl ?? 0, 1e-9));
    const avgdl = Math.max(stats.avgdl ?? 0, 1e-9);
    // A word no chunk of the stores holds scores nothing; the rest, highest bound first. A word's
    // greatest tf is at least 1 where it has chunks; a count that says less is not trusted.
    const words = all
      .map((w, i) => {
        const df = stats.df[i]!;
        const idf = Math.log(1 + (n - df + 0.5) / (df + 0.5));
        const tf = stats.max_tf[i]! >= 1 ? stats.max_tf[i]! : MAX_POSITIONS;
        return { w, df, idf, tf, bound: (idf * tf * (K1 + 1)) / (tf + kMin) };
      })
      .filter((x) => x.df > 0)
      .sort((a, b) => b.bound - a.bound || (a.w < b.w ? -1 : 1));
    /** At most what the words from `from` on add to a chunk of `len` words: BM25's weight falls as chunks grow longer. */
    const reach = (from: number, len: number) => {
      let sum = 0;
      for (let i = from; i < words.length; i++) sum += (words[i]!.idf * words[i]!.tf * (K1 + 1)) / (words[i]!.tf + K1 * (1 - B + (B * len) / avgdl));
      return sum;
    };
    if (words.length === 0) return [];
    const args = [scope.vectorStoreIds, scope.fileIds ?? null, words.map((x) => x.w), words.map((x) => x.df)];

    const scored: HitRow[] = [];
    let theta = -Infinity; // the k-th best score so far; -∞ until k chunks are scored
    let done = 0; // words[0, done) have had their chunks scored
    for (;;) {
      // The essential words: all but the longest tail of commonest words whose bounds sum to ≤ θ
      // (with a margin for rounding: a pruned chunk must score strictly below θ, ties included).
      let essential = words.length;
      for (let tail = 0; essential > 0 && (tail + words[essential - 1]!.bound) * (1 + 1e-9) <= theta; essential--) tail += words[essential - 1]!.bound;
      if (done >= essential) break;
      // A batch: the next word, and more while the batch holds fewer than k chunks (so that the first
      // sets θ); no limit, no pruning: every essential word at once.
      let end = done + 1;
      if (k === null) end = essential;
      else for (let held = words[done]!.df; end < essential && held < k; end++) held += words[end]!.df;
      const batch = anyOf(words.slice(done, end).map((x) => x.w));
      const seen = words.slice(0, done).map((x) => x.w);
      const match = seen.length > 0 ? `(${batch}) & !(${anyOf(seen)})` : batch;
      // A chunk of this batch holds none of the words scored before, so it scores at most
      // reach(done, its length): once θ is known, chunks too long to reach it are not scored
      // (the longest that can, found by bisection; the same margin for rounding).
      let longest: number | null = null;
      if (theta > -Infinity) {
        let [lo, hi] = [-1, MAX_INT4];
        while (lo < hi) {
          const mid = lo + Math.ceil((hi - lo) / 2);
          if (reach(done, mid) * (1 + 1e-9) >= theta) lo = mid;
          else hi = mid - 1;
        }
        longest = lo;
      }
      const { rows } = await this.pool.query<HitRow>(SCORE_SQL, [...args, match, n, stats.avgdl, k, longest]);
      scored.push(...rows);
      done = end;
      if (k !== null && scored.length >= k) theta = scored.map((r) => r.score).sort((a, b) => b - a)[k - 1]!;
    }
    if (scored.length === 0) return [];
    const { rows } = await this.pool.query<HitRow>({
      name: 'baimo_kb_winners',
      text: WINNERS_SQL,
      values: [scored.map((r) => r.vector_store_id), scored.map((r) => r.file_id), scored.map((r) => r.seq), scored.map((r) => r.score), k],
    });
    return rows.map(hitFrom);
  }

  async nearest(scope: ChunkScope, vector: Float32Array, limit: number): Promise<ChunkHit[]> {
    const q = vectorText(vector);
    const dims = vector.length;
    const vectors = await this.ensureDims(new Set([dims]));
    const n = limitOf(limit);
    // A zero vector has no direction: nothing is near it (pgvector's cosine distance to it is NaN).
    if (n === 0 || isZero(vector) || scope.vectorStoreIds.length === 0 || scope.fileIds?.length === 0) return [];
    const { expr, cast } = vectorForm('v.embedding', dims, vectors.halfvec);
    return transaction(this.pool, async (client) => {
      // An HNSW scan yields ef_search candidates before the scope filter: ask for at least the limit,
      // and (pgvector 0.8+) keep scanning in order until the filtered rows fill it.
      const settings = [`SET LOCAL hnsw.ef_search = ${Math.min(Math.max(n ?? 1000, 40), 1000)}`];
      if (vectors.iterative) settings.push('SET LOCAL hnsw.iterative_scan = strict_order');
      await client.query(settings.join('; '));
      // `dims` is inlined (a checked integer), not a parameter: the planner matches a partial index's predicate only against constants.
      const { rows } = await client.query<HitRow>(
        `SELECT v.vector_store_id, v.file_id, v.seq, c.text, 1 - (${expr} <=> $1::${cast}) AS score
         FROM knowledge_vectors v JOIN knowledge_chunks c USING (vector_store_id, file_id, seq)
         WHERE v.dims = ${dims} AND v.vector_store_id = ANY ($2::text[]) AND ($3::text[] IS NULL OR v.file_id = ANY ($3::text[]))
         ORDER BY ${expr} <=> $1::${cast}, v.vector_store_id, v.file_id, v.seq
         LIMIT $4`,
        [q, scope.vectorStoreIds, scope.fileIds ?? null, n],
      );
      return rows.map(hitFrom);
    });
  }

  async fileChunks(vectorStoreId: string, fileId: string, after: number | undefined, limit: number): Promise<StoredChunk[]> {
    const n = limitOf(limit);
    if (n === 0) return [];
    const { rows } = await this.pool.query<StoredChunk>(
      `SELECT seq, text, tokens FROM knowledge_chunks WHERE vector_store_id = $1 AND file_id = $2 AND seq > $3 ORDER BY seq LIMIT $4`,
      [vectorStoreId, fileId, after ?? -1, n],
    );
    return rows;
  }

  async vectorsUsable(): Promise<void> {
    await this.ensureDims(new Set());
  }

  /**
   * Makes sure pgvector, the vectors table and an HNSW index for each of `dims` exist, creating
   * what is missing (under a lock, so that replicas do not race on the same names). Throws
   * VectorsUnavailableError where the server has no pgvector or this role may not install it.
   */
  private async ensureDims(dims: ReadonlySet<number>): Promise<Vectors> {
    this.vectors ??= this.ensureVectors().catch((err: unknown) => {
      this.vectors = undefined; // asked again next time: pgvector may be installed meanwhile
      throw err;
    });
    const vectors = await this.vectors;
    const missing = [...dims].filter((d) => !this.indexed.has(d));
    if (missing.length === 0) return vectors;
    await transaction(this.pool, async (client) => {
      await client.query('SELECT pg_advisory_xact_lock($1)', [VECTOR_DDL_LOCK]);
      for (const d of missing) {
        const { expr, ops } = vectorForm('embedding', d, vectors.halfvec);
        if (ops) await client.query(`CREATE INDEX IF NOT EXISTS knowledge_vectors_hnsw_${d} ON knowledge_vectors USING hnsw (${expr} ${ops}) WHERE dims = ${d}`);
      }
    });
    for (const d of missing) this.indexed.add(d);
    return vectors;
  }

  private async ensureVectors(): Promise<Vectors> {
    const info = await this.pool.query<{ installed: string | null; available: boolean; major: string }>(
      `SELECT (SELECT extversion FROM pg_extension WHERE extname = 'vector') AS installed,
              EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'vector') AS available,
              current_setting('server_version_num')::int / 10000 AS major`,
    );
    const { installed, available, major } = info.rows[0]!;
    if (!installed && !available) {
      throw new VectorsUnavailableError(
        `This PostgreSQL has no pgvector extension ("vector"), which vector search needs: install pgvector on the database server (e.g. the postgresql-${major}-pgvector package), or use vector stores without an embedding model (keyword search works without it).`,
      );
    }
    let version = installed;
    await transaction(this.pool, async (client) => {
      await client.query('SELECT pg_advisory_xact_lock($1)', [VECTOR_DDL_LOCK]);
      try {
        await client.query('CREATE EXTENSION IF NOT EXISTS vector');
      } catch (err) {
        if ((err as { code?: string }).code === '42501') {
          throw new VectorsUnavailableError(
            'PostgreSQL has the pgvector extension ("vector") but this role may not create it: run CREATE EXTENSION vector; in this database as its owner or a superuser.',
          );
        }
        throw err;
      }
      // Each vector belongs to a chunk and goes when it does.
      await client.query(`CREATE TABLE IF NOT EXISTS knowledge_vectors (
        vector_store_id TEXT NOT NULL,
        file_id TEXT NOT NULL,
        seq INTEGER NOT NULL,
        dims INTEGER NOT NULL CHECK (dims = vector_dims(embedding)),
        embedding vector NOT NULL,
        PRIMARY KEY (vector_store_id, file_id, seq),
        FOREIGN KEY (vector_store_id, file_id, seq) REFERENCES knowledge_chunks ON DELETE CASCADE
      )`);
      version ??= (await client.query<{ v: string }>(`SELECT extversion AS v FROM pg_extension WHERE extname = 'vector'`)).rows[0]!.v;
    });
    return { halfvec: versionAtLeast(version!, 0, 7), iterative: versionAtLeast(version!, 0, 8) };
  }
}
