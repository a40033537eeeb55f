/**
 * The in-process baseline: SQLite FTS5 over the benchmark's own chunks (chunk.ts), no hub.
 * "raw" indexes the text as it is with FTS5's unicode61 tokenizer, the way a plain full-text
 * setup would: a run of Chinese characters between punctuation is one token, so a Chinese word
 * inside longer text is never found. "segmented" indexes the words of src/knowledge/segment.ts
 * (jieba), what the hub's keyword index is built on, to show what segmentation buys on the same
 * chunks and the same BM25.
 */
import Database from 'better-sqlite3';
import { indexTerms, queryTerms } from '../../src/knowledge/segment.js';
import type { BenchChunk } from './chunk.js';
import type { Hit } from './judge.js';

export type Tokens = 'raw' | 'segmented';

export interface FtsIndex {
  search(query: string, limit: number): Hit[];
  close(): void;
}

/** unicode61's idea of a token: a run of letters, digits (and private-use characters). */
function rawTokens(text: string): string[] {
  return [...new Set(text.toLowerCase().match(/[\p{L}\p{N}\p{Co}\p{M}]+/gu) ?? [])];
}

/** An FTS5 query matching any of the words, each quoted so none is read as syntax. */
function anyOf(words: readonly string[]): string {
  return words.map((w) => `"${w.replace(/"/g, '""')}"`).join(' OR ');
}

export function buildFts(chunks: readonly BenchChunk[], tokens: Tokens, headers: boolean): FtsIndex {
  const db = new Database(':memory:');
  db.exec(`CREATE VIRTUAL TABLE c USING fts5(body, name UNINDEXED, text UNINDEXED, tokenize = 'unicode61')`);
  const put = db.prepare('INSERT INTO c (body, name, text) VALUES (?, ?, ?)');
  db.transaction(() => {
    for (const ch of chunks) {
      const body = headers ? `${ch.header}\n${ch.text}` : ch.text;
      put.run(tokens === 'raw' ? body : indexTerms(body), ch.name, ch.text);
    }
  })();
  const find = db.prepare('SELECT name, text FROM c WHERE c MATCH ? ORDER BY bm25(c) LIMIT ?');
  return {
    search(query, limit) {
      const words = tokens === 'raw' ? rawTokens(query) : queryTerms(query);
      if (!words.length) return [];
      return find.all(anyOf(words), limit) as Hit[];
    },
    close: () => db.close(),
  };
}
