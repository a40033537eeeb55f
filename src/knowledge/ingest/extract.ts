import { BlockList, ExtractError, type ExtractedDoc } from './doc.js';
import { extractCsv, extractJson } from './extract-data.js';
import { extractDocx } from './extract-docx.js';
import { extractHtml } from './extract-html.js';
import { extractMarkdown } from './extract-md.js';
import { extractPdf } from './extract-pdf.js';
import { decodeText } from './text.js';

export { ExtractError, type Block, type ExtractedDoc } from './doc.js';

export type Format = 'txt' | 'md' | 'html' | 'pdf' | 'docx' | 'csv' | 'json';

const BY_EXTENSION: Record<string, Format> = {
  txt: 'txt', text: 'txt', md: 'md', markdown: 'md', html: 'html', htm: 'html', pdf: 'pdf', docx: 'docx', csv: 'csv', json: 'json',
};

/** What a file is: its content's signature where it has one (PDF, zip), else its extension. */
export function detectFormat(bytes: Uint8Array, filename: string): Format {
  const ext = /\.([^./\\]+)$/.exec(filename)?.[1]?.toLowerCase() ?? '';
  const head = String.fromCharCode(...bytes.subarray(0, 8));
  if (head.startsWith('%PDF-')) return 'pdf';
  if (head.startsWith('PK\x03\x04') && (ext === 'docx' || !BY_EXTENSION[ext])) return 'docx';
  if (head.startsWith('\xd0\xcf\x11\xe0'))
    throw new ExtractError('unsupported_file', `"${filename}" is an old Office (97–2003) or encrypted Office file; save it as .docx without a password`);
  const format = BY_EXTENSION[ext];
  if (!format)
    throw new ExtractError(
      'unsupported_file',
      `files of type ${ext ? `.${ext}` : 'without an extension'} are not supported (supported: txt, md, html, pdf, docx, csv, json)`,
    );
  return format;
}

/**
 * The text of an uploaded file as titled, heading-pathed blocks. Every failure is an
 * `ExtractError` with a one-line reason, whatever the file does: empty, binary, corrupt,
 * encrypted, absurdly nested or too big once unpacked. CPU-bound: run it through the ingest pool.
 */
export async function extractDocument(bytes: Uint8Array, filename: string): Promise<ExtractedDoc> {
  if (bytes.length === 0) throw new ExtractError('invalid_file', `"${filename}" is empty`);
  const format = detectFormat(bytes, filename);
  const what = `${format === 'txt' ? 'text' : format.toUpperCase()} file`;
  const fallback = filename.replace(/^.*[/\\]/, '').replace(/\.[^.]+$/, '') || filename;
  try {
    switch (format) {
      case 'pdf':
        return await extractPdf(bytes, fallback, what);
      case 'docx':
        return await extractDocx(bytes, fallback, what);
      case 'html':
        return nonEmpty(extractHtml(decodeText(bytes, what), fallback, what), what);
      case 'md':
        return nonEmpty(await extractMarkdown(decodeText(bytes, what), fallback, what), what);
      case 'csv':
        return extractCsv(decodeText(bytes, what), fallback, what);
      case 'json':
        return extractJson(decodeText(bytes, what), fallback, what);
      case 'txt':
        return nonEmpty(extractText(decodeText(bytes, what), fallback, what), what);
    }
  } catch (e) {
    if (e instanceof ExtractError) throw e;
    // A library's own failure on a hostile file (a stack overflow included) is the file's fault.
    throw new ExtractError('invalid_file', `the ${what} cannot be read: ${(e as Error)?.message ?? String(e)}`);
  }
}

/** Plain text: a paragraph per run of lines between blank lines. */
function extractText(text: string, title: string, what: string): ExtractedDoc {
  const out = new BlockList(what);
  for (const para of text.split(/\r?\n[ \t\u3000]*\r?\n/)) out.push([], para.replace(/\r/g, ''), 'paragraph');
  return { title, blocks: out.blocks };
}

function nonEmpty(doc: ExtractedDoc, what: string): ExtractedDoc {
  if (doc.blocks.length === 0) throw new ExtractError('invalid_file', `the ${what} holds no text`);
  return doc;
}
