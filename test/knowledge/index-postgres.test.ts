/**
 * The chunk index in PostgreSQL (store/postgres/knowledge-index.ts): the keyword half on this
 * machine's real PostgreSQL 15 (which has no pgvector, so vectors must be refused clearly), the
 * vector half on PGlite with pgvector served over the wire protocol (test/helpers/pglite.ts),
 * through the same `pg` pool and SQL.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { indexTerms, queryTerms } from '../../src/knowledge/segment.js';
import type { ChunkIndex, ChunkInput } from '../../src/knowledge/ports.js';
import { VectorsUnavailableError } from '../../src/knowledge/ports.js';
import { KnowledgeService } from '../../src/knowledge/vector-stores.js';
import { openPostgresStores, SCHEMA_VERSION } from '../../src/store/postgres/index.js';
import type { PostgresStores } from '../../src/store/postgres/index.js';
import { MIGRATIONS } from '../../src/store/postgres/schema.js';
import { createTestDatabase } from '../helpers/pg.js';
import type { TestDatabase } from '../helpers/pg.js';
import { startPGlite } from '../helpers/pglite.js';
import type { PGliteServer } from '../helpers/pglite.js';
import { mulberry32 } from '../../src/core/random.js';

/** A chunk whose index words are given as they are (no segmentation), for exact BM25 arithmetic. */
function raw(seq: number, terms: string, vector?: number[]): ChunkInput {
  return { seq, text: `chunk ${seq}: ${terms}`, terms, tokens: terms.split(' ').length, ...(vector ? { vector: new Float32Array(vector) } : {}) };
}

/** A chunk of real text, segmented as ingestion does. */
function text(seq: number, t: string): ChunkInput {
  return { seq, text: t, terms: indexTerms(t), tokens: t.length };
}

/** BM25 as the port defines it (k1 1.2, b 0.75, Lucene's idf), for comparison. */
function bm25(tfs: { tf: number; df: number }[], n: number, len: number, avgdl: number): number {
  return tfs.reduce((s, { tf, df }) => s + Math.log(1 + (n - df + 0.5) / (df + 0.5)) * ((tf * 2.2) / (tf + 1.2 * (0.25 + (0.75 * len) / avgdl))), 0);
}

const ids = (hits: { fileId: string; seq: number }[]) => hits.map((h) => `${h.fileId}#${h.seq}`);

/**
 * The reference: naive BM25 in one statement, as the index first had it (every chunk holding any
 * query word is scored, document frequencies counted over those candidates). The index's pruned
 * search must give exactly its top k. $1 store ids, $2 file ids or null, $3 words, $4 their
 * tsquery, $5 the limit.
 */
const NAIVE_SQL = `
WITH stats AS (
  SELECT sum(chunks)::float8 AS n, sum(words)::float8 / greatest(sum(chunks), 1) AS avgdl
  FROM knowledge_index_stats WHERE vector_store_id = ANY ($1::text[])
), hits AS (
  SELECT c.vector_store_id, c.file_id, c.seq, c.words, u.lexeme, cardinality(u.positions) AS tf
  FROM knowledge_chunks c
  CROSS JOIN LATERAL unnest(ts_filter(setweight(c.tsv, 'A', $3::text[]), '{a}')) AS u
  WHERE c.vector_store_id = ANY ($1::text[]) AND c.tsv @@ $4::tsquery
), df AS (
  SELECT lexeme, count(*)::float8 AS df FROM hits GROUP BY lexeme
)
SELECT h.vector_store_id, h.file_id, h.seq,
       sum(ln(1 + (s.n - df.df + 0.5) / (df.df + 0.5)) * h.tf * 2.2
           / (h.tf + 1.2 * (0.25 + 0.75 * h.words / greatest(s.avgdl, 1e-9)))) AS score
FROM hits h JOIN df USING (lexeme) CROSS JOIN stats s
WHERE $2::text[] IS NULL OR h.file_id = ANY ($2::text[])
GROUP BY h.vector_store_id, h.file_id, h.seq
ORDER BY score DESC, h.vector_store_id, h.file_id, h.seq
LIMIT $5`;

/** Seeded, so a failing seed can be replayed. */
const rng = mulberry32;

