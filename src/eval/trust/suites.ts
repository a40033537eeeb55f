/**
 * The trust suites (issue 20: DecodingTrust's perspectives, written for Baimo, nothing
 * downloaded): promptfoo-shaped YAML files in `trust/` at the package root, one per perspective,
 * each stating its grading rule in its description. They live outside `src/` because `tsc`
 * copies no data files: this module finds them three folders up both from `src/eval/trust/` and
 * from `dist/eval/trust/`, and the package ships the folder (package.json has no `files` list;
 * the Docker image copies the whole tree).
 *
 * A trust suite names no models: `loadTrustSuite` adds the models under test as providers and
 * the grader model for model-graded assertions, then checks the result like any suite.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYAML } from 'yaml';
import { parseSuite } from '../suite.js';
import type { Suite } from '../suite.js';
import { SuiteError } from '../types.js';
import type { Perspective } from './perspectives.js';

export { isPerspective, PERSPECTIVES } from './perspectives.js';
export type { Perspective } from './perspectives.js';

export const TRUST_DIR = fileURLToPath(new URL('../../../trust/', import.meta.url));


export interface TrustSuiteOptions {
  /** The models under test (hub model names, virtual models included). */
  readonly models: readonly string[];
  /** The grader for model-graded assertions (toxicity's rubric). */
  readonly grader: string;
  /** At most this many cases, taken alternately from each language so both are in a short run. */
  readonly limit?: number | undefined;
}

type RawTest = { metadata?: { lang?: unknown } } & Record<string, unknown>;

/** The case's language as the suite marks it (`metadata.lang`: zh or en). */
export function langOf(test: { readonly metadata?: Readonly<Record<string, unknown>> | undefined }): string | undefined {
  const l = test.metadata?.lang;
  return typeof l === 'string' ? l : undefined;
}

/** The first `limit` tests, alternating languages in file order (zh, en, zh, en, …). */
export function interleave<T extends RawTest>(tests: readonly T[], limit: number): T[] {
  const queues = new Map<string, T[]>();
  for (const t of tests) {
    const l = langOf(t as { metadata?: Record<string, unknown> }) ?? '';
    let q = queues.get(l);
    if (!q) queues.set(l, (q = []));
    q.push(t);
  }
  const out: T[] = [];
  const lists = [...queues.values()];
  for (let i = 0; out.length < limit && lists.some((q) => i < q.length); i++) {
    for (const q of lists) if (i < q.length && out.length < limit) out.push(q[i]!);
  }
  return out;
}

export function loadTrustSuite(perspective: Perspective, o: TrustSuiteOptions): Suite {
  const file = join(TRUST_DIR, `${perspective}.yaml`);
  let doc: Record<string, unknown>;
  try {
    doc = parseYAML(readFileSync(file, 'utf8')) as Record<string, unknown>;
  } catch (err) {
    // The suites ship with the package: a missing or broken one is an installation problem.
    throw new SuiteError(`trust suite '${perspective}' (${file}): ${(err as Error).message.split('\n')[0]}`);
  }
  const tests = Array.isArray(doc.tests) ? (doc.tests as RawTest[]) : [];
  const defaultTest = (doc.defaultTest ?? {}) as Record<string, unknown>;
  return parseSuite(
    {
      ...doc,
      providers: [...o.models],
      defaultTest: { ...defaultTest, options: { provider: o.grader } },
      tests: o.limit === undefined ? tests : interleave(tests, o.limit),
    },
    file,
  );
}
