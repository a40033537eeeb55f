import { beforeAll, describe, expect, it } from 'vitest';
import { chunkDocument, chunkingError, DEFAULT_CHUNKING, type DraftChunk } from '../../src/knowledge/ingest/chunk.js';
import type { Block, ExtractedDoc } from '../../src/knowledge/ingest/extract.js';
import { splitSentences } from '../../src/knowledge/ingest/sentences.js';
import { countTokens, loadTokenizer } from '../../src/usage/tokens.js';

const count = (t: string) => countTokens('gpt-4o', t).tokens;
beforeAll(async () => {
  expect(await loadTokenizer('gpt-4o')).toBe(true);
});

const para = (path: string[], text: string): Block => ({ path, text, kind: 'paragraph' });

/** Distinct numbered sentences, so every chunk's pieces can be traced back. */
const zhSentences = (n: number) =>
  Array.from({ length: n }, (_, i) => `第${i}句说明知识库如何把中文文档切成大小合适的片段${i % 3 === 0 ? '！' : i % 3 === 1 ? '。' : '？'}`);
const enSentences = (n: number) =>
  Array.from({ length: n }, (_, i) => `Sentence ${i} explains chunking, e.g. with 3.14 tokens per word on average.`);

/** The longest suffix of `a` that starts `b` (what the second chunk repeats of the first). */
function sharedOverlap(a: string, b: string): string {
  for (let n = Math.min(a.length, b.length); n > 0; n--) if (a.endsWith(b.slice(0, n))) return b.slice(0, n);
  return '';
}

function checkSizes(chunks: DraftChunk[], max: number): void {
  chunks.forEach((c, i) => {
    expect(c.seq).toBe(i);
    expect(c.tokens).toBe(count(c.text));
    expect(c.tokens).toBeLessThanOrEqual(max);
    expect(c.text).toBe(c.text.trim());
    expect(c.text).not.toBe('');
  });
}

describe('splitSentences', () => {
  it('ends Chinese sentences at 。！？；… and English ones at . ! ? before a space, losslessly', () => {
    const zh = '今天下雨。明天呢？“好！”他说；然后……走了';
    expect(splitSentences(zh)).toEqual(['今天下雨。', '明天呢？', '“好！”', '他说；', '然后……', '走了']);
    const en = 'It costs 3.14 dollars, e.g. coffee. Dr. Smith agrees! Does J. Doe? Node.js works.\nNext line';
    expect(splitSentences(en)).toEqual(['It costs 3.14 dollars, e.g. coffee. ', 'Dr. Smith agrees! ', 'Does J. Doe? ', 'Node.js works.\n', 'Next line']);
    expect(splitSentences(en).join('')).toBe(en);
    expect(splitSentences('混合 English. 中文句子。Then English!下一句')).toEqual(['混合 English. ', '中文句子。', 'Then English!', '下一句']);
  });
});

