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

  /** Writes that failed since start: each is a correction the shared state does not have. */
  get failures(): number {
    return this.failed;
  }

  run(write: () => Promise<unknown>): void {
    let p: Promise<unknown>;
    try {
      p = write();
    } catch (err) {
      p = Promise.reject(err);
    }
    const done = p.then(
      () => undefined,
      (err: unknown) => {
        this.failed++;
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

  constructor(what: string, warn?: (message: string) => void) {
    this.background = new BackgroundWrites(what, warn);
  }

  /** Writes that could not be made: each leaves the shared state off by what it carried. */
  get failures(): number {
    return this.background.failures;
  }

  /** Waits for the writes not yet made (shutdown, tests). */
  flush(): Promise<void> {
    return this.background.flush();
  }
}
