import { createRequire } from 'node:module';
import { dirname, join as joinPath } from 'node:path';
import { BlockList, ExtractError, MAX_TEXT_CHARS, tooMuchText, type ExtractedDoc } from './doc.js';

/**
 * pdfjs's own files for text in fonts the PDF does not embed: CJK character maps (a PDF that
 * names Adobe-GB1 without embedding the font needs them to map codes to Unicode) and the
 * standard fonts. Read from the installed package by path: nothing is fetched.
 */
function pdfjsData(): { cMapUrl: string; standardFontDataUrl: string } {
  const root = dirname(createRequire(import.meta.url).resolve('pdfjs-dist/package.json'));
  return { cMapUrl: joinPath(root, 'cmaps') + '/', standardFontDataUrl: joinPath(root, 'standard_fonts') + '/' };
}

interface Line {
  text: string;
  /** Baseline, in page units from the bottom. */
  y: number;
  /** Font size (the largest on the line). */
  size: number;
  page: number;
}

interface TextItem {
  str: string;
  transform: number[];
  width: number;
  height: number;
  hasEOL: boolean;
}

const CJK = /[\u2e80-\u9fff\uf900-\ufaff\uff00-\uffef\u3000-\u303f]/;

/**
 * Blocks from a PDF's text layer with pdfjs (its legacy build, for Node: in Node it runs its
 * "worker" in this thread, so no worker file and no network). PDFs have no paragraphs or
 * headings, only positioned text: lines are items on one baseline; a paragraph ends where the
 * gap to the next line is wider than line spacing; a short line set clearly larger than the body
 * text is a heading, its level by size. The title is the document's Title metadata, else the
 * first heading.
 */
export async function extractPdf(bytes: Uint8Array, fallbackTitle: string, what: string): Promise<ExtractedDoc> {
  const { getDocument } = await import('pdfjs-dist/legacy/build/pdf.mjs');
  const task = getDocument({
    // pdfjs may detach the buffer it is given; the caller keeps its own.
    data: bytes.slice(),
    disableFontFace: true,
    useSystemFonts: false,
    isEvalSupported: false,
    cMapPacked: true,
    verbosity: 0,
    ...pdfjsData(),
  });
  let doc;
  try {
    doc = await task.promise;
  } catch (e) {
    await task.destroy();
    const err = e as Error;
    if (err?.name === 'PasswordException') throw new ExtractError('invalid_file', `the ${what} is encrypted with a password`);
    throw new ExtractError('invalid_file', `the ${what} cannot be read as a PDF: ${err?.message ?? String(e)}`);
  }
  try {
    const lines: Line[] = [];
    let chars = 0;
    for (let n = 1; n <= doc.numPages; n++) {
      const page = await doc.getPage(n);
      const content = await page.getTextContent();
      let cur: Line | undefined;
      let endX = 0;
      for (const raw of content.items) {
        if (!('str' in raw)) continue;
        const it = raw as TextItem;
        const y = it.transform[5] ?? 0;
        const x = it.transform[4] ?? 0;
        const size = Math.hypot(it.transform[2] ?? 0, it.transform[3] ?? 0) || it.height;
        if (it.str) {
          if (cur && Math.abs(cur.y - y) <= Math.max(cur.size, size) * 0.5) {
            // Same baseline: a gap wider than a fifth of the size is a space the PDF did not write.
            if (x - endX > size * 0.2 && !/\s$/.test(cur.text) && !/^\s/.test(it.str)) cur.text += ' ';
            cur.text += it.str;
            cur.size = Math.max(cur.size, size);
          } else {
            if (cur) lines.push(cur);
            cur = { text: it.str, y, size, page: n };
          }
          endX = x + it.width;
          chars += it.str.length;
        }
        if (it.hasEOL && cur) lines.push(cur), (cur = undefined);
      }
      if (cur) lines.push(cur);
      page.cleanup();
      if (chars > MAX_TEXT_CHARS) tooMuchText(what);
    }
    const meta = await doc.getMetadata().catch(() => undefined);
    const metaTitle = (meta?.info as { Title?: unknown } | undefined)?.Title;
    const out = toBlocks(
      lines.map((l) => ({ ...l, text: l.text.replace(/\s+/g, ' ').trim() })).filter((l) => l.text),
      what,
    );
    if (out.blocks.length === 0)
      throw new ExtractError('invalid_file', `the ${what} has no text layer (scanned pages would need OCR, which the hub does not do)`);
    const title = typeof metaTitle === 'string' && metaTitle.trim() ? metaTitle.trim() : (out.firstHeading ?? fallbackTitle);
    return { title, blocks: out.blocks };
  } finally {
    await doc.destroy();
  }
}

function toBlocks(lines: Line[], what: string): { blocks: BlockList['blocks']; firstHeading?: string } {
  const out = new BlockList(what);
  // The body size: the size most characters are set in.
  const bySize = new Map<number, number>();
  for (const l of lines) bySize.set(round(l.size), (bySize.get(round(l.size)) ?? 0) + l.text.length);
  const body = [...bySize].sort((a, b) => b[1] - a[1])[0]?.[0] ?? 0;
  const isHeading = (l: Line) => round(l.size) >= body * 1.2 && l.text.length <= 120;
  const levels = [...new Set(lines.filter(isHeading).map((l) => round(l.size)))].sort((a, b) => b - a).slice(0, 6);

  const heads: string[] = [];
  let path: readonly string[] = [];
  let firstHeading: string | undefined;
  let para = '';
  let prev: Line | undefined;
  for (const l of lines) {
    if (isHeading(l)) {
      out.push(path, para, 'paragraph');
      para = '';
      // A heading set on two lines (same size, right below) is one heading.
      const level = Math.max(1, levels.indexOf(round(l.size)) + 1 || levels.length);
      if (prev && isHeading(prev) && round(prev.size) === round(l.size) && prev.page === l.page && prev.y - l.y < l.size * 1.6) {
        heads[level - 1] = join(heads[level - 1] ?? '', l.text);
      } else {
        heads.length = level - 1;
        heads[level - 1] = l.text;
      }
      path = heads.filter((x) => x !== undefined);
      firstHeading ??= l.text;
    } else {
      const gap = prev ? prev.y - l.y : 0;
      const newPara = !prev || isHeading(prev) || prev.page !== l.page || gap > l.size * 1.6 || gap < 0;
      if (newPara) {
        out.push(path, para, 'paragraph');
        para = l.text;
      } else para = join(para, l.text);
    }
    prev = l;
  }
  out.push(path, para, 'paragraph');
  return { blocks: out.blocks, ...(firstHeading !== undefined ? { firstHeading } : {}) };
}

/** Two wrapped lines of one paragraph: Chinese runs on without a space, other text with one. */
function join(a: string, b: string): string {
  if (!a) return b;
  return CJK.test(a.slice(-1)) && CJK.test(b[0] ?? '') ? a + b : `${a} ${b}`;
}

function round(n: number): number {
  return Math.round(n * 2) / 2;
}
