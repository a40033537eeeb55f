/** One blind comparison: which of two answers the user preferred. */
export interface Vote {
  readonly modelA: string;
  readonly modelB: string;
  /** `bad` (both answers bad) counts as a tie, as in Chatbot Arena. */
  readonly winner: 'a' | 'b' | 'tie' | 'bad';
}

export interface Standing {
  readonly model: string;
  readonly rating: number;
  readonly games: number;
  readonly wins: number;
  readonly losses: number;
  readonly ties: number;
}

const K = 32;
const START = 1000;

/** Elo ratings from the votes in the order they were cast, best first. */
export function leaderboard(votes: Iterable<Vote>): Standing[] {
  const s = new Map<string, { rating: number; games: number; wins: number; losses: number; ties: number }>();
  const of = (m: string) => {
    let x = s.get(m);
    if (!x) s.set(m, (x = { rating: START, games: 0, wins: 0, losses: 0, ties: 0 }));
    return x;
  };
  for (const v of votes) {
    if (v.modelA === v.modelB) continue;
    const a = of(v.modelA);
    const b = of(v.modelB);
    const expectedA = 1 / (1 + 10 ** ((b.rating - a.rating) / 400));
    const scoreA = v.winner === 'a' ? 1 : v.winner === 'b' ? 0 : 0.5;
    a.rating += K * (scoreA - expectedA);
    b.rating += K * (1 - scoreA - (1 - expectedA));
    a.games++;
    b.games++;
    if (scoreA === 1) (a.wins++, b.losses++);
    else if (scoreA === 0) (b.wins++, a.losses++);
    else (a.ties++, b.ties++);
  }
  return [...s.entries()]
    .map(([model, x]) => ({ model, ...x, rating: Math.round(x.rating * 10) / 10 }))
    .sort((p, q) => q.rating - p.rating || p.model.localeCompare(q.model));
}
