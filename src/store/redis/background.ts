/**
 * Writes the request path never waits for (a token correction, a settled reservation). Each one
 * that fails is counted, and the first failure warns once, so a lost write is visible without
 * flooding the log while Redis is down; `failures` is what a metric or a health check reads.
 */
export class BackgroundWrites {
  private failed = 0;
  private warned = false;

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
    p.catch((err: unknown) => {
      this.failed++;
      if (this.warned) return;
      this.warned = true;
      this.warn(`${this.what} could not be written to Redis (${(err as Error).message}); further failures are counted, not logged`);
    });
  }
}
