/**
 * `regex`: a pattern from the suite tested against the answer. A suite may come from anyone, so
 * a pattern is checked when the suite loads — at most 1,000 characters, it must compile, and no
 * unbounded quantifier may repeat a group that itself repeats (`(a+)+`, `(\w*\s?)*`: the usual
 * exponential backtracking shape) — and every match runs in a separate V8 context with a time
 * limit, so a pattern the check lets through (`(a|a)*b`) costs at most `MATCH_TIMEOUT_MS`.
 */
import { Script, createContext } from 'node:vm';
import { SuiteError } from '../types.js';
import type { Kind } from './types.js';
import { binary } from './types.js';
import { needString } from './values.js';

const MAX_PATTERN = 1000;
export const MATCH_TIMEOUT_MS = 1000;

/** Whether an unbounded quantifier applies to a group that holds a quantifier. */
export function nestedQuantifier(pattern: string): boolean {
  // Per open group: whether it holds a quantifier.
  const stack: boolean[] = [];
  let inClass = false;
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '\\') {
      i++;
      continue;
    }
    if (inClass) {
      if (c === ']') inClass = false;
      continue;
    }
    if (c === '[') inClass = true;
    else if (c === '(') stack.push(false);
    else if (c === ')') {
      const risky = stack.pop() ?? false;
      const next = pattern.slice(i + 1);
      const unbounded = /^(?:[*+]|\{\d+,\})/.test(next);
      const quantified = unbounded || /^(?:\?|\{\d+(?:,\d*)?\})/.test(next);
      if (risky && unbounded) return true;
      if ((risky || quantified) && stack.length) stack[stack.length - 1] = true;
    } else if ((c === '*' || c === '+' || c === '{' || c === '?') && stack.length) {
      if (c !== '?' || !/[(]/.test(pattern[i - 1] ?? '')) stack[stack.length - 1] = true;
    }
  }
  return false;
}

export function compile(source: string, where: string): RegExp {
  if (source.length > MAX_PATTERN) throw new SuiteError(`${where}: the regex is ${source.length} characters; at most ${MAX_PATTERN}`);
  let re: RegExp;
  try {
    re = new RegExp(source);
  } catch (err) {
    throw new SuiteError(`${where}: not a valid regular expression (${(err as Error).message})`);
  }
  if (nestedQuantifier(source)) {
    throw new SuiteError(`${where}: the regex repeats a group that itself repeats (like (a+)+), which can take exponential time; rewrite it without the nested repetition`);
  }
  return re;
}

/** Runs `re.test(text)` with a time limit; undefined when it ran out. */
// One context and one compiled script for every match: a new V8 context per match costs more than most matches.
const sandbox = createContext({ re: undefined as RegExp | undefined, text: '' });
const match = new Script('re.lastIndex = 0, re.test(text)');

export function testWithin(re: RegExp, text: string, ms = MATCH_TIMEOUT_MS): boolean | undefined {
  try {
    sandbox.re = re;
    sandbox.text = text;
    return match.runInContext(sandbox, { timeout: ms }) as boolean;
  } catch (err) {
    if ((err as { code?: string }).code === 'ERR_SCRIPT_EXECUTION_TIMEOUT') return undefined;
    throw err;
  } finally {
    sandbox.re = undefined;
    sandbox.text = '';
  }
}

export const regex: Kind = {
  check(a, where) {
    needString(a, where);
    // A value with {{vars}} is checked once rendered, at run time.
    if (!(a.value as string).includes('{{')) compile(a.value as string, `${where}.value`);
  },
  run(a, ctx) {
    let re: RegExp;
    try {
      re = compile(a.value as string, 'regex');
    } catch (err) {
      return binary(false, (err as Error).message);
    }
    const hit = testWithin(re, ctx.output);
    if (hit === undefined) return binary(false, `The regex took more than ${MATCH_TIMEOUT_MS} ms on this output and was stopped`);
    return binary(hit, hit ? `Output matches /${re.source}/` : `Expected output to match /${re.source}/`);
  },
};
