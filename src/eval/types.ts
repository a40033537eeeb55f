/**
 * What an evaluation run needs from the hub, narrowed to what it uses: a chat answer with its
 * usage, cost and latency, embeddings for `similar`, and the most a call can cost (for the run's
 * `maxCostUsd`). In process it is the gateway (eval/caller.ts); remote, plain HTTP to a running
 * hub. `embed` mirrors the `ModelCaller.embed` another branch adds to core/model.ts: adapt the
 * in-process caller to it at merge.
 */
import type { ChatRequest, ToolCall, Usage } from '../core/types.js';

export interface EvalAnswer {
  readonly text: string;
  readonly toolCalls: readonly ToolCall[];
  readonly usage: Usage | undefined;
  /** USD; undefined when the price is unknown. */
  readonly costUsd: number | undefined;
  readonly latencyMs: number;
  /** The request id the call was recorded under (the run id is its prefix). */
  readonly requestId?: string;
}

export interface EvalEmbeddings {
  readonly vectors: readonly Float32Array[];
  readonly usage: Usage | undefined;
  readonly costUsd: number | undefined;
  readonly latencyMs: number;
}

export interface EvalCaller {
  complete(model: string, request: ChatRequest, signal: AbortSignal): Promise<EvalAnswer>;
  embed(model: string, inputs: readonly string[], signal: AbortSignal): Promise<EvalEmbeddings>;
  /** The most the call can cost in USD; undefined when unknown (no price, remote hub). */
  worstCaseUsd(model: string, request: ChatRequest): number | undefined;
}

/** A suite's problem, with the YAML path it is about: the CLI exits 2 on it. */
export class SuiteError extends Error {
  override readonly name = 'SuiteError';
}