describe('chunkDocument', () => {
  it('keeps every chunk within maxTokens, overlaps by whole sentences up to overlapTokens', () => {
    const sentences = zhSentences(120);
    const doc: ExtractedDoc = { title: '指南', blocks: [para(['指南', '安装'], sentences.join(''))] };
    const chunks = chunkDocument(doc, { maxTokens: 120, overlapTokens: 40, contextualHeaders: true }, count);
    expect(chunks.length).toBeGreaterThan(5);
    checkSizes(chunks, 120);
    const known = new Set(sentences);
    for (const c of chunks) for (const s of splitSentences(c.text)) expect(known.has(s)).toBe(true);
    for (let i = 1; i < chunks.length; i++) {
      const shared = sharedOverlap(chunks[i - 1]!.text, chunks[i]!.text);
      expect(shared.length).toBeGreaterThan(0);
      expect(count(shared)).toBeLessThanOrEqual(40);
      // The overlap is whole sentences.
      expect(shared).toMatch(/^第\d+句/);
      expect(shared).toMatch(/[。！？]$/);
    }
    // Everything is covered, in order.
    const covered = new Set(chunks.flatMap((c) => splitSentences(c.text)));
    expect(covered.size).toBe(sentences.length);
    expect(chunks.every((c) => c.header === '指南 › 安装')).toBe(true);
  });

  it('zero overlap shares nothing; English sentences are not cut inside "e.g." or a decimal', () => {
    const sentences = enSentences(60);
    const doc: ExtractedDoc = { title: 'Guide', blocks: [para([], sentences.join(' '))] };
    const chunks = chunkDocument(doc, { maxTokens: 100, overlapTokens: 0, contextualHeaders: false }, count);
    checkSizes(chunks, 100);
    const known = new Set(sentences);
    for (const c of chunks) for (const s of splitSentences(c.text)) expect(known.has(s.trim())).toBe(true);
    expect(chunks.map((c) => c.text).join(' ')).toBe(sentences.join(' '));
    expect(chunks[0]!.header).toBe('Guide');
  });

  it('hard-splits a 5,000-character Chinese line with no punctuation by tokens, losing nothing', () => {
    const line = Array.from({ length: 5000 }, (_, i) => '长江黄河珠江淮河海河辽河松花江'[i % 15]).join('');
    const doc: ExtractedDoc = { title: 't', blocks: [para([], line)] };
    const chunks = chunkDocument(doc, { maxTokens: 200, overlapTokens: 100, contextualHeaders: true }, count);
    checkSizes(chunks, 200);
    expect(chunks.length).toBeGreaterThanOrEqual(Math.ceil(count(line) / 200));
    // Hard pieces are larger than the overlap budget, so none is repeated: they join back to the line.
    expect(chunks.map((c) => c.text).join('')).toBe(line);
    // Surrogate pairs are never cut.
    const emoji = '😀'.repeat(3000);
    const e = chunkDocument({ title: 't', blocks: [para([], emoji)] }, { maxTokens: 100, overlapTokens: 0, contextualHeaders: true }, count);
    checkSizes(e, 100);
    expect(e.map((c) => c.text).join('')).toBe(emoji);
    expect(e.every((c) => !/^[\udc00-\udfff]|[\ud800-\udbff]$/.test(c.text))).toBe(true);
  });

  it('never merges two top-level sections; packs subsections with a heading line; headers name the path once', () => {
    const doc: ExtractedDoc = {
      title: '百模使用指南',
      blocks: [
        para(['百模使用指南'], '前言。'),
        para(['百模使用指南', '安装', 'Linux'], '运行安装脚本。'),
        { path: ['百模使用指南', '安装', 'Linux'], text: 'npm install -g baimo', kind: 'code' },
        para(['百模使用指南', '安装', 'Windows'], '先安装 WSL2。'),
        para(['百模使用指南', '配置'], '写好 baimo.yaml。'),
        { path: ['百模使用指南', '配置'], text: 'a: 1', kind: 'row' },
        { path: ['百模使用指南', '配置'], text: 'b: 2', kind: 'row' },
      ],
    };
    const chunks = chunkDocument(doc, DEFAULT_CHUNKING && { ...DEFAULT_CHUNKING, contextualHeaders: true }, count);
    expect(chunks.map((c) => [c.header, c.text])).toEqual([
      ['百模使用指南', '前言。'],
      ['百模使用指南 › 安装', 'Linux\n运行安装脚本。\n\nnpm install -g baimo\n\nWindows\n先安装 WSL2。'],
      ['百模使用指南 › 配置', '写好 baimo.yaml。\n\na: 1\nb: 2'],
    ]);
    // A chunk wholly inside a subsection has it in its header, not as a line.
    const small = chunkDocument(doc, { maxTokens: 100, overlapTokens: 0, contextualHeaders: true }, count);
    expect(small.map((c) => c.header)).toEqual(['百模使用指南', '百模使用指南 › 安装', '百模使用指南 › 配置']);
    // Subsections that do not fit together: each chunk's header is its own subsection, and a
    // chunk that straddles two is headed by what they share, with the second's heading as a line.
    const tiny: ExtractedDoc = { title: 'T', blocks: [para(['T', 'A', 'x'], '甲甲。'.repeat(70)), para(['T', 'A', 'y'], '乙乙。'.repeat(70))] };
    const split = chunkDocument(tiny, { maxTokens: 100, overlapTokens: 0, contextualHeaders: true }, count);
    checkSizes(split, 100);
    for (const c of split) {
      const both = c.text.includes('甲') && c.text.includes('乙');
      expect(c.header).toBe(both ? 'T › A' : c.text.includes('甲') ? 'T › A › x' : 'T › A › y');
      if (both) expect(c.text).toMatch(/甲。\n\ny\n乙/);
    }
    expect(split.at(-1)!.header).toBe('T › A › y');
  });

  it('an empty document gives no chunks', () => {
    expect(chunkDocument({ title: 'x', blocks: [] }, { maxTokens: 100, overlapTokens: 0, contextualHeaders: true }, count)).toEqual([]);
  });
});

describe('chunkingError (OpenAI static chunking limits)', () => {
  it('accepts 100..4096 with overlap up to half; refuses the rest with one line', () => {
    expect(DEFAULT_CHUNKING).toEqual({ maxTokens: 800, overlapTokens: 400 });
    expect(chunkingError(DEFAULT_CHUNKING)).toBeUndefined();
    expect(chunkingError({ maxTokens: 100, overlapTokens: 0 })).toBeUndefined();
    expect(chunkingError({ maxTokens: 4096, overlapTokens: 2048 })).toBeUndefined();
    expect(chunkingError({ maxTokens: 99, overlapTokens: 0 })).toMatch(/100 to 4096/);
    expect(chunkingError({ maxTokens: 4097, overlapTokens: 0 })).toMatch(/100 to 4096/);
    expect(chunkingError({ maxTokens: 800.5, overlapTokens: 0 })).toMatch(/integer/);
    expect(chunkingError({ maxTokens: '800', overlapTokens: 0 })).toMatch(/integer/);
    expect(chunkingError({ maxTokens: 800, overlapTokens: 401 })).toMatch(/half.*\(400\)/);
    expect(chunkingError({ maxTokens: 800, overlapTokens: -1 })).toMatch(/non-negative/);
    expect(chunkingError({ maxTokens: 800, overlapTokens: null })).toMatch(/non-negative/);
  });
});
