import type Database from 'better-sqlite3';
import type { Vote, VoteStore } from '../../arena/ports.js';
import { statementCache } from './schema.js';

/** An arena vote's row (export reads). */
export interface ExportedVote {
  id: number;
  ts: number;
  model_a: string;
  model_b: string;
  winner: Vote['winner'];
  key_id: string | null;
}

/** Arena votes in the embedded store. */
export class SQLiteVoteStore implements VoteStore {
  private readonly statement: (sql: string) => Database.Statement;

  constructor(db: Database.Database) {
    this.statement = statementCache(db);
  }

  async addVote(v: Vote & { readonly keyId: string | undefined }): Promise<void> {
    this.statement('INSERT INTO arena_votes (ts, model_a, model_b, winner, key_id) VALUES (?, ?, ?, ?, ?)').run(Date.now(), v.modelA, v.modelB, v.winner, v.keyId ?? null);
  }

  async votes(): Promise<Vote[]> {
    const rows = this.statement('SELECT model_a, model_b, winner FROM arena_votes ORDER BY id').all() as { model_a: string; model_b: string; winner: Vote['winner'] }[];
    return rows.map((v) => ({ modelA: v.model_a, modelB: v.model_b, winner: v.winner }));
  }

  /** Export read, for `baimo migrate --from sqlite`: every vote as stored, in the order cast. */
  exportVotes(): ExportedVote[] {
    return this.statement('SELECT id, ts, model_a, model_b, winner, key_id FROM arena_votes ORDER BY id').all() as ExportedVote[];
  }
}
