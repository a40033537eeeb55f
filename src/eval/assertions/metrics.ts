/** `cost` (USD ≤ threshold) and `latency` (ms ≤ threshold) of the call under test. */
import type { Kind } from './types.js';
import { binary } from './types.js';
import { needThreshold } from './values.js';

export const cost: Kind = {
  check: (a, where) => needThreshold(a, where, 'the most the call may cost, in USD'),
  run(a, ctx) {
    if (ctx.costUsd === undefined) return binary(false, 'The call has no known cost (no price for its model)');
    const ok = ctx.costUsd <= a.threshold!;
    return binary(ok, `Cost $${ctx.costUsd.toPrecision(3)} ${ok ? '≤' : '>'} $${a.threshold}`);
  },
};

/** A cached answer keeps the latency it had when it was made. */
export const latency: Kind = {
  check: (a, where) => needThreshold(a, where, 'the most the call may take, in ms'),
  run(a, ctx) {
    const ok = ctx.latencyMs <= a.threshold!;
    return binary(ok, `Latency ${Math.round(ctx.latencyMs)} ms ${ok ? '≤' : '>'} ${a.threshold} ms`);
  },
};
