import type { ErrorKind } from '../core/errors.js';
import type { Usage } from '../core/types.js';
import type { UsageJournal } from './journal.js';

/** One request as the accounting sees it. Written whatever happened to the request. */
export interface UsageRecord {
  readonly requestId: string;
  /** Unix epoch milliseconds when the request arrived. */
  readonly ts: number;
  readonly endpoint: 'chat' | 'embeddings' | 'count_tokens';
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

/**
 * Buffers records and writes them in batches off the request path. `close()` drains the buffer,
 * so a clean shutdown loses nothing.
 */
export class UsageRecorder {
  /** JSON lines not yet handed to the sink. */
  private queue: string[] = [];
  private timer: NodeJS.Timeout | undefined;
  private failures = 0;

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
  ) {}

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
    if (this.queue.length >= this.maxBatch) setImmediate(() => this.flush());
    else if (!this.timer) {
      this.timer = setTimeout(() => this.flush(), this.flushEveryMs);
      this.timer.unref();
    }
  }

  private notify(r: UsageRecord): void {
    for (const l of this.listeners) l(r);
  }

  private inFlight = new Set<Promise<void>>();

  /**
   * Hands what is buffered to the store. The journal segment holding the batch is dropped once
   * the store has committed it; on a write failure the batch is queued again.
   */
  flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.queue.length === 0) return;
    const batch = this.queue;
    this.queue = [];
    const drop = this.journal?.seal();
    const done = Promise.resolve()
      .then(() => this.sink.writeUsageLines(batch.join('\n')))
      .then(
        () => {
          this.failures = 0;
          drop?.();
        },
        (err: unknown) => {
          // The sealed segment stays on disk until a later start replays it; retry from memory too.
          this.queue = batch.concat(this.queue);
          this.failures++;
          if (this.failures === 1 || this.failures % 100 === 0) {
            process.emitWarning(`usage records could not be written (${(err as Error).message}); will retry`);
          }
          if (!this.closed) {
            this.timer = setTimeout(() => this.flush(), Math.min(5000, this.flushEveryMs * 2 ** this.failures));
            this.timer.unref();
          }
        },
      )
      .finally(() => this.inFlight.delete(done));
    this.inFlight.add(done);
  }

  private closed = false;

  get pending(): number {
    return this.queue.length;
  }

  /** Flushes everything and waits until the store has it; may be called again after more records. */
  async close(): Promise<void> {
    this.flush();
    while (this.inFlight.size > 0) await Promise.all([...this.inFlight]);
    this.closed = true;
    if (this.queue.length > 0) this.flush(); // a failed batch came back: one last try
    while (this.inFlight.size > 0) await Promise.all([...this.inFlight]);
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    // The journal's file is closed once, whoever closes the recorder first (the hub, then its host).
    if (!this.journalClosed) this.journal?.close();
    this.journalClosed = true;
  }

  private journalClosed = false;
}
