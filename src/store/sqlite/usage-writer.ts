import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { UsageSink } from '../../usage/record.js';

/**
 * The URL of tsx's ESM API (`tsImport`), found the way Node finds the package from this file —
 * wherever node_modules is — through the package's own exports map (its CommonJS build cannot
 * load the ESM hooks from a worker).
 */
function tsxImportApi(): string {
  const manifest = createRequire(import.meta.url).resolve('tsx/package.json');
  const pkg = JSON.parse(readFileSync(manifest, 'utf8')) as { exports: Record<string, { import: { default: string } }> };
  return pathToFileURL(join(dirname(manifest), pkg.exports['./esm/api']!.import.default)).href;
}

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
    // From compiled output the thread is plain JavaScript; from source (tests, `npm run dev`)
    // it is TypeScript, loaded through tsx's API.
    const fromSource = import.meta.url.endsWith('.ts');
    const workerData = { path: dbPath };
    // The thread parses one batch (≤ 500 records) at a time and keeps nothing between batches:
    // V8's default young generation for a thread (up to 3 × 16 MB) would only hold garbage.
    const resourceLimits = { maxYoungGenerationSizeMb: 6 };
    if (fromSource) {
      const entry = new URL('./usage-writer-thread.ts', import.meta.url).href;
      const api = tsxImportApi();
      const boot = `import(${JSON.stringify(api)}).then(({ tsImport }) => tsImport(${JSON.stringify(entry)}, ${JSON.stringify(import.meta.url)}))`;
      this.worker = new Worker(boot, { eval: true, workerData, resourceLimits });
    } else {
      this.worker = new Worker(new URL('./usage-writer-thread.js', import.meta.url), { workerData, resourceLimits });
    }
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
