import type { Model } from '../core/model.js';
import { CircuitBreaker, DEFAULT_BREAKER } from './breaker.js';
import type { BreakerOptions } from './breaker.js';
import { MinuteWindow } from './window.js';

export interface DeploymentOptions {
  readonly id: string;
  readonly model: Model;
  /** The same upstream model behind the provider's Anthropic-compatible endpoint, if it has one. */
  readonly anthropic?: Model | undefined;
  /** The upstream's own name for the model. */
  readonly upstreamModel: string;
  readonly weight?: number;
  /** Lower is tried first by the priority strategy. */
  readonly priority?: number;
  /** Requests per minute this deployment may take; at the cap it is skipped. */
  readonly rpm?: number;
  /** Tokens per minute (prompt estimate + completion) this deployment may take. */
  readonly tpm?: number;
  /** USD per million tokens (input + output averaged), for the least-cost strategy. */
  readonly costPerMTokens?: number;
  readonly breaker?: BreakerOptions;
  readonly now?: () => number;
}

/** Cool-down after a 429 that named no Retry-After, in seconds. */
export const DEFAULT_COOLDOWN_S = 5;
/** The longest cool-down a 429's Retry-After can impose (a daily quota's "retry in 3 hours" included). */
export const MAX_COOLDOWN_S = 60;

/** One provider + upstream model behind a public model name, with the live state routing needs. */
export class Deployment {
  readonly id: string;
  readonly model: Model;
  /** Serves Anthropic-format clients natively when set. */
  readonly anthropic: Model | undefined;
  readonly upstreamModel: string;
  readonly weight: number;
  readonly priority: number;
  readonly rpm: number | undefined;
  readonly tpm: number | undefined;
  readonly costPerMTokens: number | undefined;
  readonly breaker: CircuitBreaker;
  readonly requests: MinuteWindow;
  readonly tokens: MinuteWindow;
  inFlight = 0;
  /** Moving average of time to first token, ms. */
  ttftMs: number | undefined;
  successes = 0;
  failures = 0;
  /** Until when (epoch ms) the deployment cools down after a 429; 0 when it is not. */
  private coolingUntil = 0;
  private readonly now: () => number;

  constructor(o: DeploymentOptions) {
    this.id = o.id;
    this.model = o.model;
    this.anthropic = o.anthropic;
    this.upstreamModel = o.upstreamModel;
    this.weight = o.weight ?? 1;
    this.priority = o.priority ?? 0;
    this.rpm = o.rpm;
    this.tpm = o.tpm;
    this.costPerMTokens = o.costPerMTokens;
    this.breaker = new CircuitBreaker(o.breaker ?? DEFAULT_BREAKER, o.now);
    this.requests = new MinuteWindow(o.now);
    this.tokens = new MinuteWindow(o.now);
    this.now = o.now ?? Date.now;
  }

  /**
   * The upstream said 429: steer traffic elsewhere for its Retry-After (bounded; a few seconds
   * when it named none). Returns the cool-down in seconds. A 429 is not a failure of the
   * deployment and never opens its circuit.
   */
  coolDown(retryAfterS: number | undefined): number {
    const s = Math.min(MAX_COOLDOWN_S, Math.max(0, retryAfterS ?? DEFAULT_COOLDOWN_S));
    this.coolingUntil = Math.max(this.coolingUntil, this.now() + s * 1000);
    return s;
  }

  /** Milliseconds of cool-down left, 0 when none. */
  coolingMs(): number {
    if (this.coolingUntil === 0) return 0;
    const left = this.coolingUntil - this.now();
    if (left > 0) return left;
    this.coolingUntil = 0;
    return 0;
  }

  /** Whether routing should prefer another deployment: its circuit is open (or probing) or it is cooling down. */
  steerAway(): boolean {
    return !this.breaker.available() || this.coolingMs() > 0;
  }

  get provider(): string {
    return this.model.provider;
  }

  /** Whether taking one more request of about `tokens` tokens would exceed a per-minute cap. */
  atCap(tokens: number): boolean {
    if (this.rpm !== undefined && this.requests.total() + 1 > this.rpm) return true;
    if (this.tpm !== undefined && this.tokens.total() + tokens > this.tpm) return true;
    return false;
  }

  observeFirstToken(ms: number): void {
    this.ttftMs = this.ttftMs === undefined ? ms : this.ttftMs * 0.8 + ms * 0.2;
  }

  health() {
    return {
      id: this.id,
      provider: this.provider,
      model: this.upstreamModel,
      weight: this.weight,
      priority: this.priority,
      circuit: this.breaker.state,
      errorRate: Number(this.breaker.errorRate.toFixed(3)),
      opens: this.breaker.opens,
      coolingDownMs: Math.round(this.coolingMs()),
      inFlight: this.inFlight,
      ttftMs: this.ttftMs === undefined ? null : Math.round(this.ttftMs * 10) / 10,
      requestsLastMinute: this.requests.total(),
      tokensLastMinute: this.tokens.total(),
      rpm: this.rpm ?? null,
      tpm: this.tpm ?? null,
      successes: this.successes,
      failures: this.failures,
    };
  }
}
