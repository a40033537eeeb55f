import { bradleyTerryLeaderboard, type Leaderboard } from './bradley-terry.js';
import type { Vote } from './ports.js';

/**
 * The last board, by a fingerprint of the votes it was made from. The board is a pure function of
 * the votes (the bootstrap is seeded), so while no vote arrives every request, and every request
 * that comes while one is being made, gets the same answer for the cost of hashing the votes
 * instead of refitting them.
 */
export class LeaderboardCache {
  private last: { key: string; board: Promise<Leaderboard> } | undefined;

  board(votes: readonly Vote[]): Promise<Leaderboard> {
    const key = fingerprint(votes);
    if (this.last?.key === key) return this.last.board;
    const board = bradleyTerryLeaderboard(votes);
    this.last = { key, board };
    // A failed fit is not kept: the next request tries again.
    board.catch(() => {
      if (this.last?.board === board) this.last = undefined;
    });
    return board;
  }
}

/** Two 32-bit FNV-1a hashes (different offsets) over every vote, and the count. */
function fingerprint(votes: readonly Vote[]): string {
  let h1 = 0x811c9dc5;
  let h2 = 0x01000193 ^ 0x5bd1e995;
  const mix = (s: string) => {
    for (let k = 0; k < s.length; k++) {
      const c = s.charCodeAt(k);
      h1 = Math.imul(h1 ^ c, 0x01000193);
      h2 = Math.imul(h2 ^ c, 0x01000193) ^ (h2 >>> 13);
    }
    // A separator no model name holds, so ('ab','c') and ('a','bc') differ.
    h1 = Math.imul(h1 ^ 0xffff, 0x01000193);
    h2 = Math.imul(h2 ^ 0xffff, 0x01000193);
  };
  for (const v of votes) {
    mix(v.modelA);
    mix(v.modelB);
    mix(v.winner);
  }
  return `${votes.length}:${(h1 >>> 0).toString(16)}:${(h2 >>> 0).toString(16)}`;
}
