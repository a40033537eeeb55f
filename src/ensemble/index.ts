/**
 * Integrated AI: virtual models that combine other models (cascade, vote, moa, judge,
 * decompose). Each is a `Model` built from its config and a `ModelCaller`, through which every
 * sub-call goes (so routing, limits, budgets and accounting apply to each).
 */
import type { ModelCaller } from '../core/model.js';
import { CascadeModel } from './cascade.js';
import type { VirtualModelConfig } from './config.js';
import { DecomposeModel } from './decompose.js';
import { JudgeModel } from './judge.js';
import { MoaModel } from './moa.js';
import type { VirtualModelOptions } from './run.js';
import { VoteModel } from './vote.js';

export { CascadeModel } from './cascade.js';
export { VoteModel } from './vote.js';
export { MoaModel } from './moa.js';
export { JudgeModel } from './judge.js';
export { DecomposeModel } from './decompose.js';
export {
  DEFAULT_MAX_CALLS,
  VIRTUAL_KINDS,
  judgeFanOut,
  judgeSamples,
  majority,
  virtualModelMembers,
  virtualModelSchema,
  voteSamples,
} from './config.js';
export type {
  CascadeConfig,
  DecomposeConfig,
  JudgeConfig,
  MoaConfig,
  VirtualKind,
  VirtualModelConfig,
  VirtualModelInput,
  VoteConfig,
} from './config.js';
export type { VirtualModelOptions } from './run.js';
export { logprobsOf } from './checks.js';

export type VirtualModel = CascadeModel | VoteModel | MoaModel | JudgeModel | DecomposeModel;

/** The virtual model for a parsed config (see virtualModelSchema). */
export function createVirtualModel(config: VirtualModelConfig, caller: ModelCaller, options: VirtualModelOptions = {}): VirtualModel {
  switch (config.kind) {
    case 'cascade':
      return new CascadeModel(config, caller, options);
    case 'vote':
      return new VoteModel(config, caller, options);
    case 'moa':
      return new MoaModel(config, caller, options);
    case 'judge':
      return new JudgeModel(config, caller, options);
    case 'decompose':
      return new DecomposeModel(config, caller, options);
  }
}
