/**
 * Integrated AI: virtual models that combine other models (cascade, vote, moa, judge,
 * decompose). Each is a `Model` built from its config and a `ModelCaller`, through which every
 * sub-call goes (so routing, limits, budgets and accounting apply to each). The kinds are listed
 * in kinds.ts; each kind's file exports its schema, members and constructor.
 */
export { CascadeModel, cascadeKind } from './cascade.js';
export { VoteModel, voteKind } from './vote.js';
export { MoaModel, moaKind } from './moa.js';
export { JudgeModel, judgeKind } from './judge.js';
export { DecomposeModel, decomposeKind } from './decompose.js';
export { DEFAULT_MAX_CALLS, defineVirtualKind, judgeFanOut, judgeSamples, majority, voteSamples } from './config.js';
export type { VirtualKindDefinition } from './config.js';
export { VIRTUAL_KINDS, bindableVirtualModel, createVirtualModel, virtualModelMembers, virtualModelSchema } from './kinds.js';
export type { VirtualKind, VirtualModel, VirtualModelConfig, VirtualModelInput } from './kinds.js';
export type { CascadeConfig } from './cascade.js';
export type { VoteConfig } from './vote.js';
export type { MoaConfig } from './moa.js';
export type { JudgeConfig } from './judge.js';
export type { DecomposeConfig } from './decompose.js';
export type { VirtualModelOptions } from './run.js';
export { logprobsOf } from './checks.js';
