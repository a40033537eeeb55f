import type pg from 'pg';

/**
 * Tables of the PostgreSQL-only rate limits and budget ledger (limits.ts), for hubs sharing a
 * database without a Redis: migration 5 of schema.ts.
 *
 * One row per account in `rate_accounts` / `budget_accounts` is what a check locks (SELECT …
 * FOR UPDATE): every request of an account is checked and counted one after another.
 */
export const LIMITS_SCHEMA = `
  CREATE TABLE IF NOT EXISTS rate_accounts (account TEXT PRIMARY KEY);
  -- One-second buckets: what = 'r' (requests) or 't' (tokens), sec = unix second.
  CREATE TABLE IF NOT EXISTS rate_buckets (
    account TEXT NOT NULL,
    what CHAR(1) NOT NULL,
    sec BIGINT NOT NULL,
    n BIGINT NOT NULL,
    PRIMARY KEY (account, what, sec)
  );
  CREATE TABLE IF NOT EXISTS budget_accounts (account TEXT PRIMARY KEY);
  -- Spent per period, in nano-dollars; period_start (unix ms) starts a new period from zero.
  CREATE TABLE IF NOT EXISTS budget_spent (
    account TEXT NOT NULL,
    period TEXT NOT NULL,
    period_start BIGINT NOT NULL,
    spent_nano BIGINT NOT NULL,
    PRIMARY KEY (account, period, period_start)
  );
  -- Reservations in flight, one row per account; a row past expires_at (its hub died) no longer counts.
  CREATE TABLE IF NOT EXISTS budget_reservations (
    id TEXT NOT NULL,
    account TEXT NOT NULL,
    amount_nano BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (account, id)
  );
  -- Which hub is reading an account's spend from the usage records (one at a time).
  CREATE TABLE IF NOT EXISTS budget_seeding (
    account TEXT NOT NULL,
    period TEXT NOT NULL,
    period_start BIGINT NOT NULL,
    until BIGINT NOT NULL,
    PRIMARY KEY (account, period, period_start)
  );
`;

