import { describe, expect, it } from 'vitest';
import { bradleyTerryLeaderboard, type ArenaStanding } from '../src/arena/bradley-terry.js';
import type { Vote } from '../src/arena/ports.js';

/** A small seeded generator for the synthetic tournaments (not the one under test). */
function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 4294967296;
  };
}

/** Votes drawn from the Bradley–Terry model itself: P(a beats b) = 1 / (1 + 10^((Rb − Ra)/400)). */
function tournament(truth: Record<string, number>, n: number, seed: number, tieRate = 0): Vote[] {
  const names = Object.keys(truth);
  const r = rng(seed);
  const votes: Vote[] = [];
  for (let k = 0; k < n; k++) {
    const x = Math.floor(r() * names.length);
    let y = Math.floor(r() * (names.length - 1));
    if (y >= x) y++;
    const a = names[x]!;
    const b = names[y]!;
    const pa = 1 / (1 + 10 ** ((truth[b]! - truth[a]!) / 400));
    votes.push({ modelA: a, modelB: b, winner: r() < tieRate ? 'tie' : r() < pa ? 'a' : 'b' });
  }
  return votes;
}

/** Every number on the board is finite or null: no NaN, no Infinity. */
function finiteOrNull(board: ArenaStanding[]): boolean {
  return board.every((s) => Object.values(s).every((v) => typeof v === 'string' || v === null || Number.isFinite(v)));
}

// Mean 1000, as the board is anchored, so the truth and the estimates are on the same scale.
const TRUTH: Record<string, number> = { 'm/a': 1210, 'm/b': 1120, 'm/c': 1040, 'm/d': 990, 'm/e': 940, 'm/f': 860, 'm/g': 840 };
const mean = Object.values(TRUTH).reduce((x, y) => x + y, 0) / 7;
for (const k of Object.keys(TRUTH)) TRUTH[k] = TRUTH[k]! - mean + 1000;

