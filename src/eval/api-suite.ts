/**
 * A suite sent to the API: YAML text, or the same shape as JSON. It is checked as a suite file
 * is (eval/suite.ts), with one more rule: no `file://` anywhere — the API gives no access to the
 * hub's file system, so a suite must carry its tests and prompts inline. YAML aliases are capped
 * by the suite reader (a few lines cannot expand into gigabytes); sizes by the request body limit
 * and the suite's own limits (tests, calls planned).
 */
import { HubError } from '../core/errors.js';
import { startThread } from '../core/thread.js';
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

/** Parses the text kept for a stored run again (it was checked when submitted), off the event loop when large. */
export async function storedSuite(text: string, name: string): Promise<Suite> {
  return (await checkApiSuite(text, name)).suite;
}

/** Suites up to this size (characters of YAML or JSON) are checked in line: a few milliseconds. */
const INLINE_CHARS = 64 * 1024;
/**
 * Past it, parsing costs about 2 µs a character (a 32 MB body: over a minute), so a larger suite
 * is checked on a thread of its own, one at a time, within a time and a heap limit.
 */
const THREAD_TIMEOUT_MS = 30_000;
const THREAD_HEAP_MB = 1024;
const MAX_WAITING = 4;

let queue: Promise<unknown> = Promise.resolve();
let waiting = 0;

/**
 * `apiSuite` without holding the event loop: a large suite is parsed on a thread. Throws
 * SuiteError as `apiSuite` does, or for a suite too large to parse in time; HubError
 * `overloaded` while more large suites wait than one process should hold.
 */
export async function checkApiSuite(input: unknown, name: string, o: { timeoutMs?: number } = {}): Promise<{ suite: Suite; text: string }> {
  let size = 0;
  try {
    size = typeof input === 'string' ? input.length : input !== null && typeof input === 'object' ? JSON.stringify(input).length : 0;
  } catch {
    // Nested too deep to stringify: `apiSuite` refuses it at once, before walking it.
  }
  if (size <= INLINE_CHARS) return apiSuite(input, name);
  if (waiting >= MAX_WAITING) throw new HubError('overloaded', 'Too many large eval suites are being checked on this hub; submit again in a moment.', { code: 'suites_busy' });
  waiting++;
  const mine = queue.then(() => onThread(input, name, o.timeoutMs ?? THREAD_TIMEOUT_MS));
  queue = mine.catch(() => undefined);
  try {
    return await mine;
  } finally {
    waiting--;
  }
}

function onThread(input: unknown, name: string, timeoutMs: number): Promise<{ suite: Suite; text: string }> {
  return new Promise((resolve, reject) => {
    const worker = startThread(import.meta.url, 'suite-thread', { resourceLimits: { maxOldGenerationSizeMb: THREAD_HEAP_MB } });
    let settled = false;
    const done = (f: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      void worker.terminate();
      f();
    };
    const timer = setTimeout(() => done(() => reject(new SuiteError(`suite: too large to check in ${Math.round(timeoutMs / 1000)} s; send fewer tests per run`))), timeoutMs);
    worker.once('message', (m: { ok: true; suite: Suite; text: string } | { ok: false; suiteError: boolean; message: string }) =>
      done(() => (m.ok ? resolve({ suite: m.suite, text: m.text }) : reject(m.suiteError ? new SuiteError(m.message) : new Error(m.message)))),
    );
    worker.once('error', (err: Error & { code?: string }) =>
      done(() => reject(err.code === 'ERR_WORKER_OUT_OF_MEMORY' ? new SuiteError('suite: too large to check (it needs more memory than a suite may take); send fewer tests per run') : err)),
    );
    worker.once('exit', () => done(() => reject(new Error('the suite thread stopped before it answered'))));
    worker.postMessage({ input, name });
  });
}
