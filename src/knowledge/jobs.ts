/**
 * The ingestion runner: turns vector-store files `in_progress` into indexed chunks. The queue is
 * the vector_store_files table itself (VectorStoreStore.claim), so a job survives a restart and
 * replicas sharing a store never run one twice at once: a claim takes a lease, renewed while the
 * job runs; a replica that dies leaves its jobs to whichever claims them once the lease runs out.
 *
 * One job: the file's bytes → prepare (extract + chunk, on ingest's worker pool) → embeddings in
 * batches, as the key that added the file, when the store has an embedding model → the index's
 * replaceFile → `completed`, or `failed` with the reason. A file removed or a store deleted
 * meanwhile aborts the job; whatever it had put in the index is taken out again.
 */
import { usableVectors } from './search.js';
import type { ChunkIndex, ChunkInput, FileError, FileStore, JobOutcome, KnowledgeModels, PrepareFile, VectorStoreFileRow, VectorStoreStore } from './ports.js';

export interface RunnerDeps {
  readonly store: VectorStoreStore;
  readonly files: FileStore;
  readonly index: ChunkIndex;
  readonly prepare: PrepareFile;
  /** The models caller charged to a key (null: the admin or an open hub); undefined when the hub has none. */
  readonly models?: ((keyId: string | null) => KnowledgeModels) | undefined;
  /** Where a job's unexpected failure is told (the log). */
  readonly warn?: (message: string, err: unknown) => void;
}

export interface RunnerOptions {
  /** Jobs at once in this process (default 2: extraction is CPU work on a small pool). */
  readonly concurrency?: number;
  /** How long a claim holds a job without renewal (default 60 s). */
  readonly leaseMs?: number;
  /** How often to look for jobs others left or added (default 2 s). */
  readonly pollMs?: number;
  /** Texts per embedding call (default 64). */
  readonly embedBatch?: number;
}

const jobKey = (vectorStoreId: string, fileId: string) => `${vectorStoreId}\u0000${fileId}`;

/** A failure with a code the API reports (`unsupported_file`, `invalid_file`); anything else is the hub's. */
function fileError(err: unknown): FileError {
  const code = (err as { code?: unknown })?.code;
  const message = ((err as Error)?.message || String(err)).slice(0, 1000);
  if (code === 'unsupported_file' || code === 'invalid_file') return { code, message };
  return { code: 'server_error', message };
}

export class IngestionRunner {
  private readonly running = new Map<string, { readonly abort: AbortController; readonly done: Promise<void> }>();
  private readonly concurrency: number;
  private readonly leaseMs: number;
  private readonly embedBatch: number;
  private readonly timer: NodeJS.Timeout;
  private pumping: Promise<void> | undefined;
  private again = false;
  private closed = false;

  constructor(
    private readonly deps: RunnerDeps,
    o: RunnerOptions = {},
  ) {
    this.concurrency = o.concurrency ?? 2;
    this.leaseMs = o.leaseMs ?? 60_000;
    this.embedBatch = o.embedBatch ?? 64;
    this.timer = setInterval(() => this.poke(), o.pollMs ?? 2000).unref();
    // Jobs left `in_progress` by the last run (or another replica's) are picked up now.
    this.poke();
  }

  /** Looks for jobs now (a file was just added). */
  poke(): void {
    if (this.closed) return;
    if (this.pumping) {
      this.again = true;
      return;
    }
    this.pumping = this.pump()
      .catch((err: unknown) => this.deps.warn?.('claiming ingestion jobs failed', err))
      .finally(() => {
        this.pumping = undefined;
        if (this.again) {
          this.again = false;
          this.poke();
        }
      });
  }

  /** Stops the jobs of a store (every file) or of one file: they were removed or cancelled. */
  cancel(vectorStoreId: string, fileId?: string): void {
    for (const [k, job] of this.running) {
      if (fileId === undefined ? k.startsWith(`${vectorStoreId}\u0000`) : k === jobKey(vectorStoreId, fileId)) job.abort.abort();
    }
  }

