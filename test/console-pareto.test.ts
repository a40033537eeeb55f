/** The Evaluations page's Pareto front (web/src/pareto.ts): which models no other model beats on cost and quality. */
import { describe, expect, it } from 'vitest';
import { dominated, paretoFront } from '../web/src/pareto.js';

const P = (id: string, x: number, y: number) => ({ id, x, y });
const ids = (ps: { id: string }[]) => ps.map((p) => p.id);

describe('the Pareto front of quality against cost', () => {
  it('keeps the models nothing beats on both, cheapest first, and drops the dominated ones', () => {
    const points = [P('pricey', 3, 0.5), P('smart', 2, 1), P('cheap', 0.1, 0.5), P('mid', 1, 0.75), P('worse-mid', 1.5, 0.7)];
    expect(ids(paretoFront(points))).toEqual(['cheap', 'mid', 'smart']);
    // The same answer, point by point.
    expect(points.filter((p) => !dominated(p, points)).map((p) => p.id).sort()).toEqual(['cheap', 'mid', 'smart']);
  });

  it('a single model is the front; no model, no front', () => {
    expect(ids(paretoFront([P('only', 5, 0)]))).toEqual(['only']);
    expect(paretoFront([])).toEqual([]);
  });

  it('at equal cost only the better model is on it; at equal quality only the cheaper', () => {
    expect(ids(paretoFront([P('a', 1, 0.4), P('b', 1, 0.9)]))).toEqual(['b']);
    expect(ids(paretoFront([P('a', 2, 0.9), P('b', 1, 0.9)]))).toEqual(['b']);
    // Free models (no price known) all cost 0: the best of them is the front.
    expect(ids(paretoFront([P('a', 0, 0.2), P('b', 0, 0.6), P('c', 0, 0.6)]))).toEqual(['b', 'c']);
  });

  it('two models at the very same point are both on it (neither beats the other)', () => {
    const twins = [P('a', 1, 0.5), P('b', 1, 0.5), P('c', 2, 0.5)];
    expect(ids(paretoFront(twins)).sort()).toEqual(['a', 'b']);
    expect(dominated(twins[0]!, twins)).toBe(false);
    expect(dominated(twins[2]!, twins)).toBe(true);
  });

  it('leaves out points with no cost or no score, and does not reorder its input', () => {
    const points = [P('unscored', 1, NaN), P('b', 2, 1), P('a', 1, 0.5), P('infinite', Infinity, 1)];
    expect(ids(paretoFront(points))).toEqual(['a', 'b']);
    expect(ids(points)).toEqual(['unscored', 'b', 'a', 'infinite']);
  });
});
