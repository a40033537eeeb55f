import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { crc32, deflateRawSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { MAX_DOCX_XML_BYTES } from '../../src/knowledge/ingest/extract-docx.js';
import { ExtractError, extractDocument, type ExtractedDoc } from '../../src/knowledge/ingest/extract.js';

const DIR = join(import.meta.dirname, '../fixtures/knowledge');
const fixture = (name: string) => new Uint8Array(readFileSync(join(DIR, name)));
const extract = (name: string) => extractDocument(fixture(name), name);
const text = (doc: ExtractedDoc) => doc.blocks.map((b) => b.text).join('\n');
const under = (doc: ExtractedDoc, needle: string) => doc.blocks.find((b) => b.text.includes(needle))?.path;

/** The ExtractError a promise fails with (and nothing else: another error fails the test). */
async function refusal(p: Promise<unknown>): Promise<ExtractError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(ExtractError);
  expect((e as Error).message).not.toMatch(/\n/);
  return e as ExtractError;
}

/** A zip archive (stored or deflated entries), written by hand for hostile DOCX files. */
function zip(entries: { name: string; data: Uint8Array; deflate?: boolean }[]): Uint8Array {
  const locals: Buffer[] = [];
  const central: Buffer[] = [];
  let offset = 0;
  for (const e of entries) {
    const name = Buffer.from(e.name);
    const body = e.deflate === false ? Buffer.from(e.data) : deflateRawSync(e.data);
    const head = Buffer.alloc(30);
    head.writeUInt32LE(0x04034b50, 0);
    head.writeUInt16LE(20, 4);
    head.writeUInt16LE(e.deflate === false ? 0 : 8, 8);
    head.writeUInt32LE(crc32(e.data), 14);
    head.writeUInt32LE(body.length, 18);
    head.writeUInt32LE(e.data.length >>> 0, 22);
    head.writeUInt16LE(name.length, 26);
    const dir = Buffer.alloc(46);
    dir.writeUInt32LE(0x02014b50, 0);
    dir.writeUInt16LE(20, 4);
    dir.writeUInt16LE(20, 6);
    dir.writeUInt16LE(e.deflate === false ? 0 : 8, 10);
    dir.writeUInt32LE(crc32(e.data), 16);
    dir.writeUInt32LE(body.length, 20);
    dir.writeUInt32LE(e.data.length >>> 0, 24);
    dir.writeUInt16LE(name.length, 28);
    dir.writeUInt32LE(offset, 42);
    locals.push(head, name, body);
    central.push(dir, name);
    offset += head.length + name.length + body.length;
  }
  const cd = Buffer.concat(central);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(cd.length, 12);
  end.writeUInt32LE(offset, 16);
  return new Uint8Array(Buffer.concat([...locals, cd, end]));
}

/** A PDF with one page of text, or with an /Encrypt dictionary whose password nobody knows. */
function pdf(opts: { encrypt?: boolean } = {}): Uint8Array {
  const objs = [
    '<< /Type /Catalog /Pages 2 0 R >>',
    '<< /Type /Pages /Kids [3 0 R] /Count 1 >>',
    '<< /Type /Page /Parent 2 0 R /MediaBox [0 0 300 200] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>',
    '<< /Length 44 >>\nstream\nBT /F1 12 Tf 20 100 Td (Hello PDF) Tj ET\nstream'.replace(/stream$/, 'endstream'),
    '<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>',
  ];
  if (opts.encrypt) objs.push(`<< /Filter /Standard /V 1 /R 2 /O <${'ab'.repeat(32)}> /U <${'cd'.repeat(32)}> /P -4 >>`);
  let out = '%PDF-1.4\n';
  const at: number[] = [];
  objs.forEach((o, i) => {
    at.push(out.length);
    out += `${i + 1} 0 obj\n${o}\nendobj\n`;
  });
  const xref = out.length;
  out += `xref\n0 ${objs.length + 1}\n0000000000 65535 f \n${at.map((n) => `${String(n).padStart(10, '0')} 00000 n \n`).join('')}`;
  const encrypt = opts.encrypt ? ` /Encrypt ${objs.length} 0 R /ID [<${'01'.repeat(16)}> <${'01'.repeat(16)}>]` : '';
  out += `trailer\n<< /Size ${objs.length + 1} /Root 1 0 R${encrypt} >>\nstartxref\n${xref}\n%%EOF\n`;
  return new TextEncoder().encode(out);
}

