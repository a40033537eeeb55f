import { describe, expect, it } from 'vitest';
import { estimateTextTokens } from '../src/usage/estimate.js';

describe('token estimate', () => {
  it('counts a token per CJK or Hangul character and one per four other characters', () => {
    expect(estimateTextTokens('')).toBe(0);
    expect(estimateTextTokens('Hello world!')).toBe(3);
    expect(estimateTextTokens('你好，世界')).toBe(5); // the full-width comma is CJK punctuation
    expect(estimateTextTokens('안녕하세요')).toBe(5);
    expect(estimateTextTokens('abcd你好efgh')).toBe(4);
    expect(estimateTextTokens('😀😀')).toBe(1); // astral characters: two UTF-16 units each, not CJK
    // Called twice on the same text: the scan starts afresh each time.
    expect(estimateTextTokens('中文')).toBe(2);
    expect(estimateTextTokens('中文')).toBe(2);
  });

  it('counts a 100 KB mixed prompt exactly', () => {
    const big = 'function add(a, b) { return a + b; }\n'.repeat(2800) + '说明'.repeat(2000);
    expect(estimateTextTokens(big)).toBe(4000 + Math.ceil((big.length - 4000) / 4));
  });
});
