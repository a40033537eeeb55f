import { HubError } from '../core/errors.js';
import type { Usage } from '../core/types.js';
import type { PriceBook } from '../catalog/prices.js';
import type { Target } from '../routing/registry.js';
import type { Route } from '../routing/router.js';
import type { Budgeted, Reservation, ReserveResult } from '../tenancy/ledger.js';
import type { Limits } from '../tenancy/ports.js';
import type { RateLimited, RateVerdict } from '../tenancy/rate-limits.js';
import { modelAllowed } from '../tenancy/types.js';
import type { Principal } from '../tenancy/types.js';
import { priceAt, worstCaseUsd, worstInputPrice } from '../usage/cost.js';
import type { Deployment } from '../routing/deployment.js';
import type { Gateway } from './context.js';

/** What admission reads and reserves against. */
export type AdmissionDeps = Pick<Gateway, 'prices' | 'ledger' | 'limiter'>;

/** What a request was admitted with; settled once, when its usage is known. */
export interface Ticket {
  readonly keyId: string | undefined;
  readonly teamId: string | undefined;
  /** `x-ratelimit-*` headers for the response. */
  readonly headers: Record<string, string>;
  settle(usage: Usage | undefined, costUsd: number | undefined): void;
}

/** The provider prefix of virtual models (src/ensemble). */
const VIRTUAL = 'virtual:';

/** Output reserved when a request sets no limit and the model's own is unknown. */
export const DEFAULT_MAX_OUTPUT = 4096;

/** Why a reservation assumed the output tokens it did. */
export type OutputBasis = 'requested' | 'model_limit' | 'provider_default' | 'context_window' | 'default';

/** The most one deployment can charge for a request, and how that was worked out. */
export interface WorstCase {
  readonly usd: number;
  readonly deployment: string;
  readonly promptTokens: number;
  /** USD per million prompt tokens (the dearest of fresh and cache-write, at the prompt's tier). */
  readonly inputPerM: number;
  readonly outputTokens: number;
  readonly outputPerM: number;
  readonly outputBasis: OutputBasis;
  /** `n`: choices, each of which may spend the output allowance. */
  readonly choices: number;
}

/**
 * The output tokens a request can produce on a deployment: what it asked for; else the model's
 * output limit where the catalog knows it; else what the hub itself sends (Anthropic's API needs
 * a max_tokens, and the hub fills in 4,096); else all the context window the prompt leaves;
 * else a 4,096-token default.
 */
function outputBound(prices: PriceBook, d: Deployment, promptTokens: number, requested: number | undefined): { tokens: number; basis: OutputBasis } {
  if (requested !== undefined) return { tokens: requested, basis: 'requested' };
  const limit = prices.maxOutput(d.provider, d.upstreamModel);
  if (limit !== undefined) return { tokens: limit, basis: 'model_limit' };
  if (d.model.defaultMaxTokens !== undefined) return { tokens: d.model.defaultMaxTokens, basis: 'provider_default' };
  const context = prices.contextWindow(d.provider, d.upstreamModel);
  if (context !== undefined) return { tokens: Math.max(1, context - Math.min(promptTokens, context)), basis: 'context_window' };
  return { tokens: DEFAULT_MAX_OUTPUT, basis: 'default' };
}

/** The dearest deployment of the route for this request; undefined when no deployment has a price. */
export function routeWorstCase(prices: PriceBook, route: Route, promptTokens: number, requestedMaxOutput: number | undefined, choices = 1): WorstCase | undefined {
  let worst: WorstCase | undefined;
  for (const d of route.deployments) {
    const price = prices.price(d.provider, d.upstreamModel);
    if (!price) continue;
    const one = outputBound(prices, d, promptTokens, requestedMaxOutput);
    const out = { tokens: one.tokens * choices, basis: one.basis };
    const usd = worstCaseUsd(promptTokens, out.tokens, price);
    if (worst && worst.usd >= usd) continue;
    const at = priceAt(price, promptTokens);
    worst = { usd, deployment: d.id, promptTokens, inputPerM: worstInputPrice(at), outputTokens: out.tokens, outputPerM: at.output, outputBasis: out.basis, choices };
  }
  return worst;
}

/** The most a request can cost on any deployment of its route; undefined when no price is known. */
export function routeWorstCaseUsd(prices: PriceBook, route: Route, promptTokens: number, requestedMaxOutput: number | undefined): number | undefined {
  return routeWorstCase(prices, route, promptTokens, requestedMaxOutput)?.usd;
}

/** Dollars as a person reads them: cents for large sums, enough digits for tiny ones. */
export function usd(n: number): string {
  if (n === 0) return '$0';
  if (n >= 1) return `$${n.toFixed(2)}`;
  // Two significant digits, never exponent notation.
  const digits = Math.min(12, Math.max(2, 1 - Math.floor(Math.log10(n))));
  return `$${n.toFixed(digits).replace(/0+$/, '').replace(/\.$/, '')}`;
}

const perM = (n: number) => `${usd(n)}/M`;
const tokens = (n: number) => n.toLocaleString('en-US');

