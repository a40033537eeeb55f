import { Parser } from 'htmlparser2';
import { BlockList, ExtractError, type Block, type ExtractedDoc } from './doc.js';

/** Elements whose content is never document text. */
const SKIP = new Set(['script', 'style', 'nav', 'noscript', 'template', 'svg', 'iframe', 'object', 'head', 'select', 'button']);
/** Elements that end the paragraph before them and start a new one. */
const BREAKS = new Set([
  'p', 'div', 'section', 'article', 'main', 'header', 'footer', 'aside', 'blockquote', 'figure', 'figcaption', 'form',
  'address', 'details', 'summary', 'dl', 'dt', 'dd', 'hr', 'center', 'fieldset', 'legend', 'body', 'html',
]);
const HEADING = /^h([1-6])$/;

/**
 * Deeper nesting is refused: htmlparser2 keeps its open elements in an array it shifts at the
 * front, so each open tag costs time in the depth (a million nested tags would take hours).
 * Real pages nest a few dozen deep.
 */
export const MAX_HTML_DEPTH = 10_000;

/**
 * Blocks from HTML (pages, and DOCX through mammoth): h1–h6 make the heading path; p and other
 * block elements make paragraphs, a list's items one list block, a table's rows one table block
 * ("cell | cell" lines), pre a code block. Scripts, styles, navigation and the head are dropped.
 * htmlparser2 streams (no tree, no recursion); nesting past `MAX_HTML_DEPTH` is refused.
 */
export function extractHtml(html: string, fallbackTitle: string, what: string): ExtractedDoc {
  const out = new BlockList(what);
  const heads: string[] = [];
  let path: readonly string[] = [];
  let firstH1: string | undefined;
  let pageTitle: string | undefined;
  let skip = 0;
  let depth = 0;
  let inTitle = false;
  let titleBuf = '';
  let heading: { level: number; buf: string } | undefined;
  let buf = '';
  let pre = 0;
  let list = 0;
  let items: string[] = [];
  let table = 0;
  let cells: string[] = [];
  let rows: string[] = [];

  const flush = (kind: Block['kind']) => {
    const text = kind === 'code' ? buf.replace(/^\n+|\s+$/g, '') : lines(buf);
    buf = '';
    out.push(path, text, kind);
  };

  const parser = new Parser(
    {
      onopentag(name) {
        if (++depth > MAX_HTML_DEPTH) throw new ExtractError('invalid_file', `the ${what} nests elements more than ${MAX_HTML_DEPTH} deep`);
        if (name === 'title') inTitle = true;
        if (SKIP.has(name)) skip++;
        if (skip) return;
        if (name === 'br') {
          buf += '\n';
          return;
        }
        if (table) {
          if (name === 'td' || name === 'th') buf = '';
          else if (name === 'table') table++;
          return;
        }
        if (pre) return;
        const h = HEADING.exec(name);
        if (h) {
          if (!list) flush('paragraph');
          heading = { level: Number(h[1]), buf: '' };
        } else if (name === 'table') {
          flush('paragraph');
          table = 1;
          rows = [];
        } else if (name === 'pre') {
          flush('paragraph');
          pre = 1;
        } else if (name === 'ul' || name === 'ol') {
          if (!list) flush('paragraph'), (items = []);
          else if (buf.trim()) items.push(lines(buf)), (buf = '');
          list++;
        } else if (name === 'li') {
          if (list && buf.trim()) items.push(lines(buf));
          buf = list ? '' : buf;
        } else if (BREAKS.has(name) && !list) flush('paragraph');
      },
      ontext(text) {
        if (inTitle) titleBuf += text;
        if (skip) return;
        const t = pre ? text : text.replace(/\s+/g, ' ');
        if (heading) heading.buf += t;
        else buf += t;
      },
      onclosetag(name) {
        depth--;
        if (name === 'title') inTitle = false;
        if (SKIP.has(name)) {
          if (skip) skip--;
          return;
        }
        if (skip) return;
        if (table) {
          if (name === 'td' || name === 'th') cells.push(lines(buf).replace(/\n/g, ' ')), (buf = '');
          else if (name === 'tr') {
            if (cells.some((c) => c)) rows.push(cells.join(' | '));
            cells = [];
          } else if (name === 'table' && !--table) {
            buf = rows.join('\n');
            rows = [];
            flush('table');
          }
          // A table nested in a cell is part of that cell's text.
          return;
        }
        if (pre) {
          if (name === 'pre') (pre = 0), flush('code');
          return;
        }
        const h = HEADING.exec(name);
        if (h && heading) {
          const text = lines(heading.buf).replace(/\n/g, ' ');
          const level = heading.level;
          heading = undefined;
          if (!text) return;
          if (level === 1) firstH1 ??= text;
          heads.length = level - 1;
          heads[level - 1] = text;
          path = heads.filter((x) => x !== undefined);
        } else if (name === 'li') {
          if (list && buf.trim()) items.push(lines(buf));
          buf = '';
        } else if (name === 'ul' || name === 'ol') {
          if (list && buf.trim()) items.push(lines(buf)), (buf = '');
          if (list && !--list) {
            buf = items.map((i) => `- ${i.replace(/\n/g, ' ')}`).join('\n');
            items = [];
            flush('list');
          }
        } else if (BREAKS.has(name) && !list) flush('paragraph');
      },
    },
    { decodeEntities: true, lowerCaseTags: true },
  );
  parser.write(html);
  parser.end();
  if (heading) buf += heading.buf;
  if (list && items.length) buf = items.map((i) => `- ${i}`).join('\n') + '\n' + buf;
  flush('paragraph');
  return { title: firstH1 ?? (lines(titleBuf).replace(/\n/g, ' ') || fallbackTitle), blocks: out.blocks };
}

/** Trims each line, collapses spaces and drops empty lines. */
function lines(s: string): string {
  return s
    .split('\n')
    .map((l) => l.replace(/[ \t\f\v\u00a0]+/g, ' ').trim())
    .filter(Boolean)
    .join('\n');
}
