/**
 * What every model call carries and what the gateway needs to run one. A call is made by an HTTP
 * route, the CLI, or a virtual model (a sub-call, whose context names its parent): the context is
 * passed explicitly, so every call is admitted, routed, charged and recorded whoever makes it.
 */
import type { PriceBook } from '../catalog/prices.js';
import type { Cancel } from '../core/cancel.js';
import type { Retriever } from '../core/model.js';
import type { Registry } from '../routing/registry.js';
import type { BudgetLedger, RateLimits } from '../tenancy/ports.js';
import type { Principal } from '../tenancy/types.js';
import type { UsageRecorder } from '../usage/record.js';
import type { Hooks } from './hooks.js';

/** What the gateway runs calls with: built once by whoever hosts it (the HTTP app, the CLI). */
export interface Gateway {
  readonly registry: Registry;
  readonly recorder: UsageRecorder;
  readonly prices: PriceBook;
  readonly ledger: BudgetLedger;
  readonly limiter: RateLimits;
  /** The hooks every call runs through (gateway/hooks.ts); undefined when none is registered. */
  readonly hooks?: Hooks | undefined;
  /** The knowledge bases, searched by knowledge-grounded models through their caller; undefined where the host has none (the CLI). */
  readonly knowledge?: Retriever | undefined;
}

/** A call's sub-calls, counted and costed once for the whole tree of calls under one top-level call. */
export interface SubCallTally {
  /** Sub-calls made so far; each gets the id `<top-level request id>:<n>`. */
  calls: number;
  /** What they cost, charged to the key as each one settled. */
  costUsd: number;
}

export interface CallContext {
  /** Who is calling: every sub-call is admitted and charged against the same principal. */
  readonly principal: Principal;
  readonly requestId: string;
  /** The call this one was made for (a virtual model's member call); undefined at the top. */
  readonly parent: CallContext | undefined;
  /** Fires when the caller goes away; the call's upstream requests are aborted with it. */
  readonly cancel: Cancel;
  /**
   * The top-level call's tally of sub-calls, made on the first one (shared by every call under
   * it): the top-level record carries their total cost, as each was charged already.
   */
  tally: SubCallTally | undefined;
}

/** A top-level call's context. */
export function callContext(principal: Principal, requestId: string, cancel: Cancel): CallContext {
  return { principal, requestId, parent: undefined, cancel, tally: undefined };
}

/** The context of a sub-call made for `parent`: same principal, an id of its own, its own cancellation. */
export function subCallContext(parent: CallContext, cancel: Cancel): CallContext {
  let top = parent;
  while (top.parent) top = top.parent;
  const tally = (top.tally ??= { calls: 0, costUsd: 0 });
  const child: CallContext = { principal: parent.principal, requestId: `${top.requestId}:${++tally.calls}`, parent, cancel, tally };
  return child;
}
