import type { Worker } from 'node:worker_threads';
import { startThread } from '../../core/thread.js';
import type { UsageSink } from '../../usage/record.js';

/**
 * Writes usage batches on a thread of their own, so that inserting records and keeping the hourly
 * totals never takes time from requests. Reads stay on the main connection (SQLite's WAL lets
 * one writer and many readers work at once).
 */
export class UsageWriter implements UsageSink {
  private readonly worker: Worker;
  private next = 0;
  private readonly pending = new Map<number, { resolve: () => void; reject: (e: Error) => void }>();

  constructor(dbPath: string) {
    const workerData = { path: dbPath };
    // The thread parses one batch (≤ 500 records) at a time and keeps nothing between batches:
    // V8's default young generation for a thread (up to 3 × 16 MB) would only hold garbage.
    const resourceLimits = { maxYoungGenerationSizeMb: 6 };
    this.worker = startThread(import.meta.url, 'usage-writer-thread', { workerData, resourceLimits });
    this.worker.on('message', (m: { id: number; error?: string }) => {
      const p = this.pending.get(m.id);
      this.pending.delete(m.id);
      // Keep the process alive only while a batch is on its way to disk.
      if (this.pending.size === 0) this.worker.unref();
      if (m.error === undefined) p?.resolve();
      else p?.reject(new Error(m.error));
    });
    this.worker.on('error', (err) => this.failAll(err));
    this.worker.on('exit', (code) => this.failAll(new Error(`usage writer stopped (exit ${code})`)));
    this.worker.unref();
  }

  private failAll(err: Error): void {
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
  }

  writeUsageLines(jsonl: string): Promise<void> {
    const id = ++this.next;
    return new Promise((resolve, reject) => {
      if (this.pending.size === 0) this.worker.ref();
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ id, jsonl });
    });
  }

  async close(): Promise<void> {
    await this.worker.terminate();
  }
}
