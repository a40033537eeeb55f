import { HubError } from '../core/errors.js';
import type { Usage } from '../core/types.js';
import type { PriceBook } from '../catalog/prices.js';
import type { Target } from '../routing/registry.js';
import type { Route } from '../routing/router.js';
import type { Budgeted, Reservation } from '../tenancy/ledger.js';
import type { RateLimited } from '../tenancy/rate-limits.js';
import { modelAllowed } from '../tenancy/types.js';
import type { Principal } from '../tenancy/types.js';
import { worstCaseUsd } from '../usage/cost.js';
import type { HubContext } from './context.js';

/** What a request was admitted with; settled once, when its usage is known. */
export interface Ticket {
  readonly keyId: string | undefined;
  readonly teamId: string | undefined;
  /** `x-ratelimit-*` headers for the response. */
  readonly headers: Record<string, string>;
  settle(usage: Usage | undefined, costUsd: number | undefined): void;
}

const DEFAULT_MAX_OUTPUT = 4096;

/** The most a request can cost on any deployment of its route; undefined when no price is known. */
export function routeWorstCaseUsd(prices: PriceBook, route: Route, promptTokens: number, requestedMaxOutput: number | undefined): number | undefined {
  let worst: number | undefined;
  for (const d of route.deployments) {
    const price = prices.price(d.provider, d.upstreamModel);
    if (!price) continue;
    const maxOut = requestedMaxOutput ?? prices.maxOutput(d.provider, d.upstreamModel) ?? DEFAULT_MAX_OUTPUT;
    worst = Math.max(worst ?? 0, worstCaseUsd(promptTokens, maxOut, price));
  }
  return worst;
}

const OPEN: Ticket = { keyId: undefined, teamId: undefined, headers: {}, settle() {} };

/**
 * Lets a request through only if its key may use the model, has requests and tokens left this
 * minute, and has budget left for the request's worst case, which is reserved until it settles.
 */
export function admit(
  ctx: HubContext,
  principal: Principal,
  model: string,
  target: Target,
  promptTokens: number,
  requestedMaxOutput: number | undefined,
  /** A virtual model's sub-call: its members were chosen by the admin, and one client request is one request. */
  o: { subCall?: boolean } = {},
): Ticket {
  if (principal.kind !== 'key') return OPEN;
  const { key, team } = principal;
  for (const [who, allowed] of o.subCall ? [] : ([[`key ${key.prefix}`, key.allowedModels], [`team '${team?.name}'`, team?.allowedModels]] as const)) {
    if (!modelAllowed(allowed, model)) {
      throw new HubError('permission', `The ${who} may not use the model '${model}'.`, { code: 'model_not_allowed', param: 'model' });
    }
  }

  const rateLimits: RateLimited[] = [{ account: `key:${key.id}`, rpm: o.subCall ? undefined : key.rpm, tpm: key.tpm }];
  if (team) rateLimits.push({ account: `team:${team.id}`, rpm: o.subCall ? undefined : team.rpm, tpm: team.tpm });
  const tokens = promptTokens + (requestedMaxOutput ?? 0);
  const rate = ctx.limiter.admit(rateLimits, tokens);
  if (!rate.ok) {
    const what = rate.limit === 'requests' ? 'requests per minute' : 'tokens per minute';
    throw new HubError('rate_limited', `Rate limit reached for ${rate.account?.startsWith('team:') ? 'the team' : 'this key'}: ${what}. Retry after ${rate.retryAfterSeconds}s.`, {
      code: 'rate_limit_exceeded',
      headers: rate.headers,
      ...(rate.retryAfterSeconds !== undefined && { retryAfter: rate.retryAfterSeconds }),
    });
  }
  const accounts = rateLimits.map((l) => l.account);

  const budgets: Budgeted[] = [];
  if (key.budgetUsd !== undefined) budgets.push({ account: `key:${key.id}`, budgetUsd: key.budgetUsd, period: key.budgetPeriod ?? 'month' });
  if (team?.budgetUsd !== undefined) budgets.push({ account: `team:${team.id}`, budgetUsd: team.budgetUsd, period: team.budgetPeriod ?? 'month' });
  let reservation: Reservation | undefined;
  if (budgets.length) {
    // The worst case over every deployment the route might use.
    const worst = routeWorstCaseUsd(ctx.prices, target.route, promptTokens, requestedMaxOutput) ?? 0;
    const r = ctx.ledger.reserve(budgets, worst);
    if (!r.ok) {
      ctx.limiter.adjustTokens(accounts, -tokens);
      const whose = r.account.startsWith('team:') ? 'the team' : 'this key';
      throw new HubError(
        'rate_limited',
        `Budget exceeded for ${whose}: $${r.spentUsd.toFixed(4)} spent of $${r.budgetUsd} per ${r.period === 'total' ? 'lifetime' : r.period}` +
          (worst > 0 ? `, and this request may cost up to $${worst.toFixed(4)}.` : '.'),
        {
          code: 'budget_exceeded',
          // Retrying cannot help until the period resets: tell SDKs not to.
          headers: { 'x-should-retry': 'false' },
          ...(r.resetsAt !== undefined && { retryAfter: Math.ceil((r.resetsAt - Date.now()) / 1000) }),
        },
      );
    }
    reservation = r.reservation;
  }

  let settled = false;
  return {
    keyId: key.id,
    teamId: team?.id,
    headers: rate.headers,
    settle(usage, costUsd) {
      if (settled) return;
      settled = true;
      if (reservation) ctx.ledger.settle(reservation, costUsd ?? 0);
      if (usage) ctx.limiter.adjustTokens(accounts, usage.inputTokens + usage.outputTokens - tokens);
    },
  };
}
