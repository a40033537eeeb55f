import type { JudgementOutcome } from '../eval/ports.js';

/**
 * One blind comparison as the leaderboard sees it: which of two answers the user preferred. The
 * votes themselves are human judgements in the eval store (eval/ports.ts `JudgementStore`).
 */
export type Vote = JudgementOutcome;
