import { ExtractError, MAX_TEXT_CHARS, tooMuchText } from './doc.js';

/**
 * The text of a file that should be text (txt, md, html, csv, json). A byte-order mark decides
 * the encoding (UTF-8, UTF-16 LE/BE); without one, UTF-8 if the bytes are valid UTF-8, else
 * GB 18030 (the superset of GBK that Chinese Windows saves plain text in) if they are valid
 * there, else UTF-8 with replacement characters. NUL bytes outside UTF-16 mean a binary file.
 */
export function decodeText(bytes: Uint8Array, what: string): string {
  if (bytes.length === 0) throw new ExtractError('invalid_file', `the ${what} is empty`);
  // No encoding here takes more than 3 bytes per UTF-16 unit: past this the text is too long
  // whatever it decodes to, and is refused before decoding.
  if (bytes.length > MAX_TEXT_CHARS * 3) tooMuchText(what);
  let text: string;
  if (bytes[0] === 0xff && bytes[1] === 0xfe) text = new TextDecoder('utf-16le').decode(bytes.subarray(2));
  else if (bytes[0] === 0xfe && bytes[1] === 0xff) text = new TextDecoder('utf-16be').decode(bytes.subarray(2));
  else {
    const body = bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf ? bytes.subarray(3) : bytes;
    if (body.includes(0)) throw new ExtractError('invalid_file', `the ${what} is binary, not text (it holds NUL bytes)`);
    text = strictDecode('utf-8', body) ?? strictDecode('gb18030', body) ?? new TextDecoder('utf-8').decode(body);
  }
  if (text.length > MAX_TEXT_CHARS) tooMuchText(what);
  if (!text.trim()) throw new ExtractError('invalid_file', `the ${what} holds no text`);
  return text;
}

function strictDecode(encoding: string, bytes: Uint8Array): string | undefined {
  try {
    return new TextDecoder(encoding, { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch {
    return undefined;
  }
}
