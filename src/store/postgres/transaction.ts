import type pg from 'pg';

/** Runs `f` in one transaction on one connection; a failure rolls it back, and a connection that could not roll back is closed, not reused. */
export async function transaction<T>(pool: pg.Pool, f: (c: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  let healthy = true;
  try {
    await client.query('BEGIN');
    const out = await f(client);
    await client.query('COMMIT');
    return out;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => (healthy = false));
    throw err;
  } finally {
    client.release(!healthy);
  }
}
