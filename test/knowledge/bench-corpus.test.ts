/**
 * The retrieval benchmark's data (bench/knowledge/): the promised sizes, every judged quote
 * verbatim in its file, and the scoring rules the benchmark relies on.
 */
import { describe, expect, it } from 'vitest';
import { chunkMarkdown } from '../../bench/knowledge/chunk.js';
import { loadCorpus, loadQueries, validateDataset } from '../../bench/knowledge/dataset.js';
import type { Query } from '../../bench/knowledge/dataset.js';
import { holdsQuote, scoreQuery } from '../../bench/knowledge/judge.js';

const docs = loadCorpus();
const queries = loadQueries();

describe('the bilingual retrieval benchmark data', () => {
  it('has ≥ 40 documents, ≥ 100 queries (≥ 50 per language), the kinds it promises, and every quote verbatim', () => {
    const r = validateDataset(docs, queries);
    expect(r.problems).toEqual([]);
    expect(r.docs.total).toBeGreaterThanOrEqual(40);
    expect(Math.min(r.docs.zh, r.docs.en)).toBeGreaterThanOrEqual(15);
    expect(r.queries.total).toBeGreaterThanOrEqual(100);
    expect(Math.min(r.queries.zh, r.queries.en)).toBeGreaterThanOrEqual(50);
    expect(r.queries.byKind.segmentation).toBeGreaterThanOrEqual(20);
    expect(r.queries.byKind.semantic).toBeGreaterThanOrEqual(20);
    expect(r.queries.byKind.header).toBeGreaterThanOrEqual(10);
  });

  it('reports a quote that is not in its file, a short quote, an unknown file and a duplicate id', () => {
    const q = queries[0]!;
    const bad: Query[] = [
      ...queries,
      { ...q, id: 'x-1', relevant: [{ file: q.relevant[0]!.file, quote: 'this sentence is in no document at all' }] },
      { ...q, id: 'x-2', relevant: [{ file: q.relevant[0]!.file, quote: q.relevant[0]!.quote.slice(0, 5) }] },
      { ...q, id: 'x-3', relevant: [{ file: 'corpus/nope.md', quote: 'whatever it may say here' }] },
      { ...q },
    ];
    const problems = validateDataset(docs, bad).problems.join('\n');
    expect(problems).toMatch(/x-1: quote not found verbatim/);
    expect(problems).toMatch(/x-2: quote shorter than 10/);
    expect(problems).toMatch(/x-3: no such file corpus\/nope\.md/);
    expect(problems).toMatch(new RegExp(`${q.id}: duplicate id`));
  });
});

describe('scoring', () => {
  const quote = '长江流域面积约一百八十万平方公里';
  it('counts a chunk holding the quote, or most of it cut at a boundary, and nothing less', () => {
    expect(holdsQuote(`前文。${quote}，约占全国国土面积的五分之一。`, quote)).toBe(true);
    expect(holdsQuote('前文。长江流域面积约一百八十万', quote)).toBe(true); // cut after 12 of 16 characters
    expect(holdsQuote('前文。长江流域面积', quote)).toBe(false); // 6 of 16
    expect(holdsQuote('The Yangtze   basin\nis large', 'Yangtze basin is large')).toBe(true);
  });

  it('gives recall@5 over the quotes and the reciprocal rank of the first relevant result, from the quote’s file only', () => {
    const q: Query = { id: 't', lang: 'zh', kind: 'segmentation', query: '长江 面积', relevant: [{ file: 'corpus/zh-yangtze.md', quote }] };
    const other = { name: 'zh-yellow-river.md', text: quote };
    const hit = { name: 'zh-yangtze.md', text: quote };
    expect(scoreQuery(q, [other, other, hit])).toEqual({ recall5: 1, rr10: 1 / 3 });
    expect(scoreQuery(q, [other, other, other, other, other, hit])).toEqual({ recall5: 0, rr10: 1 / 6 });
    expect(scoreQuery(q, [])).toEqual({ recall5: 0, rr10: 0 });
  });

  it('the baseline chunker keeps sections apart and every chunk within its size by the same count', () => {
    const count = (t: string) => [...t].length;
    const md = '# Title\n\n## A\n\nalpha one. alpha two.\n\n## B\n\n' + 'beta sentence here. '.repeat(20);
    const chunks = chunkMarkdown('t.md', md, { maxTokens: 100, overlapTokens: 30 }, count);
    expect(chunks.some((c) => c.text.includes('alpha') && c.text.includes('beta'))).toBe(false);
    expect(chunks.filter((c) => c.header === 'Title › B').length).toBeGreaterThan(2);
    for (const c of chunks) expect(count(c.text)).toBeLessThanOrEqual(100);
  });
});
