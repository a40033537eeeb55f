export { RedisBudgetLedger, periodEnd, spendLoader } from './ledger.js';
export type { RedisBudgetLedgerOptions, RedisReservation, SpendLoader } from './ledger.js';
export { RedisRateLimits } from './rate-limits.js';
export type { RedisRateLimitsOptions } from './rate-limits.js';
