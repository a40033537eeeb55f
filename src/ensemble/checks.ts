/**
 * The cascade's local checks (everything but the verifier, which is a model call and lives in
 * cascade.ts). Each returns whether the answer passes and facts for the trace.
 */
import { z } from 'zod';
import type { SubCallResult } from '../core/model.js';
import type { CascadeCheck } from './config.js';

export interface CheckResult {
  readonly passed: boolean;
  readonly detail: Readonly<Record<string, unknown>>;
}

export type LocalCheck = (text: string, result: SubCallResult) => CheckResult;

function isNumberArray(v: unknown): v is number[] {
  return Array.isArray(v) && v.every((x) => typeof x === 'number' && Number.isFinite(x));
}

function fromEntries(v: unknown): number[] | undefined {
  if (isNumberArray(v)) return v;
  if (Array.isArray(v) && v.length > 0 && v.every((x) => x !== null && typeof x === 'object' && typeof (x as { logprob?: unknown }).logprob === 'number')) {
    return v.map((x) => (x as { logprob: number }).logprob);
  }
  return undefined;
}

/**
 * Token logprobs of an answer, when the collected result carries them. Today's `Collected` has no
 * such field; this reads, in order, `result.logprobs` or `result.choices[0].logprobs`, each either
 * `number[]` or `{ logprob: number }[]` (OpenAI's shape), so either proposed core shape works.
 */
export function logprobsOf(result: SubCallResult): number[] | undefined {
  const top = fromEntries((result as { logprobs?: unknown }).logprobs);
  if (top && top.length > 0) return top;
  const first = fromEntries((result.choices[0] as { logprobs?: unknown } | undefined)?.logprobs);
  return first && first.length > 0 ? first : undefined;
}

function jsonSchemaCheck(schema: Record<string, unknown>): LocalCheck {
  const validator = z.fromJSONSchema(schema as Parameters<typeof z.fromJSONSchema>[0]);
  return (text) => {
    let value: unknown;
    try {
      value = JSON.parse(text.trim()) as unknown;
    } catch {
      return { passed: false, detail: { check: 'json_schema', problem: 'not valid JSON' } };
    }
    const r = validator.safeParse(value);
    if (r.success) return { passed: true, detail: { check: 'json_schema' } };
    const issue = r.error.issues[0];
    const where = issue && issue.path.length > 0 ? ` at ${issue.path.join('.')}` : '';
    return { passed: false, detail: { check: 'json_schema', problem: `${issue?.message ?? 'invalid'}${where}` } };
  };
}

/** A local check for every check type but `verifier` (undefined for that one). */
export function localCheck(check: CascadeCheck): LocalCheck | undefined {
  switch (check.type) {
    case 'verifier':
      return undefined;
    case 'regex': {
      // test() with g or y is stateful; a check wants a plain "matches somewhere".
      const re = new RegExp(check.pattern, (check.flags ?? '').replace(/[gy]/g, ''));
      return (text) => ({ passed: re.test(text), detail: { check: 'regex' } });
    }
    case 'json_schema':
      return jsonSchemaCheck(check.schema);
    case 'logprobs':
      return (_text, result) => {
        const lp = logprobsOf(result);
        if (!lp) return { passed: check.onMissing === 'accept', detail: { check: 'logprobs', logprobs: 'unavailable' } };
        const avg = lp.reduce((s, x) => s + x, 0) / lp.length;
        return { passed: avg >= check.minAvgLogprob, detail: { check: 'logprobs', avgLogprob: Number(avg.toFixed(4)), tokens: lp.length } };
      };
  }
}
