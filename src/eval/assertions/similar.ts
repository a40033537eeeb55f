/**
 * `similar`: cosine similarity of the answer's and the value's embeddings (through the hub, by
 * the assertion's `provider` or the test's embedding model) at least `threshold` (default 0.75).
 * A list value passes when any entry is similar enough.
 */
import { SuiteError } from '../types.js';
import type { Kind } from './types.js';
import { unitThreshold } from './values.js';

export function cosine(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length || a.length === 0) return 0;
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i]! * b[i]!;
    na += a[i]! * a[i]!;
    nb += b[i]! * b[i]!;
  }
  return na && nb ? dot / Math.sqrt(na * nb) : 0;
}

export const similar: Kind = {
  check(a, where) {
    const ok = (typeof a.value === 'string' && a.value) || (Array.isArray(a.value) && a.value.length && a.value.every((v) => typeof v === 'string'));
    if (!ok) throw new SuiteError(`${where}.value: 'similar' needs a string or a list of strings`);
    unitThreshold(a, where);
  },
  async run(a, ctx) {
    const model = typeof a.provider === 'string' ? a.provider : (a.provider?.id ?? ctx.embedder);
    if (!model) return { pass: false, score: 0, reason: "No embedding model: set the assertion's provider or defaultTest.options.provider.embedding" };
    const wants = typeof a.value === 'string' ? [a.value] : (a.value as string[]);
    const vectors = await ctx.embed(model, [ctx.output, ...wants]);
    const [out, ...refs] = vectors;
    const best = Math.max(...refs.map((r) => cosine(out!, r)));
    const threshold = a.threshold ?? 0.75;
    return { pass: best >= threshold, score: Math.max(0, best), reason: `Similarity ${best.toFixed(3)} ${best >= threshold ? '≥' : '<'} ${threshold}` };
  },
};
