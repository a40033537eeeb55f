import type { Worker } from 'node:worker_threads';
import { startThread } from '../../core/thread.js';
import type { UsageSink } from '../../usage/record.js';

/** How long close() lets the thread finish its writes and end its pool before stopping it (beyond one connect timeout). */
const CLOSE_GRACE_MS = 15_000;

/**
 * Writes usage batches to PostgreSQL on a thread of its own (usage-writer-thread.ts), so that
 * parsing the journal lines and encoding each batch's column arrays never take time from requests.
 * Reads stay on the main pool. The thread starts with the first batch, and again after one that
 * died (out of memory, say): a lost thread fails the batches it held, which the recorder retries,
 * and never stops accounting for good.
 */
export class PostgresUsageWriter implements UsageSink {
  private worker: Worker | undefined;
  private next = 0;
  private readonly pending = new Map<number, { resolve: () => void; reject: (e: Error) => void }>();
  private closing: Promise<void> | undefined;

  /** `url` reaches the thread as its workerData only: no message that leaves it quotes the URL. */
  constructor(private readonly url: string) {}

  private thread(): Worker {
    if (this.worker) return this.worker;
    // A batch is parsed and encoded whole (up to 2,000 records with their bodies), then dropped:
    // a small young generation keeps the garbage short-lived; the old generation keeps V8's default,
    // so a large batch does not exhaust the thread.
    const worker = startThread(import.meta.url, 'usage-writer-thread', {
      workerData: { url: this.url },
      resourceLimits: { maxYoungGenerationSizeMb: 16 },
    });
    worker.on('message', (m: { id: number; error?: string }) => {
      const p = this.pending.get(m.id);
      this.pending.delete(m.id);
      // Keep the process alive only while a batch is on its way to the database.
      if (this.pending.size === 0 && !this.closing) worker.unref();
      if (m.error === undefined) p?.resolve();
      else p?.reject(new Error(m.error));
    });
    worker.on('error', (err) => this.failAll(err));
    worker.on('exit', (code) => {
      if (this.worker === worker) this.worker = undefined;
      this.failAll(new Error(`usage writer stopped (exit ${code})`));
    });
    worker.unref();
    this.worker = worker;
    return worker;
  }

  private failAll(err: Error): void {
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
  }

  writeUsageLines(jsonl: string): Promise<void> {
    if (this.closing) return Promise.reject(new Error('usage writer closed'));
    const worker = this.thread();
    const id = ++this.next;
    return new Promise((resolve, reject) => {
      if (this.pending.size === 0) worker.ref();
      this.pending.set(id, { resolve, reject });
      worker.postMessage({ id, jsonl });
    });
  }

  /** Lets the thread finish the batches it holds and end its pool, then waits for it to end. */
  close(): Promise<void> {
    return (this.closing ??= this.stop());
  }

  private async stop(): Promise<void> {
    const worker = this.worker;
    if (!worker) return;
    worker.ref();
    const ended = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
    worker.postMessage({ close: true });
    const timer = setTimeout(() => void worker.terminate(), CLOSE_GRACE_MS);
    await ended;
    clearTimeout(timer);
  }
}
