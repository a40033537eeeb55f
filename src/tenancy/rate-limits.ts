import { MinuteWindow } from '../routing/window.js';
import type { RateLimits } from './ports.js';

export interface RateLimited {
  readonly account: string;
  readonly rpm?: number | undefined;
  readonly tpm?: number | undefined;
}

export interface RateVerdict {
  readonly ok: boolean;
  /** Which limit refused, when one did. */
  readonly limit?: 'requests' | 'tokens';
  readonly account?: string;
  /** `x-ratelimit-*` headers describing the tightest limit that applies. */
  readonly headers: Record<string, string>;
  readonly retryAfterSeconds?: number;
}

interface Windows {
  readonly requests: MinuteWindow;
  readonly tokens: MinuteWindow;
}

/**
 * Requests and tokens per minute per key and per team, in one-second buckets. Admission checks
 * every limit first and only then counts, so a refused request consumes nothing.
 */
export class RateLimiter implements RateLimits {
  private readonly windows = new Map<string, Windows>();

  constructor(private readonly now: () => number = Date.now) {}

  private of(account: string): Windows {
    let w = this.windows.get(account);
    if (!w) {
      w = { requests: new MinuteWindow(this.now), tokens: new MinuteWindow(this.now) };
      this.windows.set(account, w);
    }
    return w;
  }

  admit(limits: readonly RateLimited[], tokens: number): RateVerdict {
    const headers: Record<string, string> = {};
    for (const l of limits) {
      const w = this.of(l.account);
      if (l.rpm !== undefined) {
        const used = w.requests.total();
        if (used + 1 > l.rpm) return this.refuse('requests', l.account, l.rpm, used, w.requests);
      }
      if (l.tpm !== undefined) {
        const used = w.tokens.total();
        if (used + tokens > l.tpm) return this.refuse('tokens', l.account, l.tpm, used, w.tokens);
      }
    }
    for (const l of limits) {
      const w = this.of(l.account);
      w.requests.add(1);
      w.tokens.add(tokens);
      if (l.rpm !== undefined) {
        headers['x-ratelimit-limit-requests'] = String(l.rpm);
        headers['x-ratelimit-remaining-requests'] = String(Math.max(0, l.rpm - w.requests.total()));
        headers['x-ratelimit-reset-requests'] = `${w.requests.secondsUntilDrop()}s`;
      }
      if (l.tpm !== undefined) {
        headers['x-ratelimit-limit-tokens'] = String(l.tpm);
        headers['x-ratelimit-remaining-tokens'] = String(Math.max(0, l.tpm - w.tokens.total()));
        headers['x-ratelimit-reset-tokens'] = `${w.tokens.secondsUntilDrop()}s`;
      }
    }
    return { ok: true, headers };
  }

  /** Corrects a token count once the real usage is known (may be negative). */
  adjustTokens(accounts: readonly string[], delta: number): void {
    if (delta === 0) return;
    for (const a of accounts) this.of(a).tokens.add(delta);
  }

  private refuse(limit: 'requests' | 'tokens', account: string, max: number, used: number, w: MinuteWindow): RateVerdict {
    const reset = w.secondsUntilDrop();
    return {
      ok: false,
      limit,
      account,
      retryAfterSeconds: reset,
      headers: {
        [`x-ratelimit-limit-${limit}`]: String(max),
        [`x-ratelimit-remaining-${limit}`]: String(Math.max(0, max - used)),
        [`x-ratelimit-reset-${limit}`]: `${reset}s`,
      },
    };
  }
}
