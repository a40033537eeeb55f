import type { TenancyChange } from '../tenancy/ports.js';
import type { Limits, Team, VirtualKey } from '../tenancy/types.js';
import type { StoredFile } from '../knowledge/ports.js';

/**
 * Rows of the teams and keys tables, the same in both backends (store/sqlite/schema.ts,
 * store/postgres/schema.ts), so `baimo migrate --from sqlite` copies rows as they are; limits
 * and metadata are JSON text. PostgreSQL's BIGINT columns read as numbers (its pool's TYPES).
 */
export interface TeamRow {
  id: string;
  name: string;
  limits: string;
  metadata: string;
  created_at: number;
}

export interface KeyRow {
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

export function teamFrom(r: TeamRow): Team {
  return { id: r.id, name: r.name, ...(JSON.parse(r.limits) as Limits), metadata: JSON.parse(r.metadata) as Record<string, unknown>, createdAt: r.created_at };
}

export function keyFrom(r: KeyRow): VirtualKey {
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

/** The limits column: only the Limits fields, whatever else the object carries. */
export function limitsOf(x: Limits): string {
  const { allowedModels, rpm, tpm, budgetUsd, budgetPeriod } = x;
  return JSON.stringify({ allowedModels, rpm, tpm, budgetUsd, budgetPeriod });
}

/**
 * A change notice as it travels between hubs (store/postgres/feed.ts, store/redis/feed.ts):
 * JSON of a TenancyChange naming a key or team. Anything else on the channel is ignored.
 */
export function changeFrom(payload: string): TenancyChange | undefined {
  try {
    const c = JSON.parse(payload) as { kind?: unknown; id?: unknown; origin?: unknown };
    if ((c.kind === 'key' || c.kind === 'team') && typeof c.id === 'string' && typeof c.origin === 'string') return { kind: c.kind, id: c.id, origin: c.origin };
  } catch {
    // not ours
  }
  return undefined;
}

/** A row of the files table, the same in both backends (the bytes are read apart, only when asked for). */
export interface FileRow {
  id: string;
  key_id: string | null;
  filename: string;
  purpose: string;
  bytes: number;
  created_at: number;
  expires_at: number | null;
}

/** The files table's columns but the bytes, in FileRow's order. */
export const FILE_COLUMNS = 'id, key_id, filename, purpose, bytes, created_at, expires_at';

export function fileFrom(r: FileRow): StoredFile {
  return { id: r.id, keyId: r.key_id, filename: r.filename, purpose: r.purpose, bytes: r.bytes, createdAt: r.created_at, expiresAt: r.expires_at };
}
