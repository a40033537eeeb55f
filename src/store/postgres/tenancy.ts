import type pg from 'pg';
import type { TenancyStore } from '../../tenancy/ports.js';
import type { Limits, Team, VirtualKey } from '../../tenancy/types.js';
import { spendSince } from './usage.js';

interface TeamRow {
  id: string;
  name: string;
  limits: string;
  metadata: string;
  created_at: number;
}

interface KeyRow {
  id: string;
  hash: string;
  prefix: string;
  name: string;
  team_id: string | null;
  limits: string;
  expires_at: number | null;
  metadata: string;
  created_at: number;
  revoked_at: number | null;
}

// The same row shapes as the embedded store's (store/sqlite/tenancy.ts), so `baimo migrate
// --from sqlite` can copy rows as they are.
function teamFrom(r: TeamRow): Team {
  return { id: r.id, name: r.name, ...(JSON.parse(r.limits) as Limits), metadata: JSON.parse(r.metadata) as Record<string, unknown>, createdAt: r.created_at };
}

function keyFrom(r: KeyRow): VirtualKey {
  return {
    id: r.id,
    hash: r.hash,
    prefix: r.prefix,
    name: r.name,
    teamId: r.team_id ?? undefined,
    ...(JSON.parse(r.limits) as Limits),
    ...(r.expires_at !== null && { expiresAt: r.expires_at }),
    metadata: JSON.parse(r.metadata) as Record<string, unknown>,
    createdAt: r.created_at,
    ...(r.revoked_at !== null && { revokedAt: r.revoked_at }),
  };
}

function limitsOf(x: Limits): string {
  const { allowedModels, rpm, tpm, budgetUsd, budgetPeriod } = x;
  return JSON.stringify({ allowedModels, rpm, tpm, budgetUsd, budgetPeriod });
}

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

  async teams(): Promise<Team[]> {
    return (await this.pool.query<TeamRow>('SELECT * FROM teams ORDER BY created_at, id')).rows.map(teamFrom);
  }

  async keys(): Promise<VirtualKey[]> {
    return (await this.pool.query<KeyRow>('SELECT * FROM keys ORDER BY created_at, id')).rows.map(keyFrom);
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