describe('PostgreSQL chunk index: keyword search (real PostgreSQL 15)', () => {
  let db: TestDatabase;
  let stores: PostgresStores;
  let index: ChunkIndex;

  beforeAll(async () => {
    db = await createTestDatabase();
    stores = await openPostgresStores(db.url, { poolSize: 2 });
    index = stores.knowledge;
  });
  afterAll(async () => {
    await stores?.close();
    await db?.drop();
  });

  it('finds a two-character Chinese word inside longer text, where raw text search on the same text finds nothing', async () => {
    const river = '长江流域是中华文明的重要发源地之一，沿岸城市众多。';
    const health = '坚持锻炼有益于身体健康和心理健康。';
    await index.replaceFile('zh', 'doc', [text(0, river), text(1, health), text(2, '黄河是中国第二长河。')]);
    const r = await index.keyword({ vectorStoreIds: ['zh'] }, queryTerms('长江'), 10);
    expect(ids(r)).toEqual(['doc#0']);
    expect(r[0]!.text).toBe(river);
    expect(r[0]!.score).toBeGreaterThan(0);
    expect(ids(await index.keyword({ vectorStoreIds: ['zh'] }, queryTerms('健康'), 10))).toEqual(['doc#1']);
    // The contrast: PostgreSQL's own parser keeps the Chinese clause whole, so the word is not in it.
    const plain = await stores.pool.query<{ river: boolean; health: boolean }>(
      `SELECT to_tsvector('simple', $1) @@ to_tsquery('simple', '长江') AS river, to_tsvector('simple', $2) @@ to_tsquery('simple', '健康') AS health`,
      [river, health],
    );
    expect(plain.rows[0]).toEqual({ river: false, health: false });
  });

  it('computes BM25 exactly (k1 1.2, b 0.75) with statistics over the scope’s stores', async () => {
    await index.replaceFile('tf', 'a', [raw(0, 'word word pad'), raw(1, 'word pad pad')]);
    const r = await index.keyword({ vectorStoreIds: ['tf'] }, ['word'], 10);
    expect(ids(r)).toEqual(['a#0', 'a#1']);
    expect(r[0]!.score).toBeCloseTo(bm25([{ tf: 2, df: 2 }], 2, 3, 3), 10);
    expect(r[1]!.score).toBeCloseTo(bm25([{ tf: 1, df: 2 }], 2, 3, 3), 10);
    // Two words: their contributions add; a word no chunk holds adds nothing.
    const two = await index.keyword({ vectorStoreIds: ['tf'] }, ['word', 'pad', 'absent'], 10);
    expect(two.find((h) => h.seq === 1)!.score).toBeCloseTo(bm25([{ tf: 1, df: 2 }, { tf: 2, df: 2 }], 2, 3, 3), 10);
  });

  it('ranks sensibly: a rare word over a common one, more occurrences over fewer, shorter over longer', async () => {
    await index.replaceFile('rank', 'rare', [raw(0, 'rare filler'), raw(1, 'common filler'), raw(2, 'common other'), raw(3, 'common more')]);
    const rare = await index.keyword({ vectorStoreIds: ['rank'] }, ['common', 'rare'], 10);
    expect(ids(rare)[0]).toBe('rare#0');
    expect(rare).toHaveLength(4);

    await index.replaceFile('rank2', 'tf', [raw(0, 'word pad pad pad'), raw(1, 'word word word pad')]);
    expect(ids(await index.keyword({ vectorStoreIds: ['rank2'] }, ['word'], 10))).toEqual(['tf#1', 'tf#0']);

    await index.replaceFile('rank3', 'len', [raw(0, 'word a b c d e f g'), raw(1, 'word a')]);
    expect(ids(await index.keyword({ vectorStoreIds: ['rank3'] }, ['word'], 10))).toEqual(['len#1', 'len#0']);
  });

  it('honours the scope: other stores are neither returned nor counted; a file filter keeps the stores’ statistics', async () => {
    await index.replaceFile('s1', 'f1', [raw(0, 'shared alpha'), raw(1, 'shared beta')]);
    await index.replaceFile('s1', 'f2', [raw(0, 'shared gamma')]);
    await index.replaceFile('s2', 'f1', [raw(0, 'shared delta'), raw(1, 'other'), raw(2, 'other'), raw(3, 'other')]);
    const one = await index.keyword({ vectorStoreIds: ['s1'] }, ['shared'], 10);
    expect(one.every((h) => h.vectorStoreId === 's1')).toBe(true);
    expect(one).toHaveLength(3);
    // N and avgdl are s1's alone: 3 chunks of 2 words, df 3.
    expect(one[0]!.score).toBeCloseTo(bm25([{ tf: 1, df: 3 }], 3, 2, 2), 10);

    const filtered = await index.keyword({ vectorStoreIds: ['s1'], fileIds: ['f2'] }, ['shared'], 10);
    expect(ids(filtered)).toEqual(['f2#0']);
    expect(filtered[0]!.score).toBeCloseTo(one[0]!.score, 10);

    const both = await index.keyword({ vectorStoreIds: ['s1', 's2', 's1'] }, ['shared'], 10);
    expect(both).toHaveLength(4);
    expect(both[0]!.score).toBeCloseTo(bm25([{ tf: 1, df: 4 }], 7, 2, 11 / 7), 10);
    expect(await index.keyword({ vectorStoreIds: ['nope'] }, ['shared'], 10)).toEqual([]);
    // Thousands of file ids travel as one array parameter.
    const many = Array.from({ length: 5000 }, (_, i) => `file-${i}`).concat('f1');
    expect(ids(await index.keyword({ vectorStoreIds: ['s1'], fileIds: many }, ['shared'], 10))).toEqual(['f1#0', 'f1#1']);
  });

  it('gives exactly the naive BM25 top k (pruned search against the one-pass reference) on random corpora: common and rare words, file filters, several stores', async () => {
    let compared = 0;
    let pruned = 0;
    for (const seed of [1, 2, 3, 4]) {
      const r = rng(seed);
      // Zipf-like words over 300 ranks: the first few are in most chunks, the last in one or two.
      const word = () => `m${seed}w${Math.floor(Math.exp(r() * Math.log(300)))}`;
      const storeIds = [`mx${seed}a`, `mx${seed}b`, `mx${seed}c`];
      for (const [si, store] of storeIds.entries()) {
        for (let f = 0; f < 6 + si * 3; f++) {
          const chunks = Array.from({ length: 4 + Math.floor(r() * 12) }, (_, seq) => raw(seq, Array.from({ length: 3 + Math.floor(r() * 40) }, word).join(' ')));
          await index.replaceFile(store, `f${f}`, chunks);
        }
        // Files replaced and removed: the stored document frequencies must follow.
        await index.replaceFile(store, 'f1', [raw(0, Array.from({ length: 30 }, word).join(' '))]);
        await index.removeFile(store, 'f2');
      }
      for (let q = 0; q < 40; q++) {
        const scopeStores = storeIds.filter(() => r() < 0.6);
        if (scopeStores.length === 0) scopeStores.push(storeIds[0]!);
        const fileIds = r() < 0.3 ? Array.from({ length: 1 + Math.floor(r() * 5) }, () => `f${Math.floor(r() * 12)}`) : undefined;
        const words = Array.from({ length: 1 + Math.floor(r() * 5) }, word);
        if (r() < 0.4) words.push(`m${seed}w${1 + Math.floor(r() * 3)}`); // a word in most chunks
        if (r() < 0.2) words.push('absent');
        const limit = [1, 3, 10, 20][Math.floor(r() * 4)]!;
        const scope = { vectorStoreIds: scopeStores, ...(fileIds ? { fileIds } : {}) };
        const got = await index.keyword(scope, words, limit);
        const unique = [...new Set(words)];
        const naive = (await stores.pool.query<{ file_id: string; seq: number; vector_store_id: string; score: number }>(NAIVE_SQL, [
          scopeStores, fileIds ?? null, unique, unique.map((w) => `'${w}'`).join(' | '), limit,
        ])).rows;
        const all = (await stores.pool.query(NAIVE_SQL, [scopeStores, fileIds ?? null, unique, unique.map((w) => `'${w}'`).join(' | '), null])).rowCount!;
        const label = `seed ${seed} query ${q}: ${words.join(' ')} in ${scopeStores.join(',')} ${fileIds?.join(',') ?? ''} top ${limit}`;
        expect(got.length, label).toBe(naive.length);
        got.forEach((h, i) => {
          const n = naive[i]!;
          // Equal scores to the last bits, and the same chunk at each rank unless two scores tie
          // (a sum's rounding may then order them either way).
          expect(Math.abs(h.score - n.score), label).toBeLessThan(1e-9 * n.score);
          const tied = naive.some((o, j) => j !== i && Math.abs(o.score - n.score) < 1e-9 * n.score);
          if (!tied) expect(`${h.vectorStoreId}/${h.fileId}#${h.seq}`, label).toBe(`${n.vector_store_id}/${n.file_id}#${n.seq}`);
        });
        compared++;
        if (all > limit) pruned++;
      }
    }
    // The comparison is not vacuous: most queries had more candidates than their limit.
    expect(compared).toBe(160);
    expect(pruned).toBeGreaterThan(80);
  });

  it('takes hostile words as literal lexemes, never as tsquery syntax', async () => {
    const words = ["a:*", '!', "'", 'back\\slash', "it's", 'x|y', '&', '<->', '(', '"q"'];
    await index.replaceFile('hostile', 'h', [raw(0, words.join(' ')), raw(1, 'apple alpha xylophone yak quoted')]);
    for (const w of words) {
      const r = await index.keyword({ vectorStoreIds: ['hostile'] }, [w], 10);
      expect(ids(r), w).toEqual(['h#0']);
    }
    // `a:*` is not a prefix search (apple, alpha), `x|y` not an OR (xylophone, yak).
    expect(await index.keyword({ vectorStoreIds: ['hostile'] }, ['a', 'x', 'y', 'q'], 10)).toEqual([]);
    // A word with a space, an empty word, a word over PostgreSQL's lexeme limit: ignored, no error.
    expect(await index.keyword({ vectorStoreIds: ['hostile'] }, ['apple alpha', '', 'z'.repeat(3000)], 10)).toEqual([]);
  });

  it('stores what PostgreSQL cannot hold as plainly as it can: NUL dropped, an overlong word left out of the index', async () => {
    const long = 'x'.repeat(3000);
    await index.replaceFile('odd', 'o', [{ seq: 0, text: 'nul\0byte', terms: `nul\0byte ${long} kept`, tokens: 2 }]);
    const r = await index.keyword({ vectorStoreIds: ['odd'] }, ['nulbyte', 'kept'], 10);
    expect(r.map((h) => h.text)).toEqual(['nulbyte']);
    expect(await index.keyword({ vectorStoreIds: ['odd'] }, [long], 10)).toEqual([]);
  });

  it('replaceFile replaces the file’s chunks and statistics, all or nothing; removeFile and removeStore take them out', async () => {
    await index.replaceFile('rep', 'f', [raw(0, 'old one'), raw(1, 'old two'), raw(2, 'old three')]);
    await index.replaceFile('rep', 'g', [raw(0, 'new other')]);
    await index.replaceFile('rep', 'f', [raw(0, 'new one')]);
    expect(await index.keyword({ vectorStoreIds: ['rep'] }, ['old'], 10)).toEqual([]);
    const r = await index.keyword({ vectorStoreIds: ['rep'] }, ['new'], 10);
    expect(r[0]!.score).toBeCloseTo(bm25([{ tf: 1, df: 2 }], 2, 2, 2), 10);
    expect(await index.fileChunks('rep', 'f', undefined, 10)).toEqual([{ seq: 0, text: 'chunk 0: new one', tokens: 2 }]);

    // A duplicate seq fails the insert: the file keeps what it had.
    await expect(index.replaceFile('rep', 'f', [raw(0, 'broken'), raw(0, 'broken')])).rejects.toThrow();
    expect(await index.fileChunks('rep', 'f', undefined, 10)).toHaveLength(1);
    expect(await index.keyword({ vectorStoreIds: ['rep'] }, ['broken'], 10)).toEqual([]);

    await index.removeFile('rep', 'f');
    await index.removeFile('rep', 'never-there');
    const stats = await stores.pool.query('SELECT chunks, words FROM knowledge_index_stats WHERE vector_store_id = $1', ['rep']);
    expect(stats.rows).toEqual([{ chunks: 1, words: 2 }]);
    expect(ids(await index.keyword({ vectorStoreIds: ['rep'] }, ['new'], 10))).toEqual(['g#0']);
    await index.replaceFile('rep', 'g', []);
    expect(await index.fileChunks('rep', 'g', undefined, 10)).toEqual([]);

    await index.replaceFile('gone', 'f', [raw(0, 'bye')]);
    await index.removeStore('gone');
    expect(await index.keyword({ vectorStoreIds: ['gone'] }, ['bye'], 10)).toEqual([]);
    expect((await stores.pool.query('SELECT 1 FROM knowledge_index_stats WHERE vector_store_id = $1', ['gone'])).rows).toEqual([]);
  });

  it('takes concurrent writes to one store, and to one file, in turn: statistics stay the sum of what is there', async () => {
    const writes = Array.from({ length: 6 }, (_, i) => index.replaceFile('conc', `f${i % 3}`, [raw(0, `x ${'y '.repeat(i)}z`.trim()), raw(1, 'x')]));
    await Promise.all(writes);
    const stats = await stores.pool.query('SELECT chunks, words FROM knowledge_index_stats WHERE vector_store_id = $1', ['conc']);
    const actual = await stores.pool.query('SELECT count(*)::int AS chunks, sum(words)::int AS words FROM knowledge_chunks WHERE vector_store_id = $1', ['conc']);
    expect(actual.rows[0].chunks).toBe(6);
    expect(stats.rows).toEqual(actual.rows);
    // Document frequencies too, word by word (a word no chunk holds any more reads as 0).
    const df = await stores.pool.query(`SELECT word, chunks::int FROM knowledge_index_terms WHERE vector_store_id = $1 AND chunks <> 0 ORDER BY word`, ['conc']);
    const counted = await stores.pool.query(
      `SELECT u.lexeme AS word, count(*)::int AS chunks FROM knowledge_chunks c, unnest(c.tsv) u WHERE c.vector_store_id = $1 GROUP BY 1 ORDER BY 1`,
      ['conc'],
    );
    expect(df.rows).toEqual(counted.rows);
    expect(df.rows.find((r) => r.word === 'x')).toEqual({ word: 'x', chunks: 6 });
  });

  it('the migrations fill the document frequencies and the bounds (greatest tf, fewest words) from the chunks a database already has', async () => {
    await index.replaceFile('mig', 'f', [raw(0, 'a b a'), raw(1, 'b c')]);
    await index.replaceFile('mig', 'g', [raw(0, 'c')]);
    const before = await index.keyword({ vectorStoreIds: ['mig'] }, ['a', 'b', 'c'], 10);
    // As a database written before the table: the migration runs again on the next open, and so do
    // those after it, undone here too (the judgements one: arena_votes a table again; the run sums;
    // the ingestion turns; the word bounds).
    const version = MIGRATIONS.findIndex((m) => m.includes('CREATE TABLE knowledge_index_terms')) + 1;
    await stores.pool.query('DROP TABLE knowledge_index_terms, eval_run_models, knowledge_ingest_turns; DROP VIEW arena_votes; DROP TABLE eval_judgements');
    await stores.pool.query('ALTER TABLE knowledge_index_stats DROP COLUMN min_words');
    await stores.pool.query(MIGRATIONS.find((m) => m.trimStart().startsWith('CREATE TABLE arena_votes'))!);
    await stores.pool.query('DELETE FROM baimo_schema_migrations WHERE version >= $1', [version]);
    const reopened = await openPostgresStores(db.url, { poolSize: 1 });
    expect(reopened.migrated).toBe(SCHEMA_VERSION - version + 1);
    await reopened.close();
    const df = await stores.pool.query(`SELECT word, chunks::int, max_tf FROM knowledge_index_terms WHERE vector_store_id = 'mig' ORDER BY word`);
    expect(df.rows).toEqual([{ word: 'a', chunks: 1, max_tf: 2 }, { word: 'b', chunks: 2, max_tf: 1 }, { word: 'c', chunks: 2, max_tf: 1 }]);
    expect((await stores.pool.query(`SELECT min_words FROM knowledge_index_stats WHERE vector_store_id = 'mig'`)).rows).toEqual([{ min_words: 1 }]);
    expect(await index.keyword({ vectorStoreIds: ['mig'] }, ['a', 'b', 'c'], 10)).toEqual(before);
  });

  it('keeps the bounds as writes go: greatest tf grows with a richer chunk, fewest words shrinks, neither moves back on removal', async () => {
    const bounds = async () => ({
      tf: Object.fromEntries((await stores.pool.query<{ word: string; max_tf: number }>(`SELECT word, max_tf FROM knowledge_index_terms WHERE vector_store_id = 'bnd' ORDER BY word`)).rows.map((r) => [r.word, r.max_tf])),
      minWords: (await stores.pool.query<{ min_words: number }>(`SELECT min_words FROM knowledge_index_stats WHERE vector_store_id = 'bnd'`)).rows[0]?.min_words,
    });
    await index.replaceFile('bnd', 'f', [raw(0, 'x y x x'), raw(1, 'y z y z q')]);
    expect(await bounds()).toEqual({ tf: { q: 1, x: 3, y: 2, z: 2 }, minWords: 4 });
    // The same words in the same number of chunks, one of them richer: its tf still grows.
    await index.replaceFile('bnd', 'f', [raw(0, 'x y x x'), raw(1, 'y z y z q q q q q')]);
    expect((await bounds()).tf.q).toBe(5);
    await index.replaceFile('bnd', 'g', [raw(0, 'x')]);
    expect((await bounds()).minWords).toBe(1);
    await index.removeFile('bnd', 'g');
    await index.replaceFile('bnd', 'f', [raw(0, 'x y')]);
    // Still bounds of what is there (looser), never below it.
    expect(await bounds()).toEqual({ tf: { q: 5, x: 3, y: 2, z: 2 }, minWords: 1 });
    expect(ids(await index.keyword({ vectorStoreIds: ['bnd'] }, ['x', 'q'], 5))).toEqual(['f#0']);
  });

  it('pages a file’s chunks in order after a seq', async () => {
    await index.replaceFile('page', 'f', [2, 0, 1, 3].map((s) => raw(s, `w${s}`)));
    expect((await index.fileChunks('page', 'f', undefined, 2)).map((c) => c.seq)).toEqual([0, 1]);
    expect((await index.fileChunks('page', 'f', 1, 10)).map((c) => c.seq)).toEqual([2, 3]);
    expect(await index.fileChunks('page', 'f', 3, 10)).toEqual([]);
    expect(await index.fileChunks('page', 'other', undefined, 10)).toEqual([]);
  });

  it('answers nothing for limit 0, no words, no stores or no files, and survives absurd limits', async () => {
    await index.replaceFile('lim', 'f', [raw(0, 'w'), raw(1, 'w w')]);
    const scope = { vectorStoreIds: ['lim'] };
    expect(await index.keyword(scope, ['w'], 0)).toEqual([]);
    expect(await index.keyword(scope, [], 10)).toEqual([]);
    expect(await index.keyword({ vectorStoreIds: [] }, ['w'], 10)).toEqual([]);
    expect(await index.keyword({ vectorStoreIds: ['lim'], fileIds: [] }, ['w'], 10)).toEqual([]);
    for (const bad of [-1, Number.NaN, 0.5]) expect(await index.keyword(scope, ['w'], bad)).toEqual([]);
    expect(await index.keyword(scope, ['w'], Infinity)).toHaveLength(2);
    expect(await index.keyword(scope, ['w'], 1e15)).toHaveLength(2);
    expect(await index.keyword(scope, ['w'], 1.9)).toHaveLength(1);
  });

  it('refuses vectors with a clear VectorsUnavailableError where pgvector is missing, changing nothing, and keyword search still works', async () => {
    await index.replaceFile('vec', 'f', [raw(0, 'kept')]);
    const err = await index.nearest({ vectorStoreIds: ['vec'] }, new Float32Array([1, 0, 0]), 5).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(VectorsUnavailableError);
    expect((err as Error).message).toMatch(/pgvector/);
    expect((err as Error).message).toMatch(/"vector"/);
    expect((err as Error).message).toMatch(/install/);
    expect((err as Error).message).not.toMatch(/\n/);
    await expect(index.replaceFile('vec', 'f', [raw(0, 'replaced', [1, 0, 0])])).rejects.toBeInstanceOf(VectorsUnavailableError);
    expect(ids(await index.keyword({ vectorStoreIds: ['vec'] }, ['kept'], 5))).toEqual(['f#0']);
    const tables = await stores.pool.query(`SELECT to_regclass('knowledge_vectors') AS t`);
    expect(tables.rows[0].t).toBeNull();
  });
});

