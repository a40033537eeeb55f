import type { Vote } from './ports.js';

/**
 * The arena leaderboard: Bradley–Terry scores from the blind votes, with bootstrap confidence
 * intervals, as Chatbot Arena reports them.
 *
 * The model: P(i beats j) = σ(θi − θj). Fitted by Newton's method on the log-likelihood (the
 * Newton system solved by Jacobi-preconditioned conjugate gradients, so the cost per step is
 * linear in the votes' distinct pairs and models, never cubic in the models: a hostile client can
 * vote on any number of invented names). A tie counts as half a win for each side; a `bad` vote
 * (both answers bad) says nothing about the order and is left out of the fit.
 *
 * A Gaussian prior on each θ (precision 0.25, sd 2 ≈ 347 points, worth about one vote) keeps an
 * undefeated model's score finite and pins the scale's free constant; past a few dozen votes on a
 * model it no longer matters.
 *
 * Scores are on the Elo-like scale LMSYS uses: 400·log10 odds, anchored so that the mean score of
 * the models with votes is 1000. The 95% interval is the 2.5th–97.5th percentile over bootstrap
 * rounds (votes resampled with replacement, seeded so the same votes give the same board),
 * widened where few votes make the bootstrap blind (see `curvature` below).
 */

/** One model's line on the board. */
export interface ArenaStanding {
  readonly model: string;
  /** The Bradley–Terry score; null when no vote behind it (only `bad` votes). */
  readonly rating: number | null;
  readonly ciLower: number | null;
  readonly ciUpper: number | null;
  /** 1 + the number of models whose interval lies wholly above this one's: overlapping models share a rank. */
  readonly rank: number | null;
  /** Votes behind the score: wins, losses and ties (`bad` ones excluded). */
  readonly votes: number;
  /** Every vote naming the model, `bad` ones included. */
  readonly games: number;
  readonly wins: number;
  readonly losses: number;
  readonly ties: number;
  readonly bad: number;
}

export interface Leaderboard {
  readonly standings: ArenaStanding[];
  /** Bootstrap rounds actually run (fewer than asked when the votes are very many). */
  readonly rounds: number;
  readonly seed: number;
}

export interface LeaderboardOptions {
  /** Bootstrap rounds wanted (default 200); capped by the work budget below. */
  readonly rounds?: number;
  readonly seed?: number;
  /** Longest stretch of work before giving the event loop a turn (default 8 ms). */
  readonly sliceMs?: number;
}

const SCALE = 400 / Math.LN10;
const ANCHOR = 1000;
const PRIOR = 0.25;
const ROUNDS = 200;
const SEED = 20;
/** Votes drawn over all rounds: 100k votes still get 200 rounds, 1M get 20. */
const DRAW_BUDGET = 20_000_000;
/** Scores kept over all rounds (model × round), so invented names cannot fill the memory. */
const KEEP_BUDGET = 4_000_000;
/** Pairs and models walked per round, over all rounds: 1,000 models on 1,500 pairs still get 200 rounds. */
const FIT_BUDGET = 500_000;
const MIN_ROUNDS = 10;

/** The votes gathered into distinct unordered pairs (i < j by sorted name) and counts. */
interface Pairs {
  readonly models: string[];
  readonly i: Int32Array;
  readonly j: Int32Array;
  /** Per fitted vote: its pair × 3 + outcome (0: i won, 1: j won, 2: tie). */
  readonly cells: Int32Array;
}

