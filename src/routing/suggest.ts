/** Levenshtein distance, bounded: enough to suggest "did you mean" names. */
function distance(a: string, b: string): number {
  const prev = new Array<number>(b.length + 1);
  for (let j = 0; j <= b.length; j++) prev[j] = j;
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0]!;
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const up = prev[j]!;
      prev[j] = Math.min(up + 1, prev[j - 1]! + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = up;
    }
  }
  return prev[b.length]!;
}

/** Up to `max` names close to `name`, closest first. */
export function closeMatches(name: string, candidates: Iterable<string>, max = 3): string[] {
  const needle = name.toLowerCase();
  const scored: { c: string; d: number }[] = [];
  for (const c of candidates) {
    const hay = c.toLowerCase();
    const tail = hay.slice(hay.indexOf('/') + 1);
    let d = Math.min(distance(needle, hay), distance(needle, tail));
    if (hay.includes(needle) || needle.includes(tail)) d = Math.min(d, 1);
    if (d <= Math.max(2, Math.floor(needle.length / 3))) scored.push({ c, d });
  }
  return scored.sort((x, y) => x.d - y.d || x.c.localeCompare(y.c)).slice(0, max).map((s) => s.c);
}