describe('extractDocument: every format', () => {
  it('markdown: headings make the path, code blocks and tables survive, inline markup goes', async () => {
    const doc = await extract('guide-zh.md');
    expect(doc.title).toBe('百模使用指南');
    expect(under(doc, '在 Linux 上运行')).toEqual(['百模使用指南', '安装', 'Linux']);
    expect(under(doc, 'WSL2')).toEqual(['百模使用指南', '安装', 'Windows']);
    expect(doc.blocks.find((b) => b.kind === 'code')).toMatchObject({ text: 'npm install -g baimo\nbaimo serve', path: ['百模使用指南', '安装', 'Linux'] });
    expect(doc.blocks.find((b) => b.kind === 'table')?.text).toBe('名称 | 说明\nport | 监听端口\ndataDir | 数据目录');
    expect(doc.blocks.find((b) => b.kind === 'list')?.text).toContain('- 密钥可以写在环境变量里，例如 OPENAI_API_KEY。');
    expect(text(doc)).toContain('请先安装 WSL2，然后按照 Linux 的步骤操作。');
    expect(text(doc)).not.toMatch(/\*\*|\]\(#/);
  });

  it('html: drops scripts, styles and navigation; headings, lists, tables and pre blocks', async () => {
    const doc = await extract('guide-en.html');
    expect(doc.title).toBe('Baimo Operations Guide');
    const all = text(doc);
    expect(all).not.toMatch(/tracking|nor this|Home|display: none/);
    expect(all).toContain('This guide covers backups & upgrades.');
    expect(under(doc, 'Put the copy back')).toEqual(['Baimo Operations Guide', 'Backups', 'Restoring']);
    expect(doc.blocks.find((b) => b.kind === 'list')?.text).toBe('- Stop the hub.\n- Copy data/ somewhere safe.');
    expect(doc.blocks.find((b) => b.kind === 'table')).toMatchObject({
      text: 'Version | Notes\n0.1 | First release\n0.2 | Knowledge bases',
      path: ['Baimo Operations Guide', 'Upgrades'],
    });
    expect(doc.blocks.find((b) => b.kind === 'code')?.text).toBe('baimo migrate\nbaimo serve');
    // <br> keeps its line break.
    expect(all).toContain('start the hub again.\nIt replays');
  });

  it('html without an h1 takes its <title>, then the file name', async () => {
    const a = await extractDocument(new TextEncoder().encode('<title>页面 标题</title><p>正文</p>'), 'x.html');
    expect(a.title).toBe('页面 标题');
    const b = await extractDocument(new TextEncoder().encode('<p>正文</p>'), 'dir/说明.htm');
    expect(b).toEqual({ title: '说明', blocks: [{ path: [], text: '正文', kind: 'paragraph' }] });
  });

  it('pdf (made by Chromium): Chinese survives, font sizes give headings, the metadata gives the title', async () => {
    const doc = await extract('manual-zh.pdf');
    expect(doc.title).toBe('百模部署手册');
    expect(text(doc)).toContain('百模是一个自托管的大模型网关。安装前请确认服务器已安装 Node.js 20 或更高版本。');
    expect(under(doc, '长江流域')).toEqual(['百模部署手册', '配置']);
    expect(under(doc, 'Port 8080')).toEqual(['百模部署手册', 'Troubleshooting']);
    expect(doc.blocks.filter((b) => b.path.at(-1) === '安装').map((b) => b.text)).toHaveLength(2);
  });

  it('docx (headings by style): headings, paragraphs and a table through mammoth', async () => {
    const doc = await extract('report-zh.docx');
    expect(doc.title).toBe('季度报告');
    expect(under(doc, '同比增长')).toEqual(['季度报告', '概述']);
    expect(doc.blocks.find((b) => b.kind === 'table')).toMatchObject({ text: '地区 | 收入\n华东 | 120\n华南 | 80', path: ['季度报告', '区域数据'] });
    expect(under(doc, '西部市场')).toEqual(['季度报告', '下一步']);
  });

  it('csv: a row per block, each value named by its header; quoted commas stay in the value', async () => {
    const doc = await extract('staff-zh.csv');
    expect(doc.title).toBe('staff-zh');
    expect(doc.blocks).toEqual([
      { path: [], kind: 'row', text: '姓名: 张三; 部门: 研发; 城市: 上海; 备注: 负责网关' },
      { path: [], kind: 'row', text: '姓名: 李四; 部门: 销售; 城市: 北京; 备注: 大客户, 华北' },
      { path: [], kind: 'row', text: '姓名: Alice Wang; 部门: Research; 城市: Shenzhen' },
    ]);
    const tsv = await extractDocument(new TextEncoder().encode('a\tb\n1\t2\n'), 't.csv');
    expect(tsv.blocks[0]?.text).toBe('a: 1; b: 2');
  });

  it('json: flattened path lines, a block per top-level key or array element', async () => {
    const doc = await extract('catalog.json');
    expect(doc.blocks.map((b) => b.text)).toEqual([
      'name: 百模模型目录',
      'providers[0].id: deepseek\nproviders[0].models[0]: deepseek-chat\nproviders[0].models[1]: deepseek-reasoner\nproviders[0].region: 中国\n' +
        'providers[1].id: openai\nproviders[1].models[0]: gpt-4o\nproviders[1].region: US',
      'limits.rpm: 600\nlimits.budget: null\nlimits.enabled: true',
    ]);
    const arr = await extractDocument(new TextEncoder().encode('[{"问题":"怎么安装","a b":[]},"plain",3]'), 'faq.json');
    expect(arr.blocks.map((b) => b.text)).toEqual(['问题: 怎么安装\n["a b"]: []', 'plain', '3']);
  });

  it('txt: UTF-8 with a BOM, UTF-16 with a BOM, GB 18030 without one; paragraphs at blank lines', async () => {
    const zh = await extract('notes-zh.txt');
    expect(zh.title).toBe('notes-zh');
    expect(zh.blocks.map((b) => b.text)).toEqual([
      '会议纪要',
      '今天讨论了知识库的设计。中文分词使用结巴！英文句子照常切分。这样可以吗？可以；但要测试。',
      '下次会议在周五。',
    ]);
    expect(text(await extract('notes-utf16.txt'))).toBe('健康提示\n多喝水。Drink water.');
    // "中文" in GBK/GB 18030: D6 D0 CE C4 (not valid UTF-8).
    const gbk = await extractDocument(new Uint8Array([0xd6, 0xd0, 0xce, 0xc4]), 'gbk.txt');
    expect(text(gbk)).toBe('中文');
  });

  it('sniffs PDF and DOCX content whatever the name says', async () => {
    expect((await extractDocument(fixture('manual-zh.pdf'), 'upload.bin')).title).toBe('百模部署手册');
    expect((await extractDocument(fixture('report-zh.docx'), 'noext')).title).toBe('季度报告');
    expect(text(await extractDocument(pdf(), 'misnamed.txt'))).toBe('Hello PDF');
  });
});

describe('extractDocument: hostile and broken files', () => {
  it('an empty file of every format is refused with a reason, not a crash', async () => {
    for (const ext of ['txt', 'md', 'html', 'pdf', 'docx', 'csv', 'json']) {
      const e = await refusal(extractDocument(new Uint8Array(0), `empty.${ext}`));
      expect(e.code).toBe('invalid_file');
      expect(e.message).toMatch(/empty/);
    }
    for (const [name, body] of [['blank.txt', ' \n\n '], ['tags.html', '<script>x</script><p> </p>'], ['n.json', '[]'], ['h.csv', '\n\n']]) {
      expect((await refusal(extractDocument(new TextEncoder().encode(body!), name!))).code).toBe('invalid_file');
    }
  });

  it('unknown types and old Office files are unsupported; a binary "txt" is invalid', async () => {
    expect((await refusal(extractDocument(new Uint8Array([1, 2, 3]), 'a.exe'))).code).toBe('unsupported_file');
    expect((await refusal(extractDocument(new Uint8Array([1, 2, 3]), 'README'))).message).toMatch(/without an extension/);
    const ole = await refusal(extractDocument(new Uint8Array([0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1, 0]), 'old.doc'));
    expect(ole).toMatchObject({ code: 'unsupported_file' });
    expect(ole.message).toMatch(/\.docx/);
    const bin = await refusal(extractDocument(new Uint8Array([0x48, 0x69, 0, 0, 0x7f, 0x45]), 'x.txt'));
    expect(bin).toMatchObject({ code: 'invalid_file' });
    expect(bin.message).toMatch(/binary/);
  });

  it('an encrypted PDF and a corrupt one are refused', async () => {
    expect(text(await extractDocument(pdf(), 'ok.pdf'))).toBe('Hello PDF');
    const enc = await refusal(extractDocument(pdf({ encrypt: true }), 'locked.pdf'));
    expect(enc).toMatchObject({ code: 'invalid_file' });
    expect(enc.message).toMatch(/password/);
    const junk = await refusal(extractDocument(new TextEncoder().encode('%PDF-1.7\n\u0001\u0002 not a pdf at all'), 'junk.pdf'));
    expect(junk.code).toBe('invalid_file');
    const cut = await refusal(extractDocument(fixture('manual-zh.pdf').slice(0, 3000), 'cut.pdf'));
    expect(cut.code).toBe('invalid_file');
    const notPdf = await refusal(extractDocument(new TextEncoder().encode('hello'), 'fake.pdf'));
    expect(notPdf.code).toBe('invalid_file');
  });

  it('a DOCX zip bomb is refused before mammoth unpacks it; non-zip and zip-but-not-Word too', async () => {
    const huge = Buffer.alloc(MAX_DOCX_XML_BYTES + 1024, 0x20);
    const bomb = zip([
      { name: '[Content_Types].xml', data: new TextEncoder().encode('<Types/>') },
      { name: 'word/document.xml', data: huge },
    ]);
    expect(bomb.length).toBeLessThan(1_000_000);
    const e = await refusal(extractDocument(bomb, 'bomb.docx'));
    expect(e).toMatchObject({ code: 'invalid_file' });
    expect(e.message).toMatch(/more than 100 MB/);
    expect((await refusal(extractDocument(new TextEncoder().encode('PK\u0003\u0004 broken'), 'b.docx'))).code).toBe('invalid_file');
    expect((await refusal(extractDocument(new TextEncoder().encode('just text'), 'c.docx'))).code).toBe('invalid_file');
    const other = zip([{ name: 'hello.xml', data: new TextEncoder().encode('<a/>') }]);
    expect((await refusal(extractDocument(other, 'd.docx'))).message).toMatch(/not a Word document/);
  });

  it('JSON nested 10,000 deep is refused; broken JSON and CSV are refused with the parser\'s reason', async () => {
    const deep = '['.repeat(10_000) + ']'.repeat(10_000);
    const e = await refusal(extractDocument(new TextEncoder().encode(deep), 'deep.json'));
    expect(e.message).toMatch(/deeper than 128/);
    const deepObj = '{"a":'.repeat(10_000) + '1' + '}'.repeat(10_000);
    expect((await refusal(extractDocument(new TextEncoder().encode(deepObj), 'deep2.json'))).code).toBe('invalid_file');
    expect((await refusal(extractDocument(new TextEncoder().encode('{"a":'), 'bad.json'))).message).toMatch(/not valid JSON/);
    expect((await refusal(extractDocument(new TextEncoder().encode('a,b\n"1,2\n'), 'bad.csv'))).message).toMatch(/not valid CSV/);
  });

  it('HTML with a million nested tags is refused quickly; a million sibling tags is just text; deep Markdown ends in text or a reason', async () => {
    const html = '<div>'.repeat(1_000_000) + '深处的文字' + '</div>'.repeat(10);
    expect((await refusal(extractDocument(new TextEncoder().encode(html), 'nest.html'))).message).toMatch(/nests elements more than 10000 deep/);
    const spans = '<p>' + '<b>'.repeat(1_000_000) + 'bold';
    expect((await refusal(extractDocument(new TextEncoder().encode(spans), 'b.html'))).code).toBe('invalid_file');
    const flat = await extractDocument(new TextEncoder().encode('<span>字</span>'.repeat(1_000_000)), 'flat.html');
    expect(text(flat)).toBe('字'.repeat(1_000_000));
    // marked's inline lexer is quadratic on this (a minute for 200 KB); inline markup is read here instead.
    const emphasis = await extractDocument(new TextEncoder().encode('_a'.repeat(100_000)), 'e.md');
    expect(text(emphasis).length).toBeGreaterThan(100_000);
    const inlineMd = await extractDocument(new TextEncoder().encode('**粗体** and _em_ with `code`, [链接](http://x.y "t"), ![图](i.png), snake_case_name, a\\*b <span>标签</span>'), 'i.md');
    expect(text(inlineMd)).toBe('粗体 and em with code, 链接, 图, snake_case_name, a*b 标签');
    const md = '>'.repeat(50_000) + ' 引用';
    const r = await extractDocument(new TextEncoder().encode(md), 'q.md').then(
      (d) => text(d),
      (err: unknown) => (expect(err).toBeInstanceOf(ExtractError), 'refused'),
    );
    expect(['引用', 'refused']).toContain(r);
  });
});