describe('PostgreSQL chunk index: vectors (PGlite with pgvector, over the wire protocol)', () => {
  let server: PGliteServer;
  let stores: PostgresStores;
  let index: ChunkIndex;

  beforeAll(async () => {
    server = await startPGlite();
    // The whole store, every migration included (usage rollup triggers too), opens on PGlite.
    stores = await openPostgresStores(server.url, { poolSize: 1 });
    index = stores.knowledge;
  }, 60_000);
  afterAll(async () => {
    await stores?.close();
    await server?.close();
  });

  const cos = (a: number[], b: number[]) => {
    const dot = a.reduce((s, x, i) => s + x * b[i]!, 0);
    return dot / Math.hypot(...a) / Math.hypot(...b);
  };

  it('finds the nearest chunks by cosine similarity, best first, skipping chunks without vectors', async () => {
    const vs = [
      [1, 0, 0],
      [0.9, 0.1, 0],
      [0, 1, 0],
      [-1, 0, 0],
    ];
    await index.replaceFile('v3', 'f', [...vs.map((v, i) => raw(i, `c${i}`, v)), raw(9, 'no vector')]);
    const q = [1, 0.05, 0];
    const r = await index.nearest({ vectorStoreIds: ['v3'] }, new Float32Array(q), 10);
    expect(ids(r)).toEqual(['f#0', 'f#1', 'f#2', 'f#3']);
    r.forEach((h) => expect(h.score).toBeCloseTo(cos(q, vs[h.seq]!), 5));
    expect(r[3]!.score).toBeCloseTo(-cos([1, 0.05, 0], [1, 0, 0]), 5);
    expect(ids(await index.nearest({ vectorStoreIds: ['v3'] }, new Float32Array(q), 2))).toEqual(['f#0', 'f#1']);
    // Keyword search works here as well, over the same chunks.
    expect(ids(await index.keyword({ vectorStoreIds: ['v3'] }, ['vector'], 5))).toEqual(['f#9']);
  });

  it('keeps stores of different dimensions apart, each with its own HNSW index, and the query goes through it', async () => {
    await index.replaceFile('v5', 'f', [raw(0, 'a', [0, 0, 0, 0, 1]), raw(1, 'b', [0, 0, 0, 1, 1])]);
    const big = (i: number) => Array.from({ length: 3000 }, (_, j) => (j === i ? 1 : 0.01));
    await index.replaceFile('v3000', 'f', [raw(0, 'x', big(0)), raw(1, 'y', big(1))]);
    expect(ids(await index.nearest({ vectorStoreIds: ['v5'] }, new Float32Array([0, 0, 0, 0, 1]), 5))).toEqual(['f#0', 'f#1']);
    const r = await index.nearest({ vectorStoreIds: ['v3000'] }, new Float32Array(big(1)), 5);
    expect(ids(r)).toEqual(['f#1', 'f#0']);
    expect(r[0]!.score).toBeCloseTo(1, 2); // halfvec above 2,000 dimensions: close, not exact
    // A 3-dimension query across stores sees only 3-dimension vectors, in the stores asked.
    expect(new Set((await index.nearest({ vectorStoreIds: ['v3', 'v5', 'v3000'] }, new Float32Array([1, 0, 0]), 50)).map((h) => h.vectorStoreId))).toEqual(new Set(['v3']));

    const indexes = await stores.pool.query<{ indexname: string; indexdef: string }>(`SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'knowledge_vectors' AND indexname LIKE '%hnsw%' ORDER BY 1`);
    expect(indexes.rows.map((r) => r.indexname)).toEqual(['knowledge_vectors_hnsw_3', 'knowledge_vectors_hnsw_3000', 'knowledge_vectors_hnsw_5']);
    expect(indexes.rows[0]!.indexdef).toMatch(/USING hnsw \(\(\(embedding\)::vector\(3\)\) vector_cosine_ops\) WHERE \(dims = 3\)/);
    expect(indexes.rows[1]!.indexdef).toMatch(/halfvec\(3000\)\) halfvec_cosine_ops/);

    // The query's shape (the index's expression and predicate) lets the planner use the HNSW index.
    const client = await stores.pool.connect();
    try {
      await client.query('BEGIN; SET LOCAL enable_seqscan = off');
      const plan = await client.query(
        `EXPLAIN SELECT v.seq FROM knowledge_vectors v WHERE v.dims = 3 AND v.vector_store_id = ANY ($1::text[])
         ORDER BY (v.embedding::vector(3)) <=> $2::vector(3) LIMIT 5`,
        [['v3'], '[1,0,0]'],
      );
      expect(plan.rows.map((r: { 'QUERY PLAN': string }) => r['QUERY PLAN']).join('\n')).toMatch(/Index Scan using knowledge_vectors_hnsw_3 /);
    } finally {
      await client.query('ROLLBACK');
      client.release();
    }
  });

  it('fills a filtered search’s limit when the store asked holds few of the vectors (iterative HNSW scan)', async () => {
    const many = Array.from({ length: 300 }, (_, i) => raw(i, `m${i}`, [Math.cos(i / 50), Math.sin(i / 50), 0.5]));
    await index.replaceFile('crowd', 'f', many);
    await index.replaceFile('few', 'f', [raw(0, 'p', [0, 0, 1]), raw(1, 'q', [0, 1, 0]), raw(2, 'r', [1, 1, 1])]);
    const r = await index.nearest({ vectorStoreIds: ['few'] }, new Float32Array([0.2, 0.1, 1]), 10);
    expect(ids(r)).toEqual(['f#0', 'f#2', 'f#1']);
    expect(await index.nearest({ vectorStoreIds: ['crowd'] }, new Float32Array([1, 0, 0.5]), 100)).toHaveLength(100);
    expect(ids(await index.nearest({ vectorStoreIds: ['crowd', 'few'], fileIds: ['nope'] }, new Float32Array([1, 0, 0]), 10))).toEqual([]);
  });

  it('replaces and removes vectors with their chunks', async () => {
    await index.replaceFile('vr', 'f', [raw(0, 'a', [1, 0, 0]), raw(1, 'b', [0, 1, 0])]);
    await index.replaceFile('vr', 'f', [raw(0, 'a2', [0, 1, 0])]);
    expect((await index.nearest({ vectorStoreIds: ['vr'] }, new Float32Array([1, 0, 0]), 5)).map((h) => h.text)).toEqual(['chunk 0: a2']);
    await index.removeFile('vr', 'f');
    expect(await index.nearest({ vectorStoreIds: ['vr'] }, new Float32Array([1, 0, 0]), 5)).toEqual([]);
    await index.replaceFile('vr', 'g', [raw(0, 'c', [1, 0, 0])]);
    await index.removeStore('vr');
    expect(await index.nearest({ vectorStoreIds: ['vr'] }, new Float32Array([1, 0, 0]), 5)).toEqual([]);
    expect((await stores.pool.query(`SELECT count(*)::int AS n FROM knowledge_vectors WHERE vector_store_id = 'vr'`)).rows[0].n).toBe(0);
  });

  it('refuses vectors pgvector cannot hold before writing anything, and answers nothing for a zero vector or limit 0', async () => {
    await index.replaceFile('vbad', 'f', [raw(0, 'kept', [1, 0, 0])]);
    for (const v of [[Number.NaN, 0, 0], [Infinity, 0, 0], [], Array.from({ length: 16001 }, () => 1)]) {
      await expect(index.replaceFile('vbad', 'f', [raw(0, 'lost', v)])).rejects.toBeInstanceOf(RangeError);
      await expect(index.nearest({ vectorStoreIds: ['vbad'] }, new Float32Array(v), 5)).rejects.toBeInstanceOf(RangeError);
    }
    expect(ids(await index.keyword({ vectorStoreIds: ['vbad'] }, ['kept'], 5))).toEqual(['f#0']);
    expect(await index.nearest({ vectorStoreIds: ['vbad'] }, new Float32Array([0, 0, 0]), 5)).toEqual([]);
    expect(await index.nearest({ vectorStoreIds: ['vbad'] }, new Float32Array([1, 0, 0]), 0)).toEqual([]);
  });

  it('a vector store with an embedding model is accepted at create and on update (pgvector is there), unlike on PostgreSQL 15 without it', async () => {
    const service = new KnowledgeService({
      store: stores.vectorStores,
      files: stores.files,
      index,
      runner: { poke() {}, cancel() {} },
      // Never called here: creating a store embeds nothing.
      models: () => ({ embed: () => Promise.reject(new Error('not called')), rerank: () => Promise.reject(new Error('not called')) }),
      settings: {},
    });
    const caller = { owner: 'key_v', keyId: 'key_v' };
    const made = await service.create(caller, { name: 'v', metadata: null, expiresAfterDays: null, files: [], embeddingModel: 'loop/emb' });
    expect((await service.get(made.store.id, caller)).store.embeddingModel).toBe('loop/emb');
    const plain = await service.create(caller, { name: 'k', metadata: null, expiresAfterDays: null, files: [], embeddingModel: null });
    expect((await service.modify(plain.store.id, caller, { embeddingModel: 'loop/emb' })).store.embeddingModel).toBe('loop/emb');
  });
});

describe('PGlite over the wire protocol', () => {
  it('serves one connection at a time: a second is refused, so pools against it hold one', async () => {
    const server = await startPGlite();
    const a = new pg.Client({ connectionString: server.url });
    const b = new pg.Client({ connectionString: server.url });
    try {
      await a.connect();
      await expect(b.connect().then(() => b.query('SELECT 1'))).rejects.toThrow();
    } finally {
      await a.end();
      await b.end().catch(() => undefined);
      await server.close();
    }
  });
});