function gather(votes: readonly Vote[]): { pairs: Pairs; counts: Map<string, Counts> } {
  const counts = new Map<string, Counts>();
  const of = (m: string) => {
    let c = counts.get(m);
    if (!c) counts.set(m, (c = { votes: 0, games: 0, wins: 0, losses: 0, ties: 0, bad: 0 }));
    return c;
  };
  for (const v of votes) {
    if (v.modelA === v.modelB) continue;
    const a = of(v.modelA);
    const b = of(v.modelB);
    a.games++;
    b.games++;
    if (v.winner === 'bad') (a.bad++, b.bad++);
    else {
      a.votes++;
      b.votes++;
      if (v.winner === 'a') (a.wins++, b.losses++);
      else if (v.winner === 'b') (b.wins++, a.losses++);
      else (a.ties++, b.ties++);
    }
  }
  // Indices by sorted name, so the fit does not depend on which side of a vote a model sat.
  // (The default sort: UTF-16 order, locale-free, and native-fast for many invented names.)
  const models = [...counts.keys()].sort();
  const index = new Map(models.map((m, k) => [m, k]));
  const pairOf = new Map<number, number>();
  const pi: number[] = [];
  const pj: number[] = [];
  const cells: number[] = [];
  const m = models.length;
  for (const v of votes) {
    if (v.modelA === v.modelB || v.winner === 'bad') continue;
    const x = index.get(v.modelA)!;
    const y = index.get(v.modelB)!;
    const [i, j] = x < y ? [x, y] : [y, x];
    const key = i * m + j;
    let p = pairOf.get(key);
    if (p === undefined) {
      pairOf.set(key, (p = pi.length));
      pi.push(i);
      pj.push(j);
    }
    const outcome = v.winner === 'tie' ? 2 : (v.winner === 'a') === (x === i) ? 0 : 1;
    cells.push(p * 3 + outcome);
  }
  return { pairs: { models, i: Int32Array.from(pi), j: Int32Array.from(pj), cells: Int32Array.from(cells) }, counts };
}

interface Counts {
  votes: number;
  games: number;
  wins: number;
  losses: number;
  ties: number;
  bad: number;
}

/** log σ(x), without overflow either way. */
function logSigmoid(x: number): number {
  return x >= 0 ? -Math.log1p(Math.exp(-x)) : x - Math.log1p(Math.exp(x));
}

function sigmoid(x: number): number {
  return x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x));
}

/**
 * The maximum of the penalised log-likelihood, written into `theta` (its value on entry is the
 * starting point: a bootstrap round starts from the full fit and needs a step or two).
 * `wi[k]`/`wj[k]`: wins of pair k's first/second model, ties counted half to each. It yields after
 * each pass over the pairs, so the caller can give the event loop a turn when passes are long
 * (tens of thousands of invented model names).
 */
function* fitSteps(m: number, i: Int32Array, j: Int32Array, wi: Float64Array, wj: Float64Array, theta: Float64Array): Generator<void, void, void> {
  const K = i.length;
  const g = new Float64Array(m);
  const h = new Float64Array(m);
  const c = new Float64Array(K);
  const delta = new Float64Array(m);
  const r = new Float64Array(m);
  const z = new Float64Array(m);
  const d = new Float64Array(m);
  const q = new Float64Array(m);
  const next = new Float64Array(m);
  const objective = (t: Float64Array) => {
    let f = 0;
    for (let k = 0; k < K; k++) {
      const x = t[i[k]!]! - t[j[k]!]!;
      if (wi[k]) f += wi[k]! * logSigmoid(x);
      if (wj[k]) f += wj[k]! * logSigmoid(-x);
    }
    for (let s = 0; s < m; s++) f -= (PRIOR / 2) * t[s]! * t[s]!;
    return f;
  };
  let f = objective(theta);
  for (let iter = 0; iter < 100; iter++) {
    // Gradient and the (negated) Hessian's pair weights: a graph Laplacian plus the prior.
    for (let s = 0; s < m; s++) (g[s] = -PRIOR * theta[s]!), (h[s] = PRIOR);
    for (let k = 0; k < K; k++) {
      const a = i[k]!;
      const b = j[k]!;
      const n = wi[k]! + wj[k]!;
      const p = sigmoid(theta[a]! - theta[b]!);
      const e = wi[k]! - n * p;
      g[a]! += e;
      g[b]! -= e;
      c[k] = n * p * (1 - p);
      h[a]! += c[k]!;
      h[b]! += c[k]!;
    }
    yield;
    let gmax = 0;
    for (let s = 0; s < m; s++) gmax = Math.max(gmax, Math.abs(g[s]!));
    if (gmax < 1e-7) return;
    // Solve H δ = g by conjugate gradients with the diagonal as preconditioner.
    delta.fill(0);
    r.set(g);
    let rz = 0;
    for (let s = 0; s < m; s++) (z[s] = r[s]! / h[s]!), (rz += r[s]! * z[s]!);
    d.set(z);
    // An inexact Newton step is enough: the outer loop corrects what the inner one leaves.
    const stop = 1e-14 * rz;
    for (let cg = 0; cg < 100 && rz > stop; cg++) {
      for (let s = 0; s < m; s++) q[s] = PRIOR * d[s]!;
      for (let k = 0; k < K; k++) {
        const a = i[k]!;
        const b = j[k]!;
        const t = c[k]! * (d[a]! - d[b]!);
        q[a]! += t;
        q[b]! -= t;
      }
      let dq = 0;
      for (let s = 0; s < m; s++) dq += d[s]! * q[s]!;
      const alpha = rz / dq;
      let rz2 = 0;
      for (let s = 0; s < m; s++) {
        delta[s]! += alpha * d[s]!;
        r[s]! -= alpha * q[s]!;
        z[s] = r[s]! / h[s]!;
        rz2 += r[s]! * z[s]!;
      }
      const beta = rz2 / rz;
      rz = rz2;
      for (let s = 0; s < m; s++) d[s] = z[s]! + beta * d[s]!;
      yield;
    }
    // Newton's step, halved until the objective rises (far from the optimum a full step can overshoot).
    let step = 1;
    let moved = 0;
    for (; step > 1e-6; step /= 2) {
      for (let s = 0; s < m; s++) next[s] = theta[s]! + step * delta[s]!;
      const fn = objective(next);
      yield;
      if (fn >= f) {
        f = fn;
        for (let s = 0; s < m; s++) moved = Math.max(moved, Math.abs(next[s]! - theta[s]!));
        theta.set(next);
        break;
      }
    }
    if (moved < 1e-9) return;
  }
}