  /** Stops claiming, aborts the jobs under way and hands their leases back, so the next start takes them up at once. */
  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.timer);
    await this.pumping;
    for (const job of this.running.values()) job.abort.abort();
    await Promise.all([...this.running.values()].map((j) => j.done));
  }

  private async pump(): Promise<void> {
    while (!this.closed && this.running.size < this.concurrency) {
      const now = Date.now();
      const jobs = await this.deps.store.claim(now, now + this.leaseMs, this.concurrency - this.running.size);
      if (!jobs.length) return;
      for (const job of jobs) this.start(job);
    }
  }

  private start(job: VectorStoreFileRow): void {
    const k = jobKey(job.vectorStoreId, job.fileId);
    const abort = new AbortController();
    const renew = setInterval(() => {
      this.deps.store.renew(job.vectorStoreId, job.fileId, Date.now() + this.leaseMs).then(
        (held) => held || abort.abort(),
        () => undefined,
      );
    }, Math.max(1000, Math.floor(this.leaseMs / 3))).unref();
    const done = this.run(job, abort.signal).finally(() => {
      clearInterval(renew);
      this.running.delete(k);
      this.poke();
    });
    this.running.set(k, { abort, done });
  }

  private async run(job: VectorStoreFileRow, signal: AbortSignal): Promise<void> {
    const { store, index } = this.deps;
    let outcome: JobOutcome | undefined;
    try {
      outcome = await this.ingest(job, signal);
    } catch (err) {
      // A job cut short by a shutdown (its pool closed under it) is not the file's fault.
      if (!signal.aborted && !this.closed) outcome = { status: 'failed', error: fileError(err) };
    }
    try {
      if (signal.aborted || outcome === undefined) {
        // Removed, cancelled or shutting down: nothing of it stays in the index, and a job that is
        // still `in_progress` (a shutdown) is handed back for the next start.
        await index.removeFile(job.vectorStoreId, job.fileId);
        if (this.closed) await store.renew(job.vectorStoreId, job.fileId, 0);
        return;
      }
      const finished = await store.finish(job.vectorStoreId, job.fileId, outcome);
      if (!finished && outcome.status === 'completed') await index.removeFile(job.vectorStoreId, job.fileId);
    } catch (err) {
      this.deps.warn?.(`ending the ingestion of ${job.fileId} failed`, err);
    }
  }

  /** One file, start to index; undefined when it no longer has anywhere to go (its store is gone). */
  private async ingest(job: VectorStoreFileRow, signal: AbortSignal): Promise<JobOutcome | undefined> {
    const { store, files, index, prepare } = this.deps;
    const vs = await store.get(job.vectorStoreId, undefined);
    if (!vs) return undefined;
    const bytes = await files.content(job.fileId, undefined);
    if (!bytes) return { status: 'failed', error: { code: 'invalid_file', message: 'The file was deleted (or expired) before it could be processed.' } };
    let prepared: Awaited<ReturnType<PrepareFile>>;
    try {
      prepared = await prepare(bytes, job.filename, { ...job.chunking, contextualHeaders: vs.contextualHeaders });
    } catch (err) {
      if (signal.aborted || this.closed) throw err;
      return { status: 'failed', error: fileError(err) };
    }
    signal.throwIfAborted();
    let vectors: (Float32Array | undefined)[] = [];
    if (vs.embeddingModel !== null && prepared.chunks.length) {
      if (!this.deps.models) return { status: 'failed', error: { code: 'server_error', message: `The vector store's embedding model ${vs.embeddingModel} cannot be called: this hub has no models caller for knowledge.` } };
      const models = this.deps.models(job.keyId);
      const texts = prepared.chunks.map((c) => (vs.contextualHeaders && c.header ? `${c.header}\n${c.text}` : c.text));
      for (let i = 0; i < texts.length; i += this.embedBatch) {
        const batch = texts.slice(i, i + this.embedBatch);
        const r = await models.embed(vs.embeddingModel, batch, signal);
        if (r.vectors.length !== batch.length) throw new Error(`The embedding model returned ${r.vectors.length} vectors for ${batch.length} inputs.`);
        vectors = vectors.concat(r.vectors);
      }
      // Checked over the whole file: each batch must agree with the others too.
      usableVectors(vs.embeddingModel, vectors as Float32Array[]);
    }
    const chunks: ChunkInput[] = prepared.chunks.map((c, i) => ({ seq: c.seq, text: c.text, terms: c.terms, tokens: c.tokens, ...(vectors[i] && { vector: vectors[i] }) }));
    signal.throwIfAborted();
    await index.replaceFile(job.vectorStoreId, job.fileId, chunks);
    return { status: 'completed', usageBytes: chunks.reduce((n, c) => n + Buffer.byteLength(c.text), 0) };
  }
}
