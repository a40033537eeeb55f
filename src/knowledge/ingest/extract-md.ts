import type { MarkedToken, Token } from 'marked';
import { BlockList, type ExtractedDoc } from './doc.js';

/**
 * Blocks from Markdown through marked's lexer (no rendering): headings make the path, fenced and
 * indented code stays a code block as written, lists and tables become one block each, inline
 * markup (emphasis, links, code spans) is reduced to its text.
 */
export async function extractMarkdown(src: string, fallbackTitle: string, what: string): Promise<ExtractedDoc> {
  // Loaded on first use: package.json lists marked among the console's dev dependencies, so an
  // install without them must still read every other format.
  const { Lexer } = await import('marked');
  const out = new BlockList(what);
  const heads: string[] = [];
  let path: readonly string[] = [];
  let firstH1: string | undefined;

  const walk = (tokens: readonly Token[]): void => {
    for (const t of tokens as MarkedToken[]) {
      switch (t.type) {
        case 'heading': {
          const text = inline(t.tokens).replace(/\s+/g, ' ').trim();
          if (!text) break;
          if (t.depth === 1) firstH1 ??= text;
          heads.length = t.depth - 1;
          heads[t.depth - 1] = text;
          path = heads.filter((x) => x !== undefined);
          break;
        }
        case 'code':
          out.push(path, t.text, 'code');
          break;
        case 'list':
          out.push(path, listText(t.items), 'list');
          break;
        case 'table': {
          const row = (cells: { tokens: Token[] }[]) => cells.map((c) => inline(c.tokens).trim()).join(' | ');
          out.push(path, [row(t.header), ...t.rows.map(row)].join('\n'), 'table');
          break;
        }
        case 'blockquote':
          walk(t.tokens);
          break;
        case 'paragraph':
          out.push(path, inline(t.tokens), 'paragraph');
          break;
        case 'html':
          out.push(path, stripTags(t.text), 'paragraph');
          break;
        case 'text':
          out.push(path, t.tokens ? inline(t.tokens) : t.text, 'paragraph');
          break;
        default:
          break; // space, hr, def: no text
      }
    }
  };
  walk(new Lexer().lex(src));
  return { title: firstH1 ?? fallbackTitle, blocks: out.blocks };
}

function listText(items: readonly { tokens: Token[] }[]): string {
  return items.map((i) => `- ${inline(i.tokens).trim().replace(/\n+/g, '\n  ')}`).join('\n');
}

/** The plain text of inline (or list-item) tokens. */
function inline(tokens: readonly Token[] | undefined): string {
  let s = '';
  for (const t of (tokens ?? []) as MarkedToken[]) {
    switch (t.type) {
      case 'list':
        s += `\n${listText(t.items)}\n`;
        break;
      case 'br':
      case 'space':
        s += '\n';
        break;
      case 'html':
        s += stripTags(t.text);
        break;
      case 'image':
        s += t.text;
        break;
      case 'checkbox':
        break;
      case 'escape':
      case 'codespan':
        s += t.text;
        break;
      default:
        if ('tokens' in t && t.tokens?.length) s += inline(t.tokens) + (t.type === 'paragraph' ? '\n' : '');
        else if ('text' in t) s += t.text;
    }
  }
  return s;
}

function stripTags(html: string): string {
  return html.replace(/<[^>]*>/g, ' ').replace(/[ \t]+/g, ' ').trim();
}
