import { parse } from 'csv-parse/sync';
import { BlockList, ExtractError, MAX_TEXT_CHARS, type ExtractedDoc } from './doc.js';

/**
 * CSV: each row a block of its own ("header: value; header: value"), so a chunk of rows still
 * says what each value is. The delimiter is a comma unless the header line has none and has
 * semicolons or tabs (spreadsheets in some locales save those).
 */
export function extractCsv(text: string, title: string, what: string): ExtractedDoc {
  const first = text.slice(0, text.search(/\r?\n|$/));
  const delimiter = first.includes(',') ? ',' : first.includes('\t') ? '\t' : first.includes(';') ? ';' : ',';
  let rows: string[][];
  try {
    rows = parse(text, { delimiter, bom: true, relax_column_count: true, relax_quotes: true, skip_empty_lines: true }) as string[][];
  } catch (e) {
    throw new ExtractError('invalid_file', `the ${what} is not valid CSV: ${(e as Error).message}`);
  }
  const out = new BlockList(what);
  const header = (rows[0] ?? []).map((h, i) => h.trim() || `column ${i + 1}`);
  if (rows.length === 1) out.push([], header.join('; '), 'row');
  for (const row of rows.slice(1)) {
    const fields = row.map((v, i) => [header[i] ?? `column ${i + 1}`, v.trim()] as const).filter(([, v]) => v);
    out.push([], fields.map(([h, v]) => `${h}: ${v}`).join('; '), 'row');
  }
  if (out.blocks.length === 0) throw new ExtractError('invalid_file', `the ${what} holds no rows`);
  return { title, blocks: out.blocks };
}

/** Deeper JSON is refused: the same bound as the hub puts on request bodies. */
export const MAX_JSON_DEPTH = 128;

/**
 * JSON as "path: value" lines (`providers[0].models[1]: deepseek-reasoner`), so every value keeps
 * the names above it. A top-level array gives a block per element (paths inside the element);
 * a top-level object a block per key. Walked with an explicit stack, never by recursion.
 */
export function extractJson(text: string, title: string, what: string): ExtractedDoc {
  let root: unknown;
  try {
    root = JSON.parse(text);
  } catch (e) {
    throw new ExtractError('invalid_file', `the ${what} is not valid JSON: ${(e as Error).message}`);
  }
  const out = new BlockList(what);
  if (Array.isArray(root)) for (const el of root) out.push([], flatten(el, '', what), 'row');
  else if (root !== null && typeof root === 'object')
    for (const [k, v] of Object.entries(root)) out.push([], flatten(v, key('', k), what), 'row');
  else out.push([], flatten(root, '', what), 'row');
  if (out.blocks.length === 0) throw new ExtractError('invalid_file', `the ${what} holds no values`);
  return { title, blocks: out.blocks };
}

function flatten(value: unknown, prefix: string, what: string): string {
  const lines: string[] = [];
  let chars = 0;
  const stack: [string, unknown, number][] = [[prefix, value, 0]];
  while (stack.length) {
    const [path, v, depth] = stack.pop()!;
    if (depth > MAX_JSON_DEPTH) throw new ExtractError('invalid_file', `the ${what} is nested deeper than ${MAX_JSON_DEPTH} levels`);
    const entries = Array.isArray(v)
      ? v.map((x, i) => [`${path}[${i}]`, x] as const)
      : v !== null && typeof v === 'object'
        ? Object.entries(v).map(([k, x]) => [key(path, k), x] as const)
        : undefined;
    if (entries?.length) {
      for (let i = entries.length - 1; i >= 0; i--) stack.push([entries[i]![0], entries[i]![1], depth + 1]);
      continue;
    }
    const shown = entries ? (Array.isArray(v) ? '[]' : '{}') : typeof v === 'string' ? v : JSON.stringify(v);
    const line = path ? `${path}: ${shown}` : shown;
    chars += line.length;
    // Paths repeat per value: a deep, wide document could multiply its size here.
    if (chars > MAX_TEXT_CHARS) throw new ExtractError('invalid_file', `the ${what} unfolds into too much text`);
    lines.push(line);
  }
  return lines.join('\n');
}

function key(path: string, k: string): string {
  if (/^[^.[\]\s"]+$/.test(k)) return path ? `${path}.${k}` : k;
  return `${path}[${JSON.stringify(k)}]`;
}
