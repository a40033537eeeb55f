import { describe, expect, it } from 'vitest';
import { indexTerms, queryTerms, segment } from '../../src/knowledge/segment.js';

describe('segment', () => {
  it('finds a two-character Chinese word inside a longer one and inside running text', () => {
    expect(segment('长江流域的生态保护')).toEqual(expect.arrayContaining(['长江', '流域', '长江流域']));
    expect(segment('坚持锻炼有益于身体健康和心理健康')).toEqual(expect.arrayContaining(['健康']));
  });

  it('lowercases, width-normalises and drops punctuation and stop words, keeping repeats', () => {
    expect(segment('The ＡＰＩ key, the API KEY!')).toEqual(['api', 'key', 'api', 'key']);
    expect(segment('我的，的。')).toEqual(['我']);
  });

  it('gives queries their distinct words and the index its words joined by spaces', () => {
    expect(queryTerms('健康 健康 Health')).toEqual(['健康', 'health']);
    expect(indexTerms('长江 health')).toBe('长江 health');
  });

  it('survives input that is not text at all', () => {
    expect(segment('')).toEqual([]);
    expect(segment('\u0000\uFFFD\uD800 ...')).toEqual([]);
    expect(segment('字'.repeat(100_000)).length).toBeGreaterThan(0);
  });
});
