/**
 * The Pareto front of models on quality against cost: the models no other model beats on both,
 * that is, none costs no more and scores no less with one of the two strictly better. Two
 * models at the very same point are both on the front (neither beats the other); of two at the
 * same cost the better one alone is. Pure, for the Evaluations page's chart and its unit test.
 */

export interface Scored {
  /** Cost: lower is better. */
  readonly x: number;
  /** Quality: higher is better. */
  readonly y: number;
}

/**
 * The points on the front, cheapest first (so joining them in order draws the front); points
 * whose x or y is not a finite number are left out.
 */
export function paretoFront<T extends Scored>(points: readonly T[]): T[] {
  const sorted = points.filter((p) => Number.isFinite(p.x) && Number.isFinite(p.y)).sort((a, b) => a.x - b.x || b.y - a.y);
  const front: T[] = [];
  let bestY = -Infinity;
  let bestX = NaN;
  for (const p of sorted) {
    // Everything before p costs no more; p is beaten unless it scores higher than all of them,
    // or it sits exactly on the best of them.
    if (p.y > bestY) {
      front.push(p);
      bestY = p.y;
      bestX = p.x;
    } else if (p.y === bestY && p.x === bestX) front.push(p);
  }
  return front;
}

/** Whether `p` is beaten by some other point of `points` (the front's complement, one point at a time). */
export function dominated(p: Scored, points: readonly Scored[]): boolean {
  return points.some((q) => q !== p && q.x <= p.x && q.y >= p.y && (q.x < p.x || q.y > p.y));
}