/**
 * One bootstrap sample: N votes drawn with replacement, tallied into the pairs' win counts. The
 * draws come from a seeded mulberry32 (inlined: this loop is most of the bootstrap's time), so the
 * same votes always give the same intervals. Returns the generator's next state.
 */
function resample(cells: Int32Array, wi: Float64Array, wj: Float64Array, state: number): number {
  const N = cells.length;
  wi.fill(0);
  wj.fill(0);
  let a = state;
  for (let n = 0; n < N; n++) {
    a = (a + 0x6d2b79f5) | 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    const cell = cells[Math.floor((((t ^ (t >>> 14)) >>> 0) / 4294967296) * N)]!;
    tallyCell(cell, wi, wj);
  }
  return a;
}

function tallyCell(cell: number, wi: Float64Array, wj: Float64Array): void {
  const p = (cell / 3) | 0;
  const o = cell - p * 3;
  if (o === 0) wi[p]! += 1;
  else if (o === 1) wj[p]! += 1;
  else (wi[p]! += 0.5), (wj[p]! += 0.5);
}

/** Linear interpolation between order statistics (numpy's default). */
function quantile(sorted: Float64Array, p: number): number {
  const x = (sorted.length - 1) * p;
  const lo = Math.floor(x);
  const hi = Math.min(lo + 1, sorted.length - 1);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (x - lo);
}

const round1 = (x: number) => Math.round(x * 10) / 10;
const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

/** Ratings from θ, anchored so the mean over the models with votes is 1000. */
function toRatings(theta: Float64Array, fitted: Uint8Array, fittedCount: number, out: Float64Array): void {
  let sum = 0;
  for (let s = 0; s < theta.length; s++) if (fitted[s]) sum += theta[s]!;
  const mean = fittedCount ? sum / fittedCount : 0;
  for (let s = 0; s < theta.length; s++) out[s] = ANCHOR + SCALE * (theta[s]! - mean);
}

/**
 * The board, best first. Async only to give the event loop a turn between bootstrap rounds: the
 * work is CPU-bound and bounded (rounds capped by the vote and model counts).
 */
