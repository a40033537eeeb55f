import type pg from 'pg';
import type { TenancyStore } from '../../tenancy/ports.js';
import type { Team, VirtualKey } from '../../tenancy/types.js';
import { keyFrom, limitsOf, teamFrom } from '../rows.js';
import type { KeyRow, TeamRow } from '../rows.js';
import { spendSince } from './usage.js';

/**
 * Teams, keys and settings in PostgreSQL, and spend per key or team. Admin operations and
 * start-up only: never on the request path.
 */
export class PostgresTenancyStore implements TenancyStore {
  constructor(private readonly pool: pg.Pool) {}

  async getSetting(key: string): Promise<string | undefined> {
    return (await this.pool.query<{ value: string }>('SELECT value FROM settings WHERE key = $1', [key])).rows[0]?.value;
  }

  async setSetting(key: string, value: string): Promise<void> {
    await this.pool.query('INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value', [key, value]);
  }

  async claimSetting(key: string, value: string): Promise<string> {
    // Several replicas may claim at once: the first insert wins and everyone reads it back.
    await this.pool.query('INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING', [key, value]);
    return (await this.getSetting(key))!;
  }

  async teams(): Promise<Team[]> {
    return (await this.pool.query<TeamRow>('SELECT * FROM teams ORDER BY created_at, id')).rows.map(teamFrom);
  }

  async keys(): Promise<VirtualKey[]> {
    return (await this.pool.query<KeyRow>('SELECT * FROM keys ORDER BY created_at, id')).rows.map(keyFrom);
  }

  async team(id: string): Promise<Team | undefined> {
    const r = (await this.pool.query<TeamRow>('SELECT * FROM teams WHERE id = $1', [id])).rows[0];
    return r && teamFrom(r);
  }

  async key(id: string): Promise<VirtualKey | undefined> {
    const r = (await this.pool.query<KeyRow>('SELECT * FROM keys WHERE id = $1', [id])).rows[0];
    return r && keyFrom(r);
  }

  async keyByHash(hash: string): Promise<VirtualKey | undefined> {
    const r = (await this.pool.query<KeyRow>('SELECT * FROM keys WHERE hash = $1', [hash])).rows[0];
    return r && keyFrom(r);
  }

  async saveTeam(t: Team): Promise<void> {
    await this.pool.query(
      `INSERT INTO teams (id, name, limits, metadata, created_at) VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT (id) DO UPDATE SET name = excluded.name, limits = excluded.limits, metadata = excluded.metadata`,
      [t.id, t.name, limitsOf(t), JSON.stringify(t.metadata), t.createdAt],
    );
  }

  async deleteTeam(id: string): Promise<void> {
    await this.pool.query('DELETE FROM teams WHERE id = $1', [id]);
  }

  async saveKey(k: VirtualKey): Promise<void> {
    await this.pool.query(
      `INSERT INTO keys (id, hash, prefix, name, team_id, limits, expires_at, metadata, created_at, revoked_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
       ON CONFLICT (id) DO UPDATE SET name = excluded.name, team_id = excluded.team_id, limits = excluded.limits,
         expires_at = excluded.expires_at, metadata = excluded.metadata, revoked_at = excluded.revoked_at`,
      [k.id, k.hash, k.prefix, k.name, k.teamId ?? null, limitsOf(k), k.expiresAt ?? null, JSON.stringify(k.metadata), k.createdAt, k.revokedAt ?? null],
    );
  }

  /**
   * USD a key or team has spent since `since` (unix ms). Asynchronous, unlike the embedded
   * store's synchronous SpendReader: a ledger over this store loads it before the account's
   * requests need it, so the request path never waits on the database.
   */
  spend(account: 'key' | 'team', id: string, since: number): Promise<number> {
    return spendSince(this.pool, account, id, since);
  }
}
