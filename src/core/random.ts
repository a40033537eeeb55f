/**
 * A small seeded generator (mulberry32): the same seed gives the same numbers in [0, 1) on every
 * run, so a sample, a benchmark's corpus or a failing test's input can be drawn again.
 */
export function mulberry32(seed: number): () => number {
  let a = seed | 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
