/** The usage writer's thread: one SQLite connection that does nothing but commit batches. */
import { parentPort, workerData } from 'node:worker_threads';
import type { UsageRecord } from '../../usage/record.js';
import { openDatabase } from './schema.js';
import { usageBatchWriter } from './usage.js';

const write = usageBatchWriter(openDatabase((workerData as { path: string }).path));
parentPort!.on('message', (m: { id: number; jsonl: string }) => {
  try {
    write(m.jsonl.split('\n').map((line) => JSON.parse(line) as UsageRecord));
    parentPort!.postMessage({ id: m.id });
  } catch (err) {
    parentPort!.postMessage({ id: m.id, error: (err as Error).message });
  }
});