function reservationReason(w: WorstCase): string {
  const output =
    w.outputBasis === 'requested'
      ? `up to ${tokens(w.outputTokens)} output tokens (its max_tokens${w.choices > 1 ? ` for each of ${w.choices} choices` : ''}) at ${perM(w.outputPerM)}`
      : `up to ${tokens(w.outputTokens)} output tokens${w.choices > 1 ? ` (${w.choices} choices)` : ''} at ${perM(w.outputPerM)}, because max_tokens was not set (${
          w.outputBasis === 'model_limit'
            ? "the model's output limit"
            : w.outputBasis === 'provider_default'
              ? 'the max_tokens the hub sends this provider by default'
              : w.outputBasis === 'context_window'
                ? "what the model's context window leaves after the prompt"
                : 'the hub\'s default for a model whose limit it does not know'
        } is assumed)`;
  return `a prompt of at most ${tokens(w.promptTokens)} tokens at ${perM(w.inputPerM)} and ${output}`;
}

const OPEN: Ticket = { keyId: undefined, teamId: undefined, headers: {}, settle() {} };

/**
 * The prompt's tokens: `estimate` (characters/4, as providers' own rate limiters count) for
 * tokens per minute, and `bound`, an upper bound (promptTokenBound), for the budget reservation;
 * a plain number serves as both. `bound` is called only when a budget applies.
 */
export type PromptSize = number | { readonly estimate: number; readonly bound: () => number; /** `n`: each choice may spend the output allowance. */ readonly choices?: number | null | undefined };

let storeFailures = 0;

/** The limit store when the rate limiter and the budget ledger are one that checks both in one step (Redis). */
function oneStep(ctx: AdmissionDeps): Limits | undefined {
  const limiter = ctx.limiter as Partial<Limits>;
  return limiter === ctx.ledger && typeof limiter.admitAndReserve === 'function' ? (limiter as Limits) : undefined;
}

/**
 * Runs a check against the shared limit store (Redis, or PostgreSQL without it). When the store
 * cannot answer, the request is refused with 503 — never admitted unchecked (the caller gives
 * back what the other check counted). The client is told nothing of the store (its address may be
 * private); the operator gets the driver's message as a process warning, the first time and
 * every hundredth after.
 */
export async function unlessDown<T>(check: () => T | Promise<T>): Promise<T> {
  try {
    const r = await check();
    storeFailures = 0;
    return r;
  } catch (err) {
    if (err instanceof HubError) throw err;
    if (storeFailures++ % 100 === 0) process.emitWarning(`the limit store could not be reached (${(err as Error).message}); requests with limits or budgets get 503`);
    throw new HubError('overloaded', "The hub could not check this key's rate limits or budget: its limit store is unreachable. Retry shortly.", {
      code: 'limits_unavailable',
      retryAfter: 1,
      cause: err,
    });
  }
}

/**
 * Lets a request through only if its key may use the model, has requests and tokens left this
 * minute, and has budget left for the request's worst case, which is reserved until it settles.
 * Asynchronous: the rate limits and the ledger may live in a shared store (Redis).
 */
