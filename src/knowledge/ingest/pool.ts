import type { Worker } from 'node:worker_threads';
import { startThread } from '../../core/thread.js';
import type { ChunkOptions } from './chunk.js';
import { ExtractError } from './doc.js';
import type { PreparedFile } from './prepare.js';

export interface IngestPoolOptions {
  /**
   * A file that takes longer is failed and its thread replaced (a hostile file must not hold the
   * pool). Default 10 minutes: the largest file extraction accepts (50 million characters) takes
   * about five at the rate measured here (~11 MB of Chinese text a minute, one thread).
   */
  readonly timeoutMs?: number;
  /** The thread's V8 heap limit; a file that needs more fails, and the thread is replaced. Default 2 GB. */
  readonly maxHeapMb?: number;
}

const DEFAULT_TIMEOUT_MS = 10 * 60_000;
const DEFAULT_MAX_HEAP_MB = 2048;

interface Job {
  readonly bytes: Uint8Array;
  readonly filename: string;
  readonly opts: ChunkOptions;
  readonly resolve: (r: PreparedFile) => void;
  readonly reject: (e: Error) => void;
}

type Reply = { ok: true; result: PreparedFile } | { ok: false; code?: ExtractError['code']; message: string };

/**
 * Runs prepareFile (extraction, chunking, segmentation: all CPU-bound) on one worker thread,
 * so the hub's event loop stays free while files are ingested. The thread starts with the first
 * file, prepares one file at a time in arrival order, and does not keep the process alive while
 * idle. A thread that dies or overruns the timeout fails its file with a clear reason and is
 * replaced for the files after it.
 */
export class IngestPool {
  private worker: Worker | undefined;
  private readonly queue: Job[] = [];
  private running: { job: Job; timer: NodeJS.Timeout; timedOut: boolean; error?: Error } | undefined;
  private closed = false;

  private readonly timeoutMs: number;
  private readonly maxHeapMb: number;

  constructor(options: IngestPoolOptions = {}) {
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.maxHeapMb = options.maxHeapMb ?? DEFAULT_MAX_HEAP_MB;
  }

  prepare(bytes: Uint8Array, filename: string, opts: ChunkOptions): Promise<PreparedFile> {
    if (this.closed) return Promise.reject(new Error('the ingest pool is closed'));
    return new Promise((resolve, reject) => {
      this.queue.push({ bytes, filename, opts, resolve, reject });
      this.next();
    });
  }

  /** Fails the files not yet done and stops the thread. */
  async close(): Promise<void> {
    this.closed = true;
    for (const job of this.queue.splice(0)) job.reject(new Error('the ingest pool is closed'));
    await this.worker?.terminate();
  }

  private next(): void {
    if (this.running || this.closed) return;
    const job = this.queue.shift();
    if (!job) {
      this.worker?.unref();
      return;
    }
    const worker = (this.worker ??= this.start());
    worker.ref();
    const timer = setTimeout(() => {
      if (this.running?.job !== job) return;
      this.running.timedOut = true;
      void worker.terminate();
    }, this.timeoutMs);
    timer.unref();
    this.running = { job, timer, timedOut: false };
    worker.postMessage({ bytes: job.bytes, filename: job.filename, opts: job.opts });
  }

  private start(): Worker {
    const worker = startThread(import.meta.url, 'pool-thread', { resourceLimits: { maxOldGenerationSizeMb: this.maxHeapMb } });
    worker.on('message', (m: Reply) => {
      const run = this.running;
      if (!run) return;
      this.finish();
      if (m.ok) run.job.resolve(m.result);
      else run.job.reject(m.code ? new ExtractError(m.code, m.message) : new Error(m.message));
      this.next();
    });
    worker.on('error', (err) => {
      if (this.running) this.running.error = err;
    });
    worker.on('exit', (code) => {
      if (this.worker === worker) this.worker = undefined;
      const run = this.running;
      if (!run) return;
      this.finish();
      const name = run.job.filename;
      if (this.closed) run.job.reject(new Error('the ingest pool is closed'));
      else if (run.timedOut)
        run.job.reject(new ExtractError('invalid_file', `reading "${name}" took longer than ${seconds(this.timeoutMs)}`));
      else {
        const why = (run.error as { code?: string } | undefined)?.code === 'ERR_WORKER_OUT_OF_MEMORY' ? 'it ran out of memory' : `exit ${code}${run.error ? `: ${run.error.message}` : ''}`;
        run.job.reject(new ExtractError('invalid_file', `the thread reading "${name}" stopped (${why})`));
      }
      this.next();
    });
    return worker;
  }

  private finish(): void {
    if (this.running) clearTimeout(this.running.timer);
    this.running = undefined;
  }
}

function seconds(ms: number): string {
  return ms < 1000 ? `${ms} ms` : `${Math.round(ms / 1000)} s`;
}
