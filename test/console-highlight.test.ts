/** The Knowledge page's client-side highlighter (web/src/highlight.ts): what it marks, and what it leaves alone. */
import { describe, expect, it } from 'vitest';
import { highlight, queryTerms } from '../web/src/highlight.js';

const marks = (text: string, query: string) => highlight(text, query).filter((s) => s.hit).map((s) => s.text);

describe('search-result highlighting', () => {
  it('splits the query on spaces and punctuation, and CJK runs from spaced words', () => {
    expect(queryTerms('Salmon, in London!  长江流域abc')).toEqual({ words: ['Salmon', 'in', 'London', 'abc'], runs: ['长江流域'] });
    expect(queryTerms(' ,.!? ')).toEqual({ words: [], runs: [] });
  });

  it('marks English words at word starts, case-insensitively', () => {
    expect(marks('Salmon returned to the rivers; a driver swam in.', 'river IN salmon')).toEqual(['Salmon', 'river', 'in']);
    expect(marks('nothing here', 'kangaroo')).toEqual([]);
  });

  it('marks each run of the query’s CJK characters found in the text', () => {
    expect(marks('长江是中国最长的河流，长江流域人口众多。', '长江')).toEqual(['长江', '长江']);
    // Pieces of a longer run, two characters or more, in the query's order: 中国 and 河流.
    expect(marks('长江是中国最长的河流', '中国河流')).toEqual(['中国', '河流']);
    // A one-character query run marks that character.
    expect(marks('长江是中国最长的河流', '江')).toEqual(['江']);
  });

  it('keeps every character, in order, and treats markup as text', () => {
    const text = '<b>长江</b> & Thames 🌊 İstanbul';
    const segs = highlight(text, '长江 thames <b>');
    expect(segs.map((s) => s.text).join('')).toBe(text);
    expect(segs.filter((s) => s.hit).map((s) => s.text)).toEqual(['b', '长江', 'b', 'Thames']);
    expect(highlight('', '长江')).toEqual([]);
    expect(highlight('abc', '')).toEqual([{ text: 'abc', hit: false }]);
  });
});
