/**
 * The table of assertion kinds. Every kind also has a `not-` form that passes when the kind
 * fails (score 1 − score). Scoring follows promptfoo: a test's score is the weighted mean of its
 * assertions' scores (weight 0: reported, not counted); it passes when every counted assertion
 * passes, or, when the test has a `threshold`, when its score reaches it.
 */
import { SuiteError } from '../types.js';
import { answerRelevance, contextFaithfulness, factuality, llmRubric } from './graded.js';
import { isJson, jsonSchema } from './json.js';
import { cost, latency } from './metrics.js';
import { regex } from './regex.js';
import { similar } from './similar.js';
import { contains, containsAll, containsAny, equals, icontains, isRefusal, levenshtein, startsWith } from './text.js';
import { toolCall } from './tools.js';
import type { AssertContext, AssertionSpec, Check, Kind } from './types.js';

const KINDS: Record<string, Kind> = {
  equals,
  contains,
  icontains,
  'contains-any': containsAny,
  'contains-all': containsAll,
  regex,
  'starts-with': startsWith,
  'is-json': isJson,
  'json-schema': jsonSchema,
  levenshtein,
  similar,
  'llm-rubric': llmRubric,
  factuality,
  'answer-relevance': answerRelevance,
  'context-faithfulness': contextFaithfulness,
  'is-refusal': isRefusal,
  'tool-call': toolCall,
  cost,
  latency,
};

export const assertionKinds: ReadonlySet<string> = new Set(Object.keys(KINDS));

function kindOf(type: string): { kind: Kind | undefined; negated: boolean } {
  const negated = type.startsWith('not-');
  return { kind: KINDS[negated ? type.slice(4) : type], negated };
}

/** Checks an assertion when the suite loads: a known type, and the value and threshold it needs. */
export function checkAssertion(a: AssertionSpec, where: string): void {
  const { kind } = kindOf(a.type);
  if (!kind) throw new SuiteError(`${where}.type: unknown assertion type '${a.type}' (known: ${[...assertionKinds].join(', ')}, and each with not-)`);
  kind.check?.(a, where);
}

/** Runs one assertion; a kind that throws fails with its message rather than ending the run. */
export async function runAssertion(a: AssertionSpec, ctx: AssertContext): Promise<Check> {
  const { kind, negated } = kindOf(a.type);
  let c: Check;
  try {
    c = await kind!.run(a, ctx);
  } catch (err) {
    return { pass: false, score: 0, reason: (err as Error).message };
  }
  if (!negated) return c;
  return { ...c, pass: !c.pass, score: 1 - c.score, reason: `${c.pass ? 'Expected not: ' : ''}${c.reason}` };
}

export interface Graded {
  readonly pass: boolean;
  readonly score: number;
  readonly reason: string;
}

/** A test's verdict from its assertions' checks (see the file's comment). */
export function verdict(asserts: readonly AssertionSpec[], checks: readonly Check[], threshold: number | undefined): Graded {
  let total = 0;
  let weights = 0;
  let allPass = true;
  const failed: string[] = [];
  checks.forEach((c, i) => {
    const w = asserts[i]!.weight;
    if (w === 0) return;
    total += c.score * w;
    weights += w;
    if (!c.pass) {
      allPass = false;
      failed.push(c.reason);
    }
  });
  const score = weights ? total / weights : 1;
  const pass = threshold !== undefined ? score >= threshold : allPass;
  const reason = pass ? 'All assertions passed' : threshold !== undefined ? `Score ${score.toFixed(3)} < threshold ${threshold}` : failed.join('; ');
  return { pass, score, reason };
}
