import type { Deployment } from './deployment.js';

export const STRATEGIES = ['priority', 'weighted', 'least-latency', 'least-cost', 'least-busy'] as const;
export type Strategy = (typeof STRATEGIES)[number];

/** A random order in which heavier deployments tend to come first (Efraimidis–Spirakis keys). */
function weightedShuffle(ds: readonly Deployment[], random: () => number): Deployment[] {
  return ds
    .map((d) => ({ d, key: d.weight > 0 ? Math.pow(random(), 1 / d.weight) : -1 }))
    .sort((a, b) => b.key - a.key)
    .map((x) => x.d);
}

function by(ds: readonly Deployment[], random: () => number, score: (d: Deployment) => number): Deployment[] {
  // Shuffle first so that ties do not always favour the first configured deployment.
  return weightedShuffle(ds, random).sort((a, b) => score(a) - score(b));
}

/** The order in which to try deployments for one request. */
export function orderDeployments(ds: readonly Deployment[], strategy: Strategy, random: () => number = Math.random): readonly Deployment[] {
  if (ds.length < 2) return ds;
  switch (strategy) {
    case 'priority':
      return weightedShuffle(ds, random).sort((a, b) => a.priority - b.priority);
    case 'weighted':
      return weightedShuffle(ds, random);
    case 'least-latency':
      // An unmeasured deployment scores 0 so it gets measured.
      return by(ds, random, (d) => d.ttftMs ?? 0);
    case 'least-cost':
      return by(ds, random, (d) => d.costPerMTokens ?? Number.POSITIVE_INFINITY);
    case 'least-busy':
      return by(ds, random, (d) => d.inFlight);
  }
}