describe('Bradley–Terry leaderboard', () => {
  it('recovers the order of known strengths, and the 95% intervals hold the truth in most tournaments', async () => {
    let inside = 0;
    let total = 0;
    for (let seed = 1; seed <= 8; seed++) {
      const { standings, rounds } = await bradleyTerryLeaderboard(tournament(TRUTH, 6000, seed));
      expect(rounds).toBe(200);
      // 6000 votes, about 1700 per model: strengths 80+ points apart come out in order.
      const byRating = standings.map((s) => s.model);
      expect(byRating.slice(0, 5)).toEqual(['m/a', 'm/b', 'm/c', 'm/d', 'm/e']);
      expect(byRating.slice(5).sort()).toEqual(['m/f', 'm/g']);
      const mean = standings.reduce((x, s) => x + s.rating!, 0) / standings.length;
      expect(mean).toBeCloseTo(1000, 0);
      for (const s of standings) {
        expect(s.ciLower!).toBeLessThanOrEqual(s.rating!);
        expect(s.ciUpper!).toBeGreaterThanOrEqual(s.rating!);
        // About ±20 points at this many votes: an interval that always holds the truth by being huge fails here.
        expect(s.ciUpper! - s.ciLower!).toBeLessThan(80);
        total++;
        if (s.ciLower! <= TRUTH[s.model]! && TRUTH[s.model]! <= s.ciUpper!) inside++;
      }
    }
    // 95% intervals: expect about 53 of 56; 44 (79%) leaves room for chance, not for a broken bootstrap.
    expect(inside).toBeGreaterThanOrEqual(44);
    expect(total).toBe(56);
  });

  it('is the same board when a and b of every vote are swapped', async () => {
    const votes = tournament(TRUTH, 2000, 42, 0.15);
    const swapped = votes.map((v): Vote => ({ modelA: v.modelB, modelB: v.modelA, winner: v.winner === 'a' ? 'b' : v.winner === 'b' ? 'a' : v.winner }));
    expect(await bradleyTerryLeaderboard(swapped)).toEqual(await bradleyTerryLeaderboard(votes));
  });

  it('is reproducible (seeded), and another seed moves only the intervals', async () => {
    const votes = tournament(TRUTH, 1500, 7);
    const one = await bradleyTerryLeaderboard(votes);
    expect(await bradleyTerryLeaderboard(votes)).toEqual(one);
    const other = await bradleyTerryLeaderboard(votes, { seed: 99 });
    expect(other.standings.map((s) => s.rating)).toEqual(one.standings.map((s) => s.rating));
    expect(other.standings.map((s) => s.ciLower)).not.toEqual(one.standings.map((s) => s.ciLower));
  });

  it('counts a tie as half a win each, and leaves bad votes out of the scores', async () => {
    const split = await bradleyTerryLeaderboard([
      { modelA: 'x', modelB: 'y', winner: 'a' },
      { modelA: 'x', modelB: 'y', winner: 'b' },
      { modelA: 'x', modelB: 'z', winner: 'a' },
    ]);
    const tied = await bradleyTerryLeaderboard([
      { modelA: 'x', modelB: 'y', winner: 'tie' },
      { modelA: 'y', modelB: 'x', winner: 'tie' },
      { modelA: 'x', modelB: 'z', winner: 'a' },
    ]);
    expect(tied.standings.map((s) => [s.model, s.rating])).toEqual(split.standings.map((s) => [s.model, s.rating]));

    const votes = tournament(TRUTH, 1000, 3, 0.1);
    const withBad = [...votes, ...votes.slice(0, 300).map((v): Vote => ({ ...v, winner: 'bad' }))];
    const clean = await bradleyTerryLeaderboard(votes);
    const dirty = await bradleyTerryLeaderboard(withBad);
    const scores = (b: typeof clean) => b.standings.map((s) => [s.model, s.rating, s.ciLower, s.ciUpper, s.rank, s.votes]);
    expect(scores(dirty)).toEqual(scores(clean));
    expect(dirty.standings.reduce((n, s) => n + s.bad, 0)).toBe(600);
    expect(dirty.standings.reduce((n, s) => n + s.games - s.votes, 0)).toBe(600);
  });

  it('handles a model with no decisive vote, an undefeated one and an empty arena', async () => {
    const { standings } = await bradleyTerryLeaderboard([
      { modelA: 'top', modelB: 'mid', winner: 'a' },
      { modelA: 'top', modelB: 'mid', winner: 'a' },
      { modelA: 'mid', modelB: 'low', winner: 'a' },
      { modelA: 'low', modelB: 'draw', winner: 'tie' },
      { modelA: 'ghost', modelB: 'low', winner: 'bad' },
      { modelA: 'same', modelB: 'same', winner: 'a' },
    ]);
    expect(finiteOrNull(standings)).toBe(true);
    expect(standings.map((s) => s.model)).toEqual(['top', 'mid', 'draw', 'low', 'ghost']);
    const top = standings[0]!;
    // Never beaten, yet finite: the prior keeps two wins from meaning infinitely better.
    expect(top.rating!).toBeGreaterThan(1000);
    expect(top.rating!).toBeLessThan(1600);
    expect(standings.find((s) => s.model === 'draw')).toMatchObject({ votes: 1, ties: 1, wins: 0, losses: 0 });
    expect(standings.find((s) => s.model === 'ghost')).toEqual({ model: 'ghost', rating: null, ciLower: null, ciUpper: null, rank: null, votes: 0, games: 1, wins: 0, losses: 0, ties: 0, bad: 1 });
    // A handful of votes cannot tell these apart: the intervals overlap, and so the ranks are shared.
    expect(standings.filter((s) => s.rank !== null).every((s) => s.rank === 1)).toBe(true);

    expect(await bradleyTerryLeaderboard([])).toEqual({ standings: [], rounds: 0, seed: 20 });
    expect((await bradleyTerryLeaderboard([{ modelA: 'a', modelB: 'b', winner: 'bad' }])).standings.every((s) => s.rating === null)).toBe(true);
  });

  it('gives one vote a wide interval and a shared rank, not a zero-width certainty', async () => {
    // Every bootstrap round resamples the same single vote; the interval must still say "unknown".
    const { standings } = await bradleyTerryLeaderboard([{ modelA: 'x', modelB: 'y', winner: 'a' }]);
    const [x, y] = standings;
    expect(x!.model).toBe('x');
    expect(x!.rating!).toBeGreaterThan(y!.rating!);
    for (const s of standings) expect(s.ciUpper! - s.ciLower!).toBeGreaterThan(400);
    expect([x!.rank, y!.rank]).toEqual([1, 1]);
    // Five straight wins are still not much: overlapping, one rank.
    const five = await bradleyTerryLeaderboard(Array.from({ length: 5 }, (): Vote => ({ modelA: 'x', modelB: 'y', winner: 'a' })));
    expect(five.standings.map((s) => s.rank)).toEqual([1, 1]);
  });

  it('ranks clearly separated models apart and overlapping ones together', async () => {
    const { standings } = await bradleyTerryLeaderboard(tournament({ top: 1400, twinA: 1000, twinB: 1000, low: 600 }, 4000, 5));
    const rank = Object.fromEntries(standings.map((s) => [s.model, s.rank]));
    expect(rank).toEqual({ top: 1, twinA: 2, twinB: 2, low: 4 });
  });

  it('answers 100k votes with the event loop still turning, and bounds the rounds for invented names', async () => {
    const strengths: Record<string, number> = {};
    for (let k = 0; k < 20; k++) strengths[`model-${k}`] = 800 + k * 20;
    const votes = tournament(strengths, 100_000, 11, 0.1);
    for (let k = 0; k < 2000; k++) votes.push({ modelA: `junk-${k}`, modelB: `model-${k % 20}`, winner: k % 2 ? 'bad' : 'b' });
    let ticks = 0;
    const timer = setInterval(() => ticks++, 1);
    const board = await bradleyTerryLeaderboard(votes);
    clearInterval(timer);
    expect(board.standings).toHaveLength(2020);
    expect(finiteOrNull(board.standings)).toBe(true);
    expect(JSON.stringify(board)).not.toMatch(/NaN|Infinity/);
    // The fit is split into slices: timers ran while it worked.
    expect(ticks).toBeGreaterThan(2);
    expect(board.standings[0]!.model).toBe('model-19');

    // 20k votes on 25k invented names: the rounds are capped so the board still comes back.
    const invented: Vote[] = [];
    for (let k = 0; k < 20_000; k++) invented.push({ modelA: `x${k}`, modelB: `y${k % 5000}`, winner: k % 3 ? 'a' : 'b' });
    const wide = await bradleyTerryLeaderboard(invented);
    expect(wide.standings).toHaveLength(25_000);
    expect(wide.rounds).toBeLessThan(200);
    expect(wide.rounds).toBeGreaterThanOrEqual(10);
    expect(finiteOrNull(wide.standings)).toBe(true);
  }, 120_000);
});
