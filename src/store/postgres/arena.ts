import type pg from 'pg';
import type { Vote, VoteStore } from '../../arena/ports.js';

/** Arena votes in PostgreSQL. */
export class PostgresVoteStore implements VoteStore {
  constructor(private readonly pool: pg.Pool) {}

  async addVote(v: Vote & { readonly keyId: string | undefined }): Promise<void> {
    await this.pool.query('INSERT INTO arena_votes (ts, model_a, model_b, winner, key_id) VALUES ($1, $2, $3, $4, $5)', [Date.now(), v.modelA, v.modelB, v.winner, v.keyId ?? null]);
  }

  async votes(): Promise<Vote[]> {
    const { rows } = await this.pool.query<{ model_a: string; model_b: string; winner: Vote['winner'] }>('SELECT model_a, model_b, winner FROM arena_votes ORDER BY id');
    return rows.map((v) => ({ modelA: v.model_a, modelB: v.model_b, winner: v.winner }));
  }
}
