import pg from 'pg';
import { migrate, TYPES } from './schema.js';

/**
 * `baimo migrate` without a hub: the schema brought up to date (the same migrations, under the
 * same advisory lock, as a hub applies on start), and the versions before and after reported.
 */

/** Thrown when the server cannot be reached or refuses the connection; its message names no password. */
export class DatabaseUnreachableError extends Error {
  constructor(
    message: string,
    readonly code: string | undefined,
  ) {
    super(message);
    this.name = 'DatabaseUnreachableError';
  }
}

/** The schema version the database records (0 before the first migration). */
async function schemaVersion(pool: pg.Pool): Promise<number> {
  try {
    return (await pool.query<{ v: number | null }>('SELECT max(version) AS v FROM baimo_schema_migrations')).rows[0]?.v ?? 0;
  } catch (err) {
    if ((err as { code?: string }).code === '42P01') return 0; // undefined_table: a database no hub has used
    throw err;
  }
}

/**
 * Applies the migrations this Baimo has and the database lacks; returns the versions before and
 * after and how many were applied. A schema newer than this Baimo's is refused with a
 * DatabaseSchemaError, nothing changed; a server that cannot be reached is a
 * DatabaseUnreachableError carrying the driver's message (callers mask the URL's password in it).
 */
export async function upgradeSchema(url: string): Promise<{ before: number; after: number; applied: number }> {
  // A server that never answers must not hang the command.
  const pool = new pg.Pool({ connectionString: url, max: 1, types: TYPES, application_name: 'baimo migrate', connectionTimeoutMillis: 10_000 });
  pool.on('error', () => undefined); // an idle connection dropped: the next query reports it
  try {
    let before: number;
    try {
      before = await schemaVersion(pool);
    } catch (err) {
      const e = err as { message?: string; code?: string };
      throw new DatabaseUnreachableError(e.message || e.code || String(err), e.code);
    }
    const applied = await migrate(pool, url);
    return { before, after: await schemaVersion(pool), applied };
  } finally {
    await pool.end();
  }
}
