import { inflateRawSync } from 'node:zlib';
import mammoth from 'mammoth';
import { ExtractError, type ExtractedDoc } from './doc.js';
import { extractHtml } from './extract-html.js';

/**
 * The most a DOCX's XML parts may unpack to, together. Word's XML is some ten times its text, so
 * this holds a book; a zip bomb (a few kilobytes that inflate to gigabytes) is refused before
 * mammoth unpacks anything, because mammoth (through JSZip) would inflate a part whole.
 */
export const MAX_DOCX_XML_BYTES = 100 * 1024 * 1024;

/**
 * Blocks from a Word document: mammoth turns its paragraphs, heading styles, lists and tables
 * into HTML, which the HTML path reads, so headings make the path as in a web page. Images are
 * not read at all (their converter returns an empty element without touching the bytes).
 */
export async function extractDocx(bytes: Uint8Array, fallbackTitle: string, what: string): Promise<ExtractedDoc> {
  checkZip(bytes, what);
  let html: string;
  try {
    const result = await mammoth.convertToHtml(
      { buffer: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength) },
      { convertImage: mammoth.images.imgElement(async () => ({ src: '' })) },
    );
    html = result.value;
  } catch (e) {
    throw new ExtractError('invalid_file', `the ${what} cannot be read as a Word document: ${(e as Error)?.message ?? String(e)}`);
  }
  const doc = extractHtml(html, fallbackTitle, what);
  if (doc.blocks.length === 0) throw new ExtractError('invalid_file', `the ${what} holds no text`);
  return doc;
}

/**
 * Walks the zip's central directory and inflates every XML part with a cap on its output (the
 * sizes a zip declares may lie), refusing the file when they unpack past `MAX_DOCX_XML_BYTES`
 * or when it is no Word document at all.
 */
function checkZip(bytes: Uint8Array, what: string): void {
  const bad = (why: string): never => {
    throw new ExtractError('invalid_file', `the ${what} ${why}`);
  };
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  // The end-of-central-directory record: 22 bytes plus a comment of up to 64 KB, at the end.
  let eocd = -1;
  for (let i = bytes.length - 22; i >= Math.max(0, bytes.length - 22 - 65_535); i--) {
    if (view.getUint32(i, true) === 0x06054b50) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) bad('is not a valid zip archive (a DOCX is one)');
  const count = view.getUint16(eocd + 10, true);
  let p = view.getUint32(eocd + 16, true);
  let total = 0;
  let hasDocument = false;
  for (let n = 0; n < count; n++) {
    if (p + 46 > bytes.length || view.getUint32(p, true) !== 0x02014b50) bad('has a broken zip directory');
    const method = view.getUint16(p + 10, true);
    const compressed = view.getUint32(p + 20, true);
    const nameLen = view.getUint16(p + 28, true);
    const extraLen = view.getUint16(p + 30, true);
    const commentLen = view.getUint16(p + 32, true);
    const local = view.getUint32(p + 42, true);
    const name = new TextDecoder().decode(bytes.subarray(p + 46, p + 46 + nameLen));
    p += 46 + nameLen + extraLen + commentLen;
    if (name === 'word/document.xml') hasDocument = true;
    if (!/\.(xml|rels)$/i.test(name)) continue;
    if (local + 30 > bytes.length || view.getUint32(local, true) !== 0x04034b50) bad('has a broken zip entry');
    const start = local + 30 + view.getUint16(local + 26, true) + view.getUint16(local + 28, true);
    const data = bytes.subarray(start, start + compressed);
    if (method === 0) total += data.length;
    else if (method === 8) {
      try {
        total += inflateRawSync(data, { maxOutputLength: MAX_DOCX_XML_BYTES - total + 1 }).length;
      } catch (e) {
        if ((e as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE') total = MAX_DOCX_XML_BYTES + 1;
        else bad(`has a corrupt zip entry (${name})`);
      }
    } else bad(`uses a zip compression method the hub does not read (${method})`);
    if (total > MAX_DOCX_XML_BYTES) bad(`unpacks to more than ${MAX_DOCX_XML_BYTES / 1024 / 1024} MB of XML`);
  }
  if (!hasDocument) bad('is a zip archive but not a Word document (no word/document.xml)');
}
