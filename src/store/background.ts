/**
 * Writes to the shared store (Redis, or PostgreSQL alone) the request path never waits for (a token correction, a settled reservation). Each one
 * that fails is counted, and the first failure warns once, so a lost write is visible without
 * flooding the log while Redis is down; `failures` is what a metric or a health check reads.
 */
export class BackgroundWrites {
  private failed = 0;
  private warned = false;
  private readonly pending = new Set<Promise<unknown>>();

  constructor(
    private readonly what: string,
    private readonly warn: (message: string) => void = (m) => process.emitWarning(m),
  ) {}

  /** Writes (items of a batch each) that failed since start: each is a correction the shared state does not have. */
  get failures(): number {
    return this.failed;
  }

  /** Starts `write`; if it fails, the `items` it carried are counted as failures. */
  run(write: () => Promise<unknown>, items = 1): void {
    let p: Promise<unknown>;
    try {
      p = write();
    } catch (err) {
      p = Promise.reject(err);
    }
    const done = p.then(
      () => undefined,
      (err: unknown) => {
        this.failed += items;
        if (this.warned) return;
        this.warned = true;
        this.warn(`${this.what} could not be written (${(err as Error).message}); further failures are counted, not logged`);
      },
    );
    this.pending.add(done);
    void done.then(() => this.pending.delete(done));
  }

  /** Resolves once every write started so far has landed or failed: before closing the connection at shutdown. */
  async flush(): Promise<void> {
    while (this.pending.size) await Promise.all(this.pending);
  }
}

/**
 * A shared-state implementation whose writes the request path never waits for (settles, token
 * corrections): what failed to be written, and a way to wait for what is in flight at shutdown.
 */
export abstract class WritesBehind {
  protected readonly background: BackgroundWrites;
  private readonly batches: { send(): void }[] = [];

  constructor(what: string, warn?: (message: string) => void) {
    this.background = new BackgroundWrites(what, warn);
  }

  /**
   * Writes gathered over one event-loop turn and made as one (`write` gets them all): under
   * load, the settles of every request that ended in a turn cost one round trip, not one each.
   */
  protected batch<T>(write: (items: T[]) => Promise<unknown>, max = 200): Batch<T> {
    const b = new Batch<T>(this.background, write, max);
    this.batches.push(b);
    return b;
  }

  /** Writes that could not be made: each leaves the shared state off by what it carried. */
  get failures(): number {
    return this.background.failures;
  }

  /** Waits for the writes not yet made (shutdown, tests). */
  flush(): Promise<void> {
    for (const b of this.batches) b.send();
    return this.background.flush();
  }
}

/** Items queued for one write at the end of the current event-loop turn (at most `max` a write). */
export class Batch<T> {
  private items: T[] = [];
  private scheduled = false;

  constructor(
    private readonly background: BackgroundWrites,
    private readonly write: (items: T[]) => Promise<unknown>,
    private readonly max: number,
  ) {}

  add(item: T): void {
    this.items.push(item);
    if (this.items.length >= this.max) this.send();
    else if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.send());
    }
  }

  /** Starts the write of what is queued now. */
  send(): void {
    this.scheduled = false;
    if (this.items.length === 0) return;
    const items = this.items;
    this.items = [];
    this.background.run(() => this.write(items), items.length);
  }
}