export async function admit(
  ctx: AdmissionDeps,
  principal: Principal,
  model: string,
  target: Target,
  prompt: PromptSize,
  requestedMaxOutput: number | undefined,
  /** A virtual model's sub-call: its members were chosen by the admin, and one client request is one request. */
  o: { subCall?: boolean } = {},
): Promise<Ticket> {
  if (principal.kind !== 'key') return OPEN;
  const { key, team } = principal;
  const promptTokens = typeof prompt === 'number' ? prompt : prompt.estimate;
  if (!o.subCall) {
    // No arrays or strings built per request: the names are needed only for the refusal.
    const denied = (who: string) => new HubError('permission', `The ${who} may not use the model '${model}'.`, { code: 'model_not_allowed', param: 'model' });
    if (!modelAllowed(key.allowedModels, model)) throw denied(`key ${key.prefix}`);
    if (!modelAllowed(team?.allowedModels, model)) throw denied(`team '${team?.name}'`);
  }

  // Only accounts with a limit are counted: a key with none costs the shared store (Redis) no round trip.
  const rateLimits: RateLimited[] = [];
  const keyRpm = o.subCall ? undefined : key.rpm;
  if (keyRpm !== undefined || key.tpm !== undefined) rateLimits.push({ account: `key:${key.id}`, rpm: keyRpm, tpm: key.tpm });
  const teamRpm = o.subCall ? undefined : team?.rpm;
  if (team && (teamRpm !== undefined || team.tpm !== undefined)) rateLimits.push({ account: `team:${team.id}`, rpm: teamRpm, tpm: team.tpm });
  const tokens = promptTokens + (requestedMaxOutput ?? 0);
  const accounts = rateLimits.map((l) => l.account);
  const budgets: Budgeted[] = [];
  if (key.budgetUsd !== undefined) budgets.push({ account: `key:${key.id}`, budgetUsd: key.budgetUsd, period: key.budgetPeriod ?? 'month' });
  if (team?.budgetUsd !== undefined) budgets.push({ account: `team:${team.id}`, budgetUsd: team.budgetUsd, period: team.budgetPeriod ?? 'month' });
  // A key and team with no limit and no budget ask nothing of anyone, and have nothing to settle.
  if (rateLimits.length === 0 && budgets.length === 0) return { keyId: key.id, teamId: team?.id, headers: {}, settle() {} };
  let worst: ReturnType<typeof routeWorstCase>;
  if (budgets.length) {
    // A model with no known price would cost nothing against the budget: refused unless the config
    // allows it. A virtual model costs what its sub-calls cost; each is admitted (and checked) itself.
    for (const d of target.route.deployments) {
      if (d.provider.startsWith(VIRTUAL) || ctx.prices.price(d.provider, d.upstreamModel) || ctx.prices.unpricedAllowed(model, d.provider, d.upstreamModel)) continue;
      const whose = budgets.some((b) => b.account.startsWith('key:')) ? 'this key' : 'its team';
      throw new HubError(
        'permission',
        `The model '${model}' has no known price (${d.provider}/${d.upstreamModel}), and ${whose} has a budget, so it may not use it: ` +
          `the call would not count against the budget. Give it a price in the config (pricing.models: { '${d.provider}/${d.upstreamModel}': { input: <USD per 1M>, output: <USD per 1M> } }) ` +
          `or allow unpriced models for budgeted keys (pricing.allowUnpriced: true, or a list of model names).`,
        { code: 'model_unpriced', param: 'model', headers: { 'x-should-retry': 'false' } },
      );
    }
    // The worst case over every deployment the route might use.
    const choices = typeof prompt === 'number' ? 1 : Math.max(1, Math.floor(prompt.choices ?? 1));
    worst = routeWorstCase(ctx.prices, target.route, typeof prompt === 'number' ? prompt : prompt.bound(), requestedMaxOutput, choices);
  }

  // The rate check and the budget reservation are asked for together. A store that keeps both
  // (Redis) does them in one atomic step, one script call for every request of the turn, nothing
  // to undo. Over separate stores both are asked at once (one round trip, not two), and each
  // undoes the other when it refuses (a reservation made for a rate-limited request is released;
  // tokens counted for a request over budget are given back), so the outcome is the one
  // sequential checks would give.
  let rate: RateVerdict;
  let r: ReserveResult | undefined;
  const limits = oneStep(ctx);
  if (limits) {
    ({ rate, budget: r } = await unlessDown(() => limits.admitAndReserve(rateLimits, tokens, budgets, worst?.usd ?? 0)));
  } else {
    const [rated, reserved] = await Promise.allSettled([
      unlessDown(() => ctx.limiter.admit(rateLimits, tokens)),
      budgets.length ? unlessDown(() => ctx.ledger.reserve(budgets, worst?.usd ?? 0)) : undefined,
    ]);
    const counted = rated.status === 'fulfilled' && rated.value.ok;
    const held = reserved.status === 'fulfilled' ? reserved.value : undefined;
    if (!counted || !(held === undefined || held.ok)) {
      if (held?.ok) ctx.ledger.settle(held.reservation, 0);
      if (counted) ctx.limiter.adjustTokens(accounts, -tokens);
    }
    if (rated.status === 'rejected') throw rated.reason;
    rate = rated.value;
    if (rate.ok && reserved.status === 'rejected') throw reserved.reason;
    r = held;
  }
  if (!rate.ok) {
    const what = rate.limit === 'requests' ? 'requests per minute' : 'tokens per minute';
    throw new HubError('rate_limited', `Rate limit reached for ${rate.account?.startsWith('team:') ? 'the team' : 'this key'}: ${what}. Retry after ${rate.retryAfterSeconds}s.`, {
      code: 'rate_limit_exceeded',
      headers: rate.headers,
      ...(rate.retryAfterSeconds !== undefined && { retryAfter: rate.retryAfterSeconds }),
    });
  }
  let reservation: Reservation | undefined;
  if (r) {
    if (!r.ok) {
      const whose = r.account.startsWith('team:') ? 'the team' : 'this key';
      const period = r.period === 'total' ? 'in total' : `per ${r.period}`;
      const inFlight = r.reservedUsd > 0 ? `, ${usd(r.reservedUsd)} is reserved by its requests in flight` : '';
      const why = worst && worst.usd > 0 ? ` This request reserves up to ${usd(worst.usd)}: ${reservationReason(worst)}.` : '';
      const fix = worst && worst.outputBasis !== 'requested' && worst.usd > 0 ? ' Setting max_tokens (max_output_tokens on /v1/responses) lowers the reservation.' : '';
      throw new HubError('rate_limited', `Budget exceeded for ${whose}: ${usd(r.spentUsd)} spent of ${usd(r.budgetUsd)} ${period}${inFlight}.${why}${fix}`, {
        code: 'budget_exceeded',
        // Retrying cannot help until the period resets: tell SDKs not to.
        headers: { 'x-should-retry': 'false' },
        ...(r.resetsAt !== undefined && { retryAfter: Math.ceil((r.resetsAt - Date.now()) / 1000) }),
      });
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
