import type pg from 'pg';
import type { RateLimits } from '../../tenancy/ports.js';
import type { RateLimited, RateVerdict } from '../../tenancy/rate-limits.js';
import { WritesBehind } from '../background.js';
import { transaction } from './transaction.js';

export interface PostgresRateLimitsOptions {
  /** Clock (unix ms) for the one-second buckets; replicas' clocks are assumed within a second of each other. */
  readonly now?: () => number;
  /** Where the first failed token correction is reported (process.emitWarning by default). */
  readonly warn?: (message: string) => void;
}

type Buckets = Map<number, number>;

/** What the last minute holds and when its oldest counted second drops, as MinuteWindow works them out. */
function window(b: Buckets | undefined, sec: number): { total: number; reset: number } {
  let total = 0;
  let oldest = sec;
  for (const [s, n] of b ?? []) {
    if (sec - s >= 60) continue;
    total += n;
    if (n > 0 && s < oldest) oldest = s;
  }
  return { total, reset: Math.max(1, oldest + 60 - sec) };
}

/**
 * Requests and tokens per minute shared by hubs on one PostgreSQL, without Redis: the
 * RateLimiter's one-second buckets as rows, checked and counted in one transaction that holds
 * each account's row lock (rate_accounts, in account order, so two transactions never wait on
 * each other crosswise). Exact, and slower than Redis: a few round trips per request.
 * Needs the tables of limits-schema.ts.
 */
export class PostgresRateLimits extends WritesBehind implements RateLimits {
  private readonly now: () => number;

  constructor(
    private readonly pool: pg.Pool,
    o: PostgresRateLimitsOptions = {},
  ) {
    super('a token count correction', o.warn);
    this.now = o.now ?? Date.now;
  }



  async admit(limits: readonly RateLimited[], tokens: number): Promise<RateVerdict> {
    if (limits.length === 0) return { ok: true, headers: {} };
    const sec = Math.floor(this.now() / 1000);
    const t = Math.round(tokens);
    const accounts = [...new Set(limits.map((l) => l.account))].sort();
    // Outside the transaction: a first request creates its account's row and commits at once.
    await this.pool.query('INSERT INTO rate_accounts (account) SELECT unnest($1::text[]) ON CONFLICT DO NOTHING', [accounts]);
    return transaction(this.pool, async (c) => {
      await c.query('SELECT account FROM rate_accounts WHERE account = ANY($1) ORDER BY account FOR UPDATE', [accounts]);
      await c.query('DELETE FROM rate_buckets WHERE account = ANY($1) AND sec <= $2', [accounts, sec - 60]);
      const { rows } = await c.query<{ account: string; what: 'r' | 't'; sec: number; n: number }>('SELECT account, what, sec, n FROM rate_buckets WHERE account = ANY($1)', [accounts]);
      const buckets = new Map<string, Buckets>();
      const of = (account: string, what: 'r' | 't') => {
        const k = `${what}:${account}`;
        let b = buckets.get(k);
        if (!b) buckets.set(k, (b = new Map()));
        return b;
      };
      for (const r of rows) of(r.account, r.what).set(Number(r.sec), Number(r.n));
      for (const l of limits) {
        if (l.rpm !== undefined) {
          const w = window(buckets.get(`r:${l.account}`), sec);
          if (w.total + 1 > l.rpm) return refuse('requests', l.account, l.rpm, w);
        }
        if (l.tpm !== undefined) {
          const w = window(buckets.get(`t:${l.account}`), sec);
          if (w.total + t > l.tpm) return refuse('tokens', l.account, l.tpm, w);
        }
      }
      // Every limit counts the request, as RateLimiter does (an account named twice counts twice).
      // Added, not overwritten: a token correction (not under the lock) may land meanwhile.
      const inc = new Map<string, number>();
      for (const l of limits) {
        for (const [what, n] of [['r', 1], ['t', t]] as const) {
          const b = of(l.account, what);
          b.set(sec, (b.get(sec) ?? 0) + n);
          inc.set(`${what}:${l.account}`, (inc.get(`${what}:${l.account}`) ?? 0) + n);
        }
      }
      const add = [...inc].map(([k, n]) => [k.slice(2), k[0]!, n] as const);
      await c.query(
        `INSERT INTO rate_buckets (account, what, sec, n) SELECT a, w, $4::int8, n FROM unnest($1::text[], $2::text[], $3::int8[]) AS x(a, w, n)
         ON CONFLICT (account, what, sec) DO UPDATE SET n = rate_buckets.n + excluded.n`,
        [add.map((x) => x[0]), add.map((x) => x[1]), add.map((x) => x[2]), sec],
      );
      const headers: Record<string, string> = {};
      for (const l of limits) {
        if (l.rpm !== undefined) {
          const w = window(buckets.get(`r:${l.account}`), sec);
          headers['x-ratelimit-limit-requests'] = String(l.rpm);
          headers['x-ratelimit-remaining-requests'] = String(Math.max(0, l.rpm - w.total));
          headers['x-ratelimit-reset-requests'] = `${w.reset}s`;
        }
        if (l.tpm !== undefined) {
          const w = window(buckets.get(`t:${l.account}`), sec);
          headers['x-ratelimit-limit-tokens'] = String(l.tpm);
          headers['x-ratelimit-remaining-tokens'] = String(Math.max(0, l.tpm - w.total));
          headers['x-ratelimit-reset-tokens'] = `${w.reset}s`;
        }
      }
      return { ok: true, headers };
    });
  }

  /** Fire and forget: the request path never waits on it; a failure is counted (see `failures`). */
  adjustTokens(accounts: readonly string[], delta: number): void {
    const d = Math.round(delta);
    if (d === 0 || accounts.length === 0) return;
    const sec = Math.floor(this.now() / 1000);
    const unique = [...new Set(accounts)];
    this.background.run(() =>
      this.pool.query(
        `INSERT INTO rate_buckets (account, what, sec, n) SELECT a, 't', $2::int8, $3::int8 FROM unnest($1::text[]) AS x(a)
         ON CONFLICT (account, what, sec) DO UPDATE SET n = rate_buckets.n + excluded.n`,
        [unique, sec, d],
      ),
    );
  }
}

function refuse(limit: 'requests' | 'tokens', account: string, max: number, w: { total: number; reset: number }): RateVerdict {
  return {
    ok: false,
    limit,
    account,
    retryAfterSeconds: w.reset,
    headers: {
      [`x-ratelimit-limit-${limit}`]: String(max),
      [`x-ratelimit-remaining-${limit}`]: String(Math.max(0, max - w.total)),
      [`x-ratelimit-reset-${limit}`]: `${w.reset}s`,
    },
  };
}
