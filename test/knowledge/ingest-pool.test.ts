import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { afterAll, describe, expect, it } from 'vitest';
import { ExtractError } from '../../src/knowledge/ingest/extract.js';
import { IngestPool } from '../../src/knowledge/ingest/pool.js';
import { prepareFile } from '../../src/knowledge/ingest/prepare.js';

const DIR = join(import.meta.dirname, '../fixtures/knowledge');
const fixture = (name: string) => new Uint8Array(readFileSync(join(DIR, name)));
const OPTS = { maxTokens: 800, overlapTokens: 400, contextualHeaders: true };

/** About `bytes` of varied Chinese prose (UTF-8), in paragraphs under a few headings, as Markdown. */
function chineseText(bytes: number): Uint8Array {
  const words = '知识库 检索 模型 网关 长江 流域 健康 数据 安全 团队 文档 向量 关键词 分词 中文 英文 答案 引用 部署 服务器 配置 密钥 预算 速率 限制 缓存 路由 故障 切换 日志'.split(' ');
  let seed = 42;
  const rand = (n: number) => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff), seed % n);
  const parts = ['# 测试文档\n\n'];
  let size = 0;
  let section = 0;
  while (size < bytes) {
    let s = rand(200) === 0 ? `\n## 第${++section}节\n\n` : '';
    for (let i = 0, n = 6 + rand(10); i < n; i++) s += words[rand(words.length)] + (rand(5) === 0 ? '，' : '');
    s += '。！？；'[rand(4)] + (rand(6) === 0 ? '\n\n' : '');
    size += Buffer.byteLength(s);
    parts.push(s);
  }
  return new TextEncoder().encode(parts.join(''));
}

const pools: IngestPool[] = [];
const pool = (o?: ConstructorParameters<typeof IngestPool>[0]) => {
  const p = new IngestPool(o);
  pools.push(p);
  return p;
};
afterAll(async () => {
  await Promise.all(pools.map((p) => p.close()));
});

describe('IngestPool', () => {
  it('prepares files on its thread with the same result as in-process, keywords included', async () => {
    const p = pool();
    for (const name of ['guide-zh.md', 'manual-zh.pdf', 'report-zh.docx']) {
      const off = await p.prepare(fixture(name), name, OPTS);
      expect(off).toEqual(await prepareFile(fixture(name), name, OPTS));
      expect(off.chunks.length).toBeGreaterThan(0);
    }
    const pdf = await p.prepare(fixture('manual-zh.pdf'), 'manual-zh.pdf', OPTS);
    const config = pdf.chunks.find((c) => c.text.includes('长江流域'))!;
    expect(config.header).toBe('百模部署手册 › 配置');
    // Terms hold the header's words (contextual headers on) and the text's, segmented.
    expect(config.terms.split(' ')).toEqual(expect.arrayContaining(['百模', '配置', '长江', '流域']));
    const bare = await p.prepare(fixture('manual-zh.pdf'), 'manual-zh.pdf', { ...OPTS, contextualHeaders: false });
    expect(bare.chunks.find((c) => c.text.includes('长江流域'))!.terms.split(' ')).not.toContain('配置');
  });

  it('gives a file\'s ExtractError back with its code and reason, and goes on with the next file', async () => {
    const p = pool();
    const results = await Promise.allSettled([
      p.prepare(new Uint8Array(0), 'empty.txt', OPTS),
      p.prepare(new Uint8Array([1, 2]), 'x.exe', OPTS),
      p.prepare(new TextEncoder().encode('['.repeat(10_000)), 'deep.json', OPTS),
      p.prepare(fixture('staff-zh.csv'), 'staff-zh.csv', OPTS),
    ]);
    const errors = results.slice(0, 3).map((r) => (r.status === 'rejected' ? (r.reason as ExtractError) : undefined));
    for (const e of errors) expect(e).toBeInstanceOf(ExtractError);
    expect(errors.map((e) => e!.code)).toEqual(['invalid_file', 'unsupported_file', 'invalid_file']);
    expect(errors[0]!.message).toMatch(/empty/);
    expect(results[3]).toMatchObject({ status: 'fulfilled' });
  });

  it('replaces a thread that dies (out of memory) and fails only the file it was reading', async () => {
    const p = pool({ maxHeapMb: 48 });
    const huge = chineseText(24_000_000);
    const died = await p.prepare(huge, 'huge.md', OPTS).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(died).toBeInstanceOf(ExtractError);
    expect(died!.message).toMatch(/thread reading "huge.md" stopped/);
    const next = await p.prepare(fixture('notes-zh.txt'), 'notes-zh.txt', OPTS);
    expect(next.chunks[0]!.text).toContain('会议纪要');
  });

  it('fails a file that overruns the timeout and the files after it still run on a new thread', async () => {
    const p = pool({ timeoutMs: 1 });
    const r = await Promise.allSettled([p.prepare(fixture('manual-zh.pdf'), 'slow.pdf', OPTS), p.prepare(fixture('notes-zh.txt'), 'n.txt', OPTS)]);
    expect(r[0]).toMatchObject({ status: 'rejected', reason: { code: 'invalid_file', message: 'reading "slow.pdf" took longer than 1 ms' } });
    // The second file also overran 1 ms (the limit holds for each), on a thread of its own.
    expect(r[1]).toMatchObject({ status: 'rejected', reason: { message: 'reading "n.txt" took longer than 1 ms' } });
  });

  it('close() fails what is queued and refuses new files', async () => {
    const p = pool();
    const a = p.prepare(fixture('guide-zh.md'), 'a.md', OPTS);
    const b = p.prepare(fixture('guide-zh.md'), 'b.md', OPTS);
    const settled = Promise.allSettled([a, b]);
    await p.close();
    const [ra, rb] = await settled;
    expect(ra).toMatchObject({ status: 'rejected', reason: { message: 'the ingest pool is closed' } });
    expect(rb).toMatchObject({ status: 'rejected', reason: { message: 'the ingest pool is closed' } });
    await expect(p.prepare(fixture('guide-zh.md'), 'c.md', OPTS)).rejects.toThrow(/closed/);
  });

  it('keeps the event loop free while it works, and measures MB/min on ~1 MB of Chinese text', async () => {
    const p = pool();
    await p.prepare(fixture('notes-zh.txt'), 'warm.txt', OPTS); // thread started, tokenizer and jieba loaded
    const text = chineseText(1_000_000);
    expect(text.length).toBeGreaterThanOrEqual(1_000_000);
    const elu0 = performance.eventLoopUtilization();
    const t0 = performance.now();
    const r = await p.prepare(text, 'zh.md', OPTS);
    const ms = performance.now() - t0;
    const elu = performance.eventLoopUtilization(elu0);
    expect(r.chunks.length).toBeGreaterThan(100);
    expect(r.chunks.every((c) => c.tokens <= 800)).toBe(true);
    // Doing this on the test's own thread would hold its event loop busy nearly all the time.
    expect(elu.utilization).toBeLessThan(0.5);
    console.log(
      `ingest: ${(text.length / 1e6).toFixed(2)} MB of Chinese Markdown → ${r.chunks.length} chunks (800/400) in ${(ms / 1000).toFixed(2)} s = ` +
        `${(text.length / 1e6 / (ms / 60_000)).toFixed(1)} MB/min (extract + chunk + o200k counts + jieba terms, one thread); main event loop utilization ${elu.utilization.toFixed(3)}`,
    );
  });
});
