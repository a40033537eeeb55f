export { periodEnd, spendLoader } from './ledger.js';
export type { RedisReservation, SpendLoader } from './ledger.js';
export { RedisLimits } from './limits.js';
export type { RedisLimitsOptions } from './limits.js';
