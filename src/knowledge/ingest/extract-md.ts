import type { MarkedToken, Token } from 'marked';
import { BlockList, type ExtractedDoc } from './doc.js';

/**
 * Blocks from Markdown through marked's block lexer (no rendering): headings make the path, fenced
 * and indented code stays a code block as written, lists and tables become one block each.
 *
 * Only the block level is marked's: its inline lexer takes quadratic time on some input (200 KB
 * of "_a_a_a…" took a minute), so inline markup (emphasis, links, code spans, inline HTML) is
 * reduced to its text here, by bounded patterns that stay linear.
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
          const text = inline(t.text).replace(/\s+/g, ' ').trim();
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
          const row = (cells: { text: string }[]) => cells.map((c) => inline(c.text).trim()).join(' | ');
          out.push(path, [row(t.header), ...t.rows.map(row)].join('\n'), 'table');
          break;
        }
        case 'blockquote':
          walk(t.tokens);
          break;
        case 'paragraph':
        case 'text':
          out.push(path, inline(t.text), 'paragraph');
          break;
        case 'html':
          out.push(path, stripTags(t.text), 'paragraph');
          break;
        default:
          break; // space, hr, def: no text
      }
    }
  };
  walk(new Lexer().blockTokens(src.replace(/\r\n?/g, '\n')));
  return { title: firstH1 ?? fallbackTitle, blocks: out.blocks };
}

/** A list as "- item" lines; an item's own block content (paragraphs, nested lists) indented under it. */
function listText(items: readonly { tokens: Token[] }[]): string {
  return items.map((i) => `- ${blockText(i.tokens).trim().replace(/\n+/g, '\n  ')}`).join('\n');
}

function blockText(tokens: readonly Token[]): string {
  let s = '';
  for (const t of tokens as MarkedToken[]) {
    if (t.type === 'list') s += `\n${listText(t.items)}\n`;
    else if (t.type === 'code') s += `\n${t.text}\n`;
    else if (t.type === 'html') s += stripTags(t.text);
    else if (t.type === 'blockquote') s += blockText(t.tokens);
    else if ('text' in t && typeof t.text === 'string') s += `${inline(t.text)}\n`;
  }
  return s;
}

/**
 * The text of inline Markdown. Every pattern has bounded repetition, so a hostile line costs
 * time linear in its length.
 */
export function inline(s: string): string {
  // Escaped punctuation is set aside (as private-use characters) so no pattern below takes it for markup.
  return stripTags(s.replace(/\\([!-/:-@[-`{-~])/g, (_, c: string) => String.fromCharCode(0xe000 + c.charCodeAt(0))))
    .replace(/!?\[([^\]\n]{0,500})\]\([^)\n]{0,2000}\)/g, '$1') // links and images: their text
    .replace(/\[([^\]\n]{0,500})\]\[[^\]\n]{0,500}\]/g, '$1') // reference links
    .replace(/(`{1,3})([^`\n]{1,2000}?)\1/g, '$2') // code spans
    .replace(/(\*{1,3}|~~)(?=\S)|(?<=\S)(\*{1,3}|~~)/g, '') // emphasis and strike markers
    .replace(/(?<![\p{L}\p{N}_])_{1,3}(?=\S)|(?<=\S)_{1,3}(?![\p{L}\p{N}_])/gu, '') // _emphasis_, not snake_case
    .replace(/ {2,}\n/g, '\n')
    .replace(/[\ue000-\ue07f]/g, (c) => String.fromCharCode(c.charCodeAt(0) - 0xe000));
}

function stripTags(html: string): string {
  return html.replace(/<\/?[A-Za-z][^<>\n]{0,1000}>/g, ' ').replace(/[ \t]+/g, ' ').trim();
}
