/**
 * The PostgreSQL usage writer's thread: a small pool of its own that does nothing but run the
 * usage store's batch statement, so parsing the journal lines and encoding the column arrays
 * never take time from requests.
 */
import { parentPort, workerData } from 'node:worker_threads';
import pg from 'pg';
import { CONNECT_TIMEOUT_MS, maskPassword, TYPES } from './schema.js';
import { PostgresUsageStore } from './usage.js';

const { url } = workerData as { url: string };
// Two connections: the recorder keeps a few batches in flight, and one slow statement should not hold the next.
const pool = new pg.Pool({ connectionString: url, max: 2, types: TYPES, application_name: 'baimo-usage-writer', connectionTimeoutMillis: CONNECT_TIMEOUT_MS });
// An idle connection the server dropped must not end the thread: the next batch opens another.
pool.on('error', (err) => process.emitWarning(`usage writer: PostgreSQL connection lost (${err.message}); reconnecting when next needed`));
const store = new PostgresUsageStore(pool);
const writing = new Set<Promise<void>>();

/** What the main thread is told: a driver message (an AggregateError's may be empty), the password masked should one ever be quoted. */
function reason(err: unknown): string {
  const e = err as Partial<Error & { code: string }>;
  return maskPassword(e.message || e.code || String(err), url);
}

/** Lets the writes under way finish, then ends the pool; with no port left open the thread ends. */
async function close(): Promise<void> {
  await Promise.allSettled(writing);
  await pool.end().catch(() => undefined);
  parentPort!.close();
}

parentPort!.on('message', (m: { id: number; jsonl: string } | { close: true }) => {
  if ('close' in m) {
    void close();
    return;
  }
  const done = store.writeUsageLines(m.jsonl).then(
    () => parentPort!.postMessage({ id: m.id }),
    (err: unknown) => parentPort!.postMessage({ id: m.id, error: reason(err) }),
  );
  writing.add(done);
  void done.finally(() => writing.delete(done));
});
