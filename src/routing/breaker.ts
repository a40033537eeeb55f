/**
 * A circuit breaker per deployment. Closed: traffic flows. Open: no traffic until a cooldown has
 * passed. Half-open: one probe at a time; its success closes the circuit, its failure reopens it.
 * It opens after `consecutiveFailures` failures in a row, or when the error rate over the last
 * `window` outcomes reaches `errorRate` (with at least `minRequests` outcomes seen).
 */
export type CircuitState = 'closed' | 'open' | 'half_open';

export interface BreakerOptions {
  readonly consecutiveFailures: number;
  readonly errorRate: number;
  readonly minRequests: number;
  readonly window: number;
  readonly cooldownMs: number;
}

export const DEFAULT_BREAKER: BreakerOptions = {
  consecutiveFailures: 5,
  errorRate: 0.5,
  minRequests: 20,
  window: 50,
  cooldownMs: 15_000,
};

export class CircuitBreaker {
  private state_: CircuitState = 'closed';
  private consecutive = 0;
  private openedAt = 0;
  private probing = false;
  /** Ring of recent outcomes: true = failure. */
  private readonly outcomes: boolean[] = [];
  private cursor = 0;
  private failures = 0;
  /** How many times the circuit has opened, for health reports. */
  opens = 0;

  constructor(
    private readonly o: BreakerOptions = DEFAULT_BREAKER,
    private readonly now: () => number = Date.now,
  ) {}

  get state(): CircuitState {
    if (this.state_ === 'open' && this.now() - this.openedAt >= this.o.cooldownMs) return 'half_open';
    return this.state_;
  }

  /** Whether a request may go to this deployment now. Claims the probe slot when half-open. */
  tryAcquire(): boolean {
    const s = this.state;
    if (s === 'closed') return true;
    if (s === 'open' || this.probing) return false;
    this.state_ = 'half_open';
    this.probing = true;
    return true;
  }

  /** Whether tryAcquire would succeed, without claiming anything. */
  available(): boolean {
    const s = this.state;
    return s === 'closed' || (s === 'half_open' && !this.probing);
  }

  onSuccess(): void {
    this.record(false);
    this.consecutive = 0;
    if (this.state_ !== 'closed') this.reset();
  }

  onFailure(): void {
    this.record(true);
    this.consecutive++;
    if (this.state_ === 'half_open') return this.trip();
    if (this.state_ === 'closed') {
      const seen = this.outcomes.length;
      if (this.consecutive >= this.o.consecutiveFailures || (seen >= this.o.minRequests && this.failures / seen >= this.o.errorRate)) {
        this.trip();
      }
    }
  }

  /**
   * The upstream answered, with an error that is not its own failure (a 4xx, a 429): it does
   * not count as a failure, but it shows the deployment is reachable and answering, so an open
   * or half-open circuit closes. A closed circuit's count is left as it was.
   */
  onAnswered(): void {
    if (this.state_ !== 'closed') this.reset();
    else this.probing = false;
  }

  /** An attempt that ended without a verdict on the deployment (e.g. the client left). */
  release(): void {
    this.probing = false;
  }

  private record(failed: boolean): void {
    if (this.outcomes.length < this.o.window) this.outcomes.push(failed);
    else {
      if (this.outcomes[this.cursor]) this.failures--;
      this.outcomes[this.cursor] = failed;
      this.cursor = (this.cursor + 1) % this.o.window;
    }
    if (failed) this.failures++;
  }

  private trip(): void {
    this.state_ = 'open';
    this.openedAt = this.now();
    this.probing = false;
    this.opens++;
  }

  private reset(): void {
    this.state_ = 'closed';
    this.probing = false;
    this.consecutive = 0;
    this.outcomes.length = 0;
    this.cursor = 0;
    this.failures = 0;
  }

  /** Error rate over the recent window, for health reports. */
  get errorRate(): number {
    return this.outcomes.length ? this.failures / this.outcomes.length : 0;
  }
}
