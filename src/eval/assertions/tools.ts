/**
 * `tool-call`: the answer called a tool by `value.name` whose arguments hold every key of
 * `value.arguments` with an equal value (a subset match: extra arguments are allowed). Without
 * `arguments`, the name alone decides.
 */
import { SuiteError } from '../types.js';
import type { Kind } from './types.js';
import { binary } from './types.js';

interface Want {
  name: string;
  arguments?: Record<string, unknown>;
}

function subset(want: unknown, got: unknown): boolean {
  if (want === null || typeof want !== 'object') return Object.is(want, got) || want === got;
  if (Array.isArray(want)) return Array.isArray(got) && want.length === got.length && want.every((w, i) => subset(w, got[i]));
  if (got === null || typeof got !== 'object' || Array.isArray(got)) return false;
  return Object.entries(want).every(([k, v]) => Object.hasOwn(got, k) && subset(v, (got as Record<string, unknown>)[k]));
}

export const toolCall: Kind = {
  check(a, where) {
    const v = a.value as Want | undefined;
    if (!v || typeof v !== 'object' || typeof v.name !== 'string' || !v.name) throw new SuiteError(`${where}.value: 'tool-call' needs { name, arguments? }`);
    if (v.arguments !== undefined && (typeof v.arguments !== 'object' || v.arguments === null || Array.isArray(v.arguments))) {
      throw new SuiteError(`${where}.value.arguments: must be an object`);
    }
  },
  run(a, ctx) {
    const want = a.value as Want;
    const named = ctx.toolCalls.filter((c) => c.name === want.name);
    if (named.length === 0) {
      const got = ctx.toolCalls.map((c) => c.name);
      return binary(false, `Expected a call to '${want.name}'; ${got.length ? `got ${got.join(', ')}` : 'no tool was called'}`);
    }
    if (!want.arguments) return binary(true, `Called '${want.name}'`);
    for (const c of named) {
      let args: unknown;
      try {
        args = JSON.parse(c.arguments || '{}');
      } catch {
        continue;
      }
      if (subset(want.arguments, args)) return binary(true, `Called '${want.name}' with matching arguments`);
    }
    return binary(false, `Called '${want.name}', but its arguments ${named.map((c) => c.arguments).join(' / ')} do not hold ${JSON.stringify(want.arguments)}`);
  },
};
