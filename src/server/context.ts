import type { Gateway } from '../gateway/context.js';
import type { EvalRunService } from '../eval/service.js';
import type { EvalRunStore, JudgementStore } from '../eval/ports.js';
import type { FileStore } from '../knowledge/ports.js';
import type { KnowledgeService } from '../knowledge/vector-stores.js';
import type { ResponseStore } from '../protocols/openai-responses/ports.js';
import type { Tenancy } from '../tenancy/service.js';
import type { UsageStore } from '../usage/ports.js';

/** The storage ports routes read and write through (tenancy's sits behind `Tenancy`). */
export interface HubStores {
  readonly usage: UsageStore;
  readonly responses: ResponseStore;
  /** Human judgements: the arena's votes, read back by its leaderboard and GET /v1/evals/judgements. */
  readonly judgements: JudgementStore;
  readonly files: FileStore;
  /** Stored eval runs; absent, the evals API answers 404. */
  readonly evalRuns?: EvalRunStore | undefined;
}

/** What route handlers share; built once by the app. It is the gateway the routes call through, and HTTP's own settings. */
export interface HubContext extends Gateway {
  readonly tenancy: Tenancy;
  readonly maxBodyBytes: number;
  readonly stores: HubStores;
  /** Vector stores and their search; absent where the backend has no chunk index. */
  readonly knowledge?: KnowledgeService | undefined;
  /** Eval runs through the API (present when the stores keep runs). */
  readonly evals?: EvalRunService | undefined;
  /** Unix seconds the hub started, reported as `created` in /v1/models. */
  readonly startedAt: number;
}
