import type { Redis } from 'ioredis';

/** Deletes every key under `prefix` (a test's own namespace on the shared Redis). */
export async function deleteKeys(r: Redis, prefix: string): Promise<void> {
  const keys: string[] = [];
  let cursor = '0';
  do {
    const [next, batch] = await r.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
    cursor = next;
    keys.push(...batch);
  } while (cursor !== '0');
  if (keys.length) await r.del(...keys);
}
