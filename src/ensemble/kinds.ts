/**
 * Every kind of virtual model, one line each. A kind's file exports its definition (schema,
 * members, constructor; see `VirtualKindDefinition` in config.ts); the config schema, the member
 * check and the constructor below are all built from this table, so nothing else branches on kinds.
 */
import { z } from 'zod';
import { HubError } from '../core/errors.js';
import type { Model, ModelCaller } from '../core/model.js';
import { cascadeKind } from './cascade.js';
import type { VirtualKindDefinition } from './config.js';
import { decomposeKind } from './decompose.js';
import { judgeKind } from './judge.js';
import { ragKind } from '../knowledge/rag.js';
import { routeKind } from './route.js';
import { moaKind } from './moa.js';
import type { VirtualModelOptions } from './run.js';
import { voteKind } from './vote.js';

const KINDS = [
  cascadeKind,
  voteKind,
  moaKind,
  judgeKind,
  decomposeKind,
  ragKind,
  routeKind,
] as const;

type Kinds = typeof KINDS;
/** The tuple of the kinds' schemas, in table order (what z.discriminatedUnion needs to type its output). */
type SchemasOf<T extends readonly unknown[]> = { -readonly [I in keyof T]: T[I] extends { readonly schema: infer S } ? S : never };

/** The kind names, in table order. */
export const VIRTUAL_KINDS = KINDS.map((k) => k.kind);

/** A virtual model's config: a union on `kind` of every kind's schema. */
export const virtualModelSchema = z.discriminatedUnion('kind', KINDS.map((k) => k.schema) as unknown as SchemasOf<Kinds>);

export type VirtualModelConfig = z.infer<typeof virtualModelSchema>;
/** What a config file may say (defaults not yet applied). */
export type VirtualModelInput = z.input<typeof virtualModelSchema>;
export type VirtualKind = VirtualModelConfig['kind'];
/** Any kind's model. */
export type VirtualModel = ReturnType<Kinds[number]['create']>;

const byKind = new Map<string, VirtualKindDefinition>(KINDS.map((k) => [k.kind, k as unknown as VirtualKindDefinition]));

function definition(kind: string): VirtualKindDefinition {
  const d = byKind.get(kind);
  if (!d) throw new Error(`unknown virtual model kind '${kind}'`);
  return d;
}

/** Every public model name a virtual model may call, in config order, without duplicates. */
export function virtualModelMembers(c: VirtualModelConfig): string[] {
  return [...new Set(definition(c.kind).members(c))];
}

/** The virtual model for a parsed config (see virtualModelSchema). */
export function createVirtualModel(config: VirtualModelConfig, caller: ModelCaller, options: VirtualModelOptions = {}): VirtualModel {
  return definition(config.kind).create(config, caller, options) as VirtualModel;
}

/** Refuses every member call: a virtual model was called without a call context. */
const UNBOUND: ModelCaller = {
  complete: () => Promise.reject(unbound()),
  stream: () => ({ [Symbol.asyncIterator]: () => ({ next: () => Promise.reject(unbound()) }) }),
  worstCaseUsd: () => undefined,
  retrieve: () => Promise.reject(unbound()),
  embed: () => Promise.reject(unbound()),
  rerank: () => Promise.reject(unbound()),
};

function unbound(): HubError {
  return new HubError('internal', 'A virtual model was called outside the gateway: its member calls need the call they belong to.');
}

/**
 * The virtual model a route holds: `bind(caller)` makes it for one call, with its member calls
 * going through that call's caller (the gateway binds it for every call it dispatches). Called
 * unbound, its member calls are refused, since nothing would admit, charge or record them.
 */
export function bindableVirtualModel(config: VirtualModelConfig, options: VirtualModelOptions = {}): Model & { bind(caller: ModelCaller): VirtualModel } {
  const unboundModel = createVirtualModel(config, UNBOUND, options);
  return {
    provider: unboundModel.provider,
    stream: (request, signal) => unboundModel.stream(request, signal),
    bind: (caller) => createVirtualModel(config, caller, options),
  };
}