export async function bradleyTerryLeaderboard(votes: readonly Vote[], options: LeaderboardOptions = {}): Promise<Leaderboard> {
  const seed = options.seed ?? SEED;
  const sliceMs = options.sliceMs ?? 8;
  const { pairs, counts } = gather(votes);
  const { models, i, j, cells } = pairs;
  const m = models.length;
  const K = i.length;
  const N = cells.length;
  const fitted = new Uint8Array(m);
  let fittedCount = 0;
  models.forEach((name, s) => {
    if (counts.get(name)!.votes > 0) (fitted[s] = 1), fittedCount++;
  });

  const wi = new Float64Array(K);
  const wj = new Float64Array(K);
  let since = performance.now();
  const tired = () => performance.now() - since > sliceMs;
  const rest = async () => {
    await turn();
    since = performance.now();
  };
  const fit = async (theta: Float64Array) => {
    for (const _ of fitSteps(m, i, j, wi, wj, theta)) if (tired()) await rest();
  };

  for (let n = 0; n < N; n++) tallyCell(cells[n]!, wi, wj);
  const theta = new Float64Array(m);
  await fit(theta);
  const point = new Float64Array(m);
  toRatings(theta, fitted, fittedCount, point);
  // The curvature of the log-posterior in each model's own score at the fit. Resampling a handful
  // of votes that all went one way gives the same votes every round, so a bootstrap interval alone
  // would be zero wide exactly where it should be widest; each interval is therefore at least
  // ±1.96/√curvature (the Laplace interval with the other scores held, which is never wider than
  // the truth's; with many votes the bootstrap is the wider one and decides).
  const curvature = new Float64Array(m).fill(PRIOR);
  for (let k = 0; k < K; k++) {
    const p = sigmoid(theta[i[k]!]! - theta[j[k]!]!);
    const c = (wi[k]! + wj[k]!) * p * (1 - p);
    curvature[i[k]!]! += c;
    curvature[j[k]!]! += c;
  }

  const wanted = Math.max(0, Math.floor(options.rounds ?? ROUNDS));
  const affordable = Math.floor(Math.min(DRAW_BUDGET / N, FIT_BUDGET / (K + m), KEEP_BUDGET / m));
  const rounds = N === 0 ? 0 : Math.min(wanted, Math.max(MIN_ROUNDS, affordable));
  const samples = new Float64Array(rounds * m);
  const start = new Float64Array(m);
  let state = seed | 0;
  for (let b = 0; b < rounds; b++) {
    state = resample(cells, wi, wj, state);
    start.set(theta);
    await fit(start);
    toRatings(start, fitted, fittedCount, samples.subarray(b * m, (b + 1) * m));
    if (tired()) await rest();
  }

  const lower = new Float64Array(m).fill(NaN);
  const upper = new Float64Array(m).fill(NaN);
  const column = new Float64Array(rounds);
  for (let s = 0; s < m; s++) {
    if (!fitted[s] || rounds === 0) continue;
    for (let b = 0; b < rounds; b++) column[b] = samples[b * m + s]!;
    column.sort();
    const floor = (1.96 * SCALE) / Math.sqrt(curvature[s]!);
    lower[s] = Math.min(quantile(column, 0.025), point[s]! - floor);
    upper[s] = Math.max(quantile(column, 0.975), point[s]! + floor);
  }
  // Overlapping intervals share a rank: count the models surely above (LMSYS's "rank (UB)").
  // Sorting the lower bounds makes that a binary search per model, not a scan of every other.
  const lows = Float64Array.from(lower.filter((x) => !Number.isNaN(x))).sort();
  const above = (u: number) => {
    let lo = 0;
    let hi = lows.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (lows[mid]! > u) hi = mid;
      else lo = mid + 1;
    }
    return lows.length - lo;
  };

  const standings: ArenaStanding[] = models.map((model, s) => {
    const k = counts.get(model)!;
    const has = fitted[s] === 1;
    const ci = has && rounds > 0;
    return {
      model,
      rating: has ? round1(point[s]!) : null,
      ciLower: ci ? round1(lower[s]!) : null,
      ciUpper: ci ? round1(upper[s]!) : null,
      rank: has ? 1 + (ci ? above(upper[s]!) : 0) : null,
      ...k,
    };
  });
  // Best first; the sort is stable and `models` is in name order, so equal scores stay by name.
  standings.sort((p, q) => {
    const a = p.rating ?? -Infinity;
    const b = q.rating ?? -Infinity;
    return a === b ? 0 : b - a;
  });
  return { standings, rounds, seed };
}
