/**
 * A suite sent to the API: YAML text, or the same shape as JSON. It is checked as a suite file
 * is (eval/suite.ts), with one more rule: no `file://` anywhere — the API gives no access to the
 * hub's file system, so a suite must carry its tests and prompts inline. YAML aliases are capped
 * by the suite reader (a few lines cannot expand into gigabytes); sizes by the request body limit
 * and the suite's own limits (tests, calls planned).
 */
import { parseDoc, parseSuite } from './suite.js';
import type { Suite } from './suite.js';
import { SuiteError } from './types.js';

/** The first `file://` string in a parsed document, with its path, if any. */
function fileRef(doc: unknown, path: string, depth = 0): string | undefined {
  if (depth > 64) throw new SuiteError(`${path || '(root)'}: nested more than 64 levels deep`);
  if (typeof doc === 'string') return /^\s*file:\/\//i.test(doc) ? path || '(root)' : undefined;
  if (Array.isArray(doc)) {
    for (let i = 0; i < doc.length; i++) {
      const hit = fileRef(doc[i], `${path}[${i}]`, depth + 1);
      if (hit) return hit;
    }
    return undefined;
  }
  if (doc !== null && typeof doc === 'object') {
    for (const [k, v] of Object.entries(doc)) {
      const hit = fileRef(v, path ? `${path}.${k}` : k, depth + 1);
      if (hit) return hit;
    }
  }
  return undefined;
}

/**
 * Checks a suite sent to the API; `name` stands for its file in reports. Returns the suite and
 * the text kept for the run (the YAML as sent, or the JSON document). Throws SuiteError.
 */
export function apiSuite(input: unknown, name: string): { suite: Suite; text: string } {
  let doc: unknown;
  if (typeof input === 'string') doc = parseDoc(input, 'suite');
  else if (input !== null && typeof input === 'object' && !Array.isArray(input)) doc = input;
  else throw new SuiteError(`suite: expected the suite's YAML as a string, or the suite as a JSON object`);
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) throw new SuiteError('suite: expected a mapping with prompts, providers and tests');
  // First, before anything else walks the document: it also refuses nesting deep enough to overflow the stack.
  const ref = fileRef(doc, '');
  if (ref) throw new SuiteError(`${ref}: file:// references are not allowed in a suite sent to the API (it has no access to the hub's file system); put the tests and prompts in the suite itself`);
  // No file is read (file:// was refused above); the name only labels the suite. It has no
  // folder part, so the reader's root is the working directory, which is never used.
  const suite = parseSuite(doc, name.replace(/[/\\]/g, '_'));
  return { suite, text: typeof input === 'string' ? input : JSON.stringify(input) };
}

/** Parses the text kept for a stored run again (it was checked when submitted). */
export function storedSuite(text: string, name: string): Suite {
  return apiSuite(text, name).suite;
}
