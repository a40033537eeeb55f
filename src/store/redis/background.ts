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
