/** Budget periods reset at UTC midnight (day) and on the first of the month (month); `total` never resets. */
export type BudgetPeriod = 'day' | 'month' | 'total';
export const BUDGET_PERIODS: readonly BudgetPeriod[] = ['day', 'month', 'total'];

export interface Limits {
  /** Model names (exact, or a prefix ending in `*`, e.g. `deepseek/*`); empty or absent = all. */
  readonly allowedModels?: readonly string[];
  readonly rpm?: number;
  readonly tpm?: number;
  readonly budgetUsd?: number;
  readonly budgetPeriod?: BudgetPeriod;
}

export interface Team extends Limits {
  readonly id: string;
  readonly name: string;
  readonly metadata: Record<string, unknown>;
  readonly createdAt: number;
}

export interface VirtualKey extends Limits {
  readonly id: string;
  readonly name: string;
  /** The visible start of the key; the key itself is never stored. */
  readonly prefix: string;
  readonly hash: string;
  readonly teamId: string | undefined;
  /** Unix ms; absent = never. */
  readonly expiresAt?: number;
  readonly metadata: Record<string, unknown>;
  readonly createdAt: number;
  readonly revokedAt?: number;
}

/** Who is calling. */
export type Principal =
  | { readonly kind: 'admin' }
  | { readonly kind: 'key'; readonly key: VirtualKey; readonly team: Team | undefined }
  | { readonly kind: 'open' };

export function modelAllowed(allowed: readonly string[] | undefined, model: string): boolean {
  if (!allowed || allowed.length === 0) return true;
  return allowed.some((p) => (p.endsWith('*') ? model.startsWith(p.slice(0, -1)) : p === model));
}
