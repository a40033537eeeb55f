import type Database from 'better-sqlite3';
import type { SpendReader, TenancyStore } from '../../tenancy/ports.js';
import type { Team, VirtualKey } from '../../tenancy/types.js';
import { keyFrom, limitsOf, teamFrom } from '../rows.js';
import type { KeyRow, TeamRow } from '../rows.js';

/**
 * Teams, keys and settings in the embedded store, and spend per key or team from its usage
 * records. Admin operations and start-up only: never on the request path.
 */
export class SQLiteTenancyStore implements TenancyStore, SpendReader {
  constructor(private readonly db: Database.Database) {}

  async getSetting(key: string): Promise<string | undefined> {
    return (this.db.prepare('SELECT value FROM settings WHERE key = ?').get(key) as { value: string } | undefined)?.value;
  }

  async setSetting(key: string, value: string): Promise<void> {
    this.db.prepare('INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value').run(key, value);
  }

  async claimSetting(key: string, value: string): Promise<string> {
    this.db.prepare('INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING').run(key, value);
    return (await this.getSetting(key))!;
  }

  async teams(): Promise<Team[]> {
    return (this.db.prepare('SELECT * FROM teams ORDER BY created_at').all() as TeamRow[]).map(teamFrom);
  }

  async keys(): Promise<VirtualKey[]> {
    return (this.db.prepare('SELECT * FROM keys ORDER BY created_at').all() as KeyRow[]).map(keyFrom);
  }

  async team(id: string): Promise<Team | undefined> {
    const r = this.db.prepare('SELECT * FROM teams WHERE id = ?').get(id) as TeamRow | undefined;
    return r && teamFrom(r);
  }

  async key(id: string): Promise<VirtualKey | undefined> {
    const r = this.db.prepare('SELECT * FROM keys WHERE id = ?').get(id) as KeyRow | undefined;
    return r && keyFrom(r);
  }

  async keyByHash(hash: string): Promise<VirtualKey | undefined> {
    const r = this.db.prepare('SELECT * FROM keys WHERE hash = ?').get(hash) as KeyRow | undefined;
    return r && keyFrom(r);
  }

  async saveTeam(t: Team): Promise<void> {
    this.db
      .prepare(
        `INSERT INTO teams (id, name, limits, metadata, created_at) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (id) DO UPDATE SET name = excluded.name, limits = excluded.limits, metadata = excluded.metadata`,
      )
      .run(t.id, t.name, limitsOf(t), JSON.stringify(t.metadata), t.createdAt);
  }

  async deleteTeam(id: string): Promise<void> {
    this.db.prepare('DELETE FROM teams WHERE id = ?').run(id);
  }

  async saveKey(k: VirtualKey): Promise<void> {
    this.db
      .prepare(
        `INSERT INTO keys (id, hash, prefix, name, team_id, limits, expires_at, metadata, created_at, revoked_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (id) DO UPDATE SET name = excluded.name, team_id = excluded.team_id, limits = excluded.limits,
           expires_at = excluded.expires_at, metadata = excluded.metadata, revoked_at = excluded.revoked_at`,
      )
      .run(k.id, k.hash, k.prefix, k.name, k.teamId ?? null, limitsOf(k), k.expiresAt ?? null, JSON.stringify(k.metadata), k.createdAt, k.revokedAt ?? null);
  }

  spendOf(account: 'key' | 'team', id: string, since: number): number {
    const by = account === 'key' ? 'key_id' : 'team_id';
    const row = this.db.prepare(`SELECT SUM(cost_usd) AS usd FROM usage WHERE ${by} = ? AND ts >= ?`).get(id, since) as { usd: number | null };
    return row.usd ?? 0;
  }
}
