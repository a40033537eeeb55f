/**
 * Binary quantization for the embedded store's approximate vector search (knowledge-index.ts):
 * one bit per dimension (set where the value is > 0, as sqlite-vec's vec_quantize_binary), packed
 * into 32-bit words, and the Hamming distance between such copies. Two vectors' Hamming distance
 * estimates the angle between them (the fraction of differing signs is about angle / π for
 * directions spread evenly), so the vectors nearest in Hamming distance are a candidate list that
 * an exact cosine over the float vectors then orders. Pure functions; no SQL here.
 */

/** 32-bit words one vector of `dims` dimensions takes. */
export const bitWords = (dims: number): number => Math.ceil(dims / 32);

/**
 * Whether cosine can score the vector at all: every value finite and not all zero. Vectors
 * without a direction are never a search result (their cosine is NULL), so they get no bits.
 */
export function hasDirection(v: Float32Array): boolean {
  let any = false;
  for (let i = 0; i < v.length; i++) {
    const x = v[i]!;
    if (!Number.isFinite(x)) return false;
    if (x !== 0) any = true;
  }
  return any;
}

/** Writes v's sign bits into `out` from word `at` on (bitWords(v.length) words). */
export function quantize(v: Float32Array, out: Uint32Array, at: number): void {
  const words = bitWords(v.length);
  out.fill(0, at, at + words);
  for (let i = 0; i < v.length; i++) if (v[i]! > 0) out[at + (i >>> 5)]! |= 1 << (i & 31);
}

/**
 * Hamming distances from `q` (one quantized vector of `words` words) to the `n` vectors packed in
 * `bits`, written to `out` from index `at` on. Two words are summed before the last step of the
 * bit count (each nibble holds at most 8), a little faster than counting them one by one.
 */
export function hamming(bits: Uint32Array, n: number, q: Uint32Array, out: Uint32Array, at: number): void {
  const words = q.length;
  for (let j = 0, o = 0; j < n; j++) {
    let c = 0;
    let k = 0;
    for (; k + 1 < words; k += 2, o += 2) {
      let x = bits[o]! ^ q[k]!;
      let y = bits[o + 1]! ^ q[k + 1]!;
      x -= (x >>> 1) & 0x55555555;
      y -= (y >>> 1) & 0x55555555;
      x = (x & 0x33333333) + ((x >>> 2) & 0x33333333) + (y & 0x33333333) + ((y >>> 2) & 0x33333333);
      x = (x & 0x0f0f0f0f) + ((x >>> 4) & 0x0f0f0f0f);
      c += Math.imul(x, 0x01010101) >>> 24;
    }
    if (k < words) {
      let x = bits[o++]! ^ q[k]!;
      x -= (x >>> 1) & 0x55555555;
      x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
      x = (x + (x >>> 4)) & 0x0f0f0f0f;
      c += Math.imul(x, 0x01010101) >>> 24;
    }
    out[at + j] = c;
  }
}

/**
 * The positions of the `c` smallest of `dist[0..total)` (each ≤ `max`), in position order: a
 * counting pass finds the cut-off distance, then one pass takes everything under it and, of the
 * ties at it, the first ones. Linear; no sort of 100k distances.
 */
export function smallest(dist: Uint32Array, total: number, c: number, max: number): number[] {
  if (c >= total) return Array.from({ length: total }, (_, i) => i);
  const counts = new Uint32Array(max + 1);
  for (let i = 0; i < total; i++) counts[dist[i]!]!++;
  let cut = 0;
  let below = 0;
  while (below + counts[cut]! < c) below += counts[cut++]!;
  let ties = c - below;
  const out: number[] = [];
  for (let i = 0; i < total; i++) {
    const d = dist[i]!;
    if (d < cut || (d === cut && ties-- > 0)) out.push(i);
  }
  return out;
}

/** A BLOB as 32-bit words, copied only when SQLite's buffer is not 4-byte aligned. */
export function wordsOf(b: Buffer): Uint32Array {
  if (b.byteOffset % 4 === 0) return new Uint32Array(b.buffer, b.byteOffset, b.byteLength >>> 2);
  return new Uint32Array(new Uint8Array(b).buffer, 0, b.byteLength >>> 2);
}

/** A BLOB as float64 values (chunk ids), copied only when not 8-byte aligned. */
export function float64sOf(b: Buffer): Float64Array {
  if (b.byteOffset % 8 === 0) return new Float64Array(b.buffer, b.byteOffset, b.byteLength >>> 3);
  return new Float64Array(new Uint8Array(b).buffer, 0, b.byteLength >>> 3);
}
