/** The usage writer's thread: one SQLite connection that does nothing but commit batches. */
import { parentPort, workerData } from 'node:worker_threads';
import { SQLiteStore } from './sqlite.js';

const store = new SQLiteStore((workerData as { path: string }).path);
parentPort!.on('message', (m: { id: number; jsonl: string }) => {
  try {
    store.writeUsageLines(m.jsonl);
    parentPort!.postMessage({ id: m.id });
  } catch (err) {
    parentPort!.postMessage({ id: m.id, error: (err as Error).message });
  }
});
