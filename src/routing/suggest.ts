/**
 * Levenshtein distance if it is at most `max`, else `max + 1`. Only a band of 2·max+1 cells
 * around the diagonal is computed, and a row that is over `max` everywhere ends the search:
 * O(length · max), never O(length²).
 */
export function boundedDistance(a: string, b: string, max: number): number {
  if (Math.abs(a.length - b.length) > max) return max + 1;
  if (a.length === 0 || b.length === 0) return Math.max(a.length, b.length);
  const over = max + 1;
  // prev[j]: distance between a[0..i) and b[0..j); cells outside the band stay `over`.
  let prev = new Array<number>(b.length + 1).fill(over);
  let cur = new Array<number>(b.length + 1).fill(over);
  for (let j = 0; j <= Math.min(b.length, max); j++) prev[j] = j;
  for (let i = 1; i <= a.length; i++) {
    const lo = Math.max(1, i - max);
    const hi = Math.min(b.length, i + max);
    // Only the band (and one cell either side, which the next row reads) is written.
    cur[lo - 1] = lo - 1 === 0 && i <= max ? i : over;
    if (hi < b.length) cur[hi + 1] = over;
    let best = over;
    for (let j = lo; j <= hi; j++) {
      const d = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a.charCodeAt(i - 1) === b.charCodeAt(j - 1) ? 0 : 1));
      cur[j] = d > over ? over : d;
      if (cur[j]! < best) best = cur[j]!;
    }
    if (best > max) return over;
    [prev, cur] = [cur, prev];
  }
  return Math.min(prev[b.length]!, over);
}

/**
 * Names longer than this get no suggestions. It bounds what suggesting costs, not which names
 * are valid (that is MAX_MODEL_NAME in core/model-name.ts); typos of very long ids go unhelped.
 */
const MAX_SUGGESTABLE = 128;
/** At most this many candidates are compared, whatever the catalogue's size. */
const MAX_CANDIDATES = 5_000;

/** Up to `max` names close to `name`, closest first. Bounded in cost for any input. */
export function closeMatches(name: string, candidates: Iterable<string>, max = 3): string[] {
  if (name.length === 0 || name.length > MAX_SUGGESTABLE) return [];
  const needle = name.toLowerCase();
  const limit = Math.max(2, Math.floor(needle.length / 3));
  const scored: { c: string; d: number }[] = [];
  let seen = 0;
  for (const c of candidates) {
    if (++seen > MAX_CANDIDATES) break;
    const hay = c.toLowerCase();
    const tail = hay.slice(hay.indexOf('/') + 1);
    let d = Math.min(boundedDistance(needle, hay, limit), boundedDistance(needle, tail, limit));
    if (hay.includes(needle) || (tail.length > 0 && needle.includes(tail))) d = Math.min(d, 1);
    if (d <= limit) scored.push({ c, d });
  }
  return scored.sort((x, y) => x.d - y.d || x.c.localeCompare(y.c)).slice(0, max).map((s) => s.c);
}
