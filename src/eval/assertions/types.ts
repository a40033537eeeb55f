/** What an assertion kind is and what it sees. Kinds are listed in assertions/index.ts. */
import type { ToolCall } from '../../core/types.js';
import type { Vars } from '../template.js';

/** One assertion as a suite writes it (after defaults: weight 1). */
export interface AssertionSpec {
  readonly type: string;
  readonly value?: unknown;
  readonly threshold?: number | undefined;
  readonly weight: number;
  readonly provider?: string | { readonly id: string } | undefined;
  readonly metric?: string | undefined;
}

/** A grader call, kept on the result: what was asked, what came back, the verdict drawn. */
export interface GraderRecord {
  readonly model: string;
  readonly prompt: string;
  readonly output: string;
  readonly costUsd: number | undefined;
  readonly cached: boolean;
}

export interface Check {
  readonly pass: boolean;
  /** 0..1. */
  readonly score: number;
  readonly reason: string;
  readonly grader?: GraderRecord;
}

/** What the answer under test was, and the hub for kinds that call a model. */
export interface AssertContext {
  readonly output: string;
  readonly toolCalls: readonly ToolCall[];
  readonly vars: Vars;
  /** The rendered prompt as text (the last user message), for graders that need the question. */
  readonly prompt: string;
  readonly costUsd: number | undefined;
  readonly latencyMs: number;
  /** A grader answer from `model` to a system and a user message (cached like any other call). */
  grade(model: string, system: string, user: string): Promise<{ text: string; costUsd: number | undefined; cached: boolean }>;
  /** Embeddings from `model`. */
  embed(model: string, inputs: readonly string[]): Promise<readonly Float32Array[]>;
  /** The grader and embedding models the test names (assertion `provider` wins). */
  readonly grader: string | undefined;
  readonly embedder: string | undefined;
}

export interface Kind {
  /** What `value` must be; checked at load so a bad suite fails before any call. */
  check?(a: AssertionSpec, where: string): void;
  run(a: AssertionSpec, ctx: AssertContext): Check | Promise<Check>;
}

export const binary = (pass: boolean, reason: string): Check => ({ pass, score: pass ? 1 : 0, reason });
