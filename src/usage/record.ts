import type { ErrorKind } from '../core/errors.js';
import type { Usage } from '../core/types.js';
import { UsageJournal } from './journal.js';
import type { SealedSegment } from './journal.js';

/** One request as the accounting sees it. Written whatever happened to the request. */
export interface UsageRecord {
  readonly requestId: string;
  /** Unix epoch milliseconds when the request arrived. */
  readonly ts: number;
  readonly endpoint: 'chat' | 'embeddings' | 'rerank' | 'count_tokens';
  /** The model name the client asked for. */
  readonly model: string;
  readonly provider: string | undefined;
  readonly upstreamModel: string | undefined;
  readonly deployment: string | undefined;
  /** 1-based attempt number; 0 when the request never reached an upstream. */
  readonly attempt: number;
  /** True for the request's own record; false for an earlier attempt that failed. */
  readonly final: boolean;
  /** The model name whose fallback chain led here, if any. */
  readonly fallbackFrom: string | undefined;
  /** The virtual key and team that made the request, if any. */
  readonly keyId?: string | undefined;
  readonly teamId?: string | undefined;
  /** What the attempt cost, in USD, from the catalog price; undefined when the price is unknown. */
  readonly costUsd?: number | undefined;
  /** True when the hub counted the tokens itself because the upstream reported no usage. */
  readonly usageCounted?: boolean;
  /** A virtual model's sub-calls, for the request log. */
  readonly trace?: { readonly steps: readonly unknown[]; readonly summary?: unknown };
  /** Captured, redacted bodies, when body capture is on. */
  readonly bodies?: { readonly request: string; readonly response: string };
  readonly stream: boolean;
  /** HTTP status the client received (200 for a stream that failed after it started). */
  readonly status: number;
  readonly errorKind: ErrorKind | undefined;
  readonly usage: Usage | undefined;
  readonly latencyMs: number;
  /** Time to the first token on streams. */
  readonly ttftMs: number | undefined;
}

export interface UsageSink {
  /**
   * Persists a batch atomically: records as JSON lines, the very text the journal holds, so the
   * request path serializes each record once and keeps no record object alive after its
   * request. May complete later (the writer runs on its own thread).
   */
  writeUsageLines(jsonl: string): void | Promise<void>;
}

/** A batch on its way to the store. */
interface Batch {
  /** Its JSON lines; undefined once let go from memory, to be read back from its segment. */
  lines: string[] | undefined;
  readonly count: number;
  /** The journal segment holding the same lines, deleted once the store has them. */
  readonly segment: SealedSegment | undefined;
}

export interface RecorderLimits {
  /**
   * Lines of batches waiting for the store (while it fails or falls behind) kept in memory;
   * past it, a batch is left to its journal segment alone and read back when it is its turn, so
   * a long database outage costs disk, not memory. Default 10,000.
   */
  readonly memoryLines?: number;
  /** Batches written at once (default 4): a store that hangs holds at most this many in memory. */
  readonly writes?: number;
}

/**
 * Buffers records and writes them in batches off the request path. `close()` drains the buffer,
 * so a clean shutdown loses nothing.
 *
 * A batch whose write fails waits in a backlog, oldest first; while the store keeps failing,
 * one batch at a time is tried again, with backoff. Every batch is also a sealed journal
 * segment, so the backlog keeps only the first `memoryLines` lines in memory and reads the rest
 * back from disk when the store answers again. Writes are idempotent per (request, attempt,
 * final), so a batch written twice (a write that failed late, a segment replayed) counts once.
 */
export class UsageRecorder {
  /** JSON lines recorded since the last batch was sealed. */
  private queue: string[] = [];
  /** Sealed batches waiting for the store, oldest first. */
  private backlog: Batch[] = [];
  /** Lines of the backlog held in memory. */
  private held = 0;
  /** Batches being written, and the lines of those held in memory. */
  private writingLines = 0;
  /** Records not yet stored. */
  private unstored = 0;
  private flushTimer: NodeJS.Timeout | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  /** Failed writes since the last one that succeeded: while not 0, the store is taken to be down. */
  private failures = 0;
  private readonly memoryLines: number;
  private readonly maxWrites: number;

  /**
   * Called for every record, e.g. to update metrics: at once, or right after `then` when there
   * is one, so that metrics and the log line are not on the path of the response's last byte.
   */
  private readonly listeners: ((r: UsageRecord) => void)[] = [];

  constructor(
    private readonly sink: UsageSink,
    /** When given, every record is journaled the moment it is made (see journal.ts). */
    private readonly journal?: UsageJournal,
    private readonly flushEveryMs = 200,
    private readonly maxBatch = 500,
    limits: RecorderLimits = {},
  ) {
    this.memoryLines = limits.memoryLines ?? 10_000;
    this.maxWrites = limits.writes ?? 4;
  }

  onRecord(listener: (r: UsageRecord) => void): void {
    this.listeners.push(listener);
  }

  /**
   * Records `r`. With `then`, `then` runs once the record is journaled (at most one event-loop
   * turn later): a response's last byte waits for it, so a kill can never lose a record whose
   * request the client saw complete.
   */
  record(r: UsageRecord, then?: () => void): void {
    const line = JSON.stringify(r);
    if (this.journal && then) {
      this.journal.appendThen(line, () => {
        then();
        this.notify(r);
      });
    } else {
      this.journal?.append(line);
      then?.();
      this.notify(r);
    }
    this.queue.push(line);
    this.unstored++;
    if (this.queue.length >= this.maxBatch) setImmediate(() => this.flush());
    // While the store is down, batches are sealed by size only: a timer would leave a segment
    // file of a few records every 200 ms of the outage.
    else if (!this.flushTimer && this.failures === 0) this.scheduleFlush();
  }

