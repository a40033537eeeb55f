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
