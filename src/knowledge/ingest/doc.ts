/**
 * What extraction produces, whatever the format: a title and the document's text as blocks, each
 * with the heading path it sits under. Chunking works on this alone.
 */

/** One piece of a document's text under one heading path. */
export interface Block {
  /** The headings above it, outermost first, e.g. ['安装', 'Linux']; [] before the first heading. */
  readonly path: readonly string[];
  readonly text: string;
  readonly kind: 'paragraph' | 'list' | 'table' | 'code' | 'row';
}

export interface ExtractedDoc {
  readonly title: string;
  readonly blocks: readonly Block[];
}

/**
 * Why a file gave no text: `unsupported_file` (a format the hub does not read), `invalid_file`
 * (a file of a supported format that is broken, encrypted, empty or too big). The message is one
 * line, fit to show the uploader as the file's failure reason.
 */
export class ExtractError extends Error {
  constructor(
    readonly code: 'unsupported_file' | 'invalid_file',
    message: string,
  ) {
    super(message.replace(/\s+/g, ' ').trim());
    this.name = 'ExtractError';
  }
}

/**
 * The most text one file may yield (characters). Bounds memory for what a small upload can
 * unfold into: a zip bomb, a CSV of a million empty rows, a JSON whose paths repeat.
 */
export const MAX_TEXT_CHARS = 50_000_000;

/** Collects blocks, dropping empty ones and refusing a document past `MAX_TEXT_CHARS`. */
export class BlockList {
  readonly blocks: Block[] = [];
  private chars = 0;

  constructor(private readonly what: string) {}

  push(path: readonly string[], text: string, kind: Block['kind']): void {
    const t = text.trim();
    if (!t) return;
    this.chars += t.length;
    if (this.chars > MAX_TEXT_CHARS) tooMuchText(this.what);
    this.blocks.push({ path, text: t, kind });
  }
}

export function tooMuchText(what: string): never {
  throw new ExtractError('invalid_file', `the ${what} holds more than ${MAX_TEXT_CHARS / 1e6} million characters of text`);
}

/** Collapses runs of white space (HTML's and PDF's layout spaces) to one space. */
export function squash(s: string): string {
  return s.replace(/[ \t\r\n\f\v\u00a0\u3000]+/g, ' ').trim();
}