  private scheduleFlush(): void {
    this.flushTimer = setTimeout(() => this.flush(), this.flushEveryMs);
    this.flushTimer.unref();
  }

  private notify(r: UsageRecord): void {
    for (const l of this.listeners) l(r);
  }

  private inFlight = new Set<Promise<void>>();

  /** Seals what was recorded into a batch and hands the store what it can take now. */
  flush(): void {
    this.seal();
    this.pump();
  }

  /** Seals the queue into a batch (and its journal segment) at the back of the backlog. */
  private seal(): void {
    if (this.flushTimer) clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    if (this.queue.length === 0) return;
    const lines = this.queue;
    this.queue = [];
    this.park({ lines, count: lines.length, segment: this.journal?.seal() }, 'back');
  }

  /**
   * Puts a batch in the backlog: in memory while the backlog holds fewer than `memoryLines`,
   * otherwise only in its journal segment. Without a journal the lines have nowhere else to be.
   */
  private park(b: Batch, end: 'front' | 'back'): void {
    if (b.lines && b.segment && this.held + b.count > this.memoryLines) b.lines = undefined;
    if (b.lines) this.held += b.count;
    if (end === 'front') this.backlog.unshift(b);
    else this.backlog.push(b);
  }

  /**
   * Starts writes from the backlog: up to `writes` at once while the store is well; while it is
   * failing, a single probe when the retry timer says so.
   */
  private pump(probe = false): void {
    while (this.backlog.length > 0 && this.inFlight.size < this.maxWrites && (this.failures === 0 || (probe && this.inFlight.size === 0))) {
      const b = this.backlog.shift()!;
      if (b.lines) this.held -= b.count;
      this.write(b);
    }
    // While the store is failing, something must come back to the backlog: a write under way, or the timer.
    if (this.failures > 0 && this.backlog.length > 0 && this.inFlight.size === 0) this.scheduleRetry();
  }

  private scheduleRetry(): void {
    if (this.closed || this.retryTimer) return;
    this.retryTimer = setTimeout(() => this.retry(), Math.min(5000, this.flushEveryMs * 2 ** Math.min(this.failures, 16)));
    this.retryTimer.unref();
  }

  /** Writes one batch; its segment is dropped once the store has it, and it is parked again if not. */
  private write(b: Batch): void {
    let inMemory = b.lines ? b.count : 0;
    this.writingLines += inMemory;
    const done = (async () => {
      let lines = b.lines;
      if (!lines) {
        // Let go from memory: read back now, asynchronously, while requests go on.
        lines = b.segment ? await UsageJournal.readSegment(b.segment.path) : [];
        inMemory = lines.length;
        this.writingLines += inMemory;
      }
      if (lines.length > 0) await this.sink.writeUsageLines(lines.join('\n'));
    })()
      .then(
        () => {
          this.unstored -= b.count;
          try {
            b.segment?.drop();
          } catch {
            // A segment that cannot be deleted is replayed by the next start, where repeats are ignored.
          }
          if (this.failures > 0) {
            // The store is back: drain the backlog, and seal by time again.
            this.failures = 0;
            if (this.retryTimer) clearTimeout(this.retryTimer);
            this.retryTimer = undefined;
            if (this.queue.length > 0 && !this.flushTimer && !this.closed) this.scheduleFlush();
          }
        },
        (err: unknown) => {
          // The segment stays on disk: a later retry, or failing that the next start, writes it.
          this.park(b, 'front');
          this.failures++;
          if (this.failures === 1 || this.failures % 100 === 0) {
            process.emitWarning(`usage records could not be written (${(err as Error).message}); will retry`);
          }
          this.scheduleRetry();
        },
      )
      .finally(() => {
        this.writingLines -= inMemory;
        this.inFlight.delete(done);
        this.pump();
      });
    this.inFlight.add(done);
  }

  /** The retry timer: one batch, the oldest, is offered to the store again. */
  private retry(): void {
    this.retryTimer = undefined;
    // A probe needs a batch: with none waiting, what was recorded since becomes one.
    if (this.backlog.length === 0) this.seal();
    this.pump(true);
  }

  private closed = false;

  /** Records not yet in the store (recorded, waiting, or being written). */
  get pending(): number {
    return this.unstored;
  }

  /** Of those, how many this process holds in memory (the others are only in journal segments). */
  get inMemory(): number {
    return this.queue.length + this.held + this.writingLines;
  }

  private closing: Promise<void> | undefined;

  /**
   * Flushes everything and waits until the store has it. Asked again (two owners shutting down, a
   * test checking what was stored), it drains what was recorded since, after the first drain;
   * the journal is closed once.
   */
  close(): Promise<void> {
    this.closing = this.closing ? this.closing.then(() => this.drain()) : this.drain();
    return this.closing;
  }

  private async drain(): Promise<void> {
    this.closed = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    this.seal();
    // One last try for every batch, whatever failed before; what the store still refuses stays in
    // its journal segment, for the next start to replay.
    this.failures = 0;
    this.pump();
    while (this.inFlight.size > 0) await Promise.all([...this.inFlight]);
    if (this.flushTimer) clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    if (!this.journalClosed) this.journal?.close();
    this.journalClosed = true;
  }

  private journalClosed = false;
}
