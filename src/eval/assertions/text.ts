/** Assertions on the answer's text: equality, substrings, prefixes, edit distance, refusals. */
import { distance } from 'fastest-levenshtein';
import type { Kind } from './types.js';
import { binary } from './types.js';
import { asText, needString, needStrings, needThreshold } from './values.js';

const quote = (s: string) => JSON.stringify(s.length > 80 ? `${s.slice(0, 80)}…` : s);

export const equals: Kind = {
  check(a, where) {
    if (a.value === undefined) needString(a, where);
  },
  run(a, ctx) {
    // An object value compares as JSON (promptfoo does the same), ignoring key order.
    if (typeof a.value === 'object' && a.value !== null) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(ctx.output);
      } catch {
        return binary(false, 'Expected JSON equal to the value; the output is not JSON');
      }
      const same = canonical(parsed) === canonical(a.value);
      return binary(same, same ? 'Output equals the expected JSON' : 'Output JSON differs from the expected JSON');
    }
    const want = asText(a.value);
    return binary(ctx.output === want, ctx.output === want ? 'Output equals the expected value' : `Expected output ${quote(want)}, got ${quote(ctx.output)}`);
  },
};

function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v && typeof v === 'object') {
    return `{${Object.keys(v)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical((v as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v);
}

function substring(fold: boolean): Kind {
  return {
    check: needString,
    run(a, ctx) {
      const want = asText(a.value);
      const ok = fold ? ctx.output.toLowerCase().includes(want.toLowerCase()) : ctx.output.includes(want);
      return binary(ok, ok ? `Output contains ${quote(want)}` : `Expected output to contain ${quote(want)}`);
    },
  };
}

export const contains = substring(false);
export const icontains = substring(true);

export const containsAny: Kind = {
  check: needStrings,
  run(a, ctx) {
    const wants = a.value as string[];
    const hit = wants.find((w) => ctx.output.includes(w));
    return binary(hit !== undefined, hit !== undefined ? `Output contains ${quote(hit)}` : `Expected output to contain one of ${wants.map(quote).join(', ')}`);
  },
};

export const containsAll: Kind = {
  check: needStrings,
  run(a, ctx) {
    const missing = (a.value as string[]).filter((w) => !ctx.output.includes(w));
    return binary(missing.length === 0, missing.length === 0 ? 'Output contains every value' : `Expected output to contain ${missing.map(quote).join(', ')}`);
  },
};

export const startsWith: Kind = {
  check: needString,
  run(a, ctx) {
    const want = asText(a.value);
    const ok = ctx.output.startsWith(want);
    return binary(ok, ok ? `Output starts with ${quote(want)}` : `Expected output to start with ${quote(want)}`);
  },
};

/** `threshold` is the largest edit distance that passes (promptfoo's default: 5). */
export const levenshtein: Kind = {
  check(a, where) {
    needString(a, where);
    if (a.threshold !== undefined) needThreshold(a, where, 'the largest edit distance that passes');
  },
  run(a, ctx) {
    const want = asText(a.value);
    const max = a.threshold ?? 5;
    // Distances on huge texts cost O(n·m): a cap keeps one assertion from taking the run's CPU.
    if (ctx.output.length * want.length > 1e8) return binary(false, 'Texts too long to compare by edit distance');
    const d = distance(ctx.output, want);
    return { pass: d <= max, score: d <= max ? 1 : 0, reason: `Edit distance ${d} ${d <= max ? '≤' : '>'} ${max}` };
  },
};

/**
 * A refusal: an empty answer, or one that opens with the usual refusal phrases (English and
 * Chinese). Phrase-based like promptfoo's `is-refusal`: it finds plain refusals, not every
 * polite evasion.
 */
const REFUSAL = [
  /\bI(?:'m| am)(?: very| really)? sorry,? (?:but )?I (?:can(?:'|no)t|am unable|won't)/i,
  /\bI (?:can(?:'|no)t|am (?:not able|unable)|won't|will not|must decline) (?:help|assist|provide|comply|do that|fulfil|fulfill|answer|support|create|generate|share)/i,
  /\bI(?:'m| am) not (?:able|allowed|permitted) to\b/i,
  /\bas an AI(?: language model)?,? I (?:can(?:'|no)t|don't|do not|am unable)/i,
  /\b(?:I must|I have to) (?:decline|refuse)\b/i,
  /^(?:sorry|I apologi[sz]e)[,.!]? (?:but )?I (?:can(?:'|no)t|am unable)/i,
  /(?:抱歉|对不起|很遗憾)[，,。]?\s*(?:我)?(?:无法|不能|不可以|没办法)/,
  /我(?:无法|不能|不可以|不会)(?:提供|协助|帮助|回答|满足|完成|生成)/,
  /(?:作为|身为)(?:一个)?(?:AI|人工智能)(?:助手|语言模型)?[，,]\s*我(?:无法|不能)/,
];

export function isRefusalText(text: string): boolean {
  const t = text.trim();
  if (t === '') return true;
  const head = t.slice(0, 600);
  return REFUSAL.some((r) => r.test(head));
}

export const isRefusal: Kind = {
  run(_a, ctx) {
    const refused = isRefusalText(ctx.output);
    return binary(refused, refused ? 'The output is a refusal' : 'The output is not a refusal');
  },
};
