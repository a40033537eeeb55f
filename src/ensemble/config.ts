/**
 * What the virtual-model kinds share: the fields every kind's config has, the cascade check and
 * vote extract schemas, fan-out arithmetic, and the shape of a kind (`VirtualKindDefinition`).
 * Each kind's own schema lives in its file (cascade.ts, vote.ts, …) and kinds.ts lists them.
 * Member names are public model names (anything a client could call, other virtual models
 * included). Fan-out that is known from the config alone is checked against `maxCalls` in each
 * kind's schema, so a config that could never run is rejected when it loads.
 */
import { z } from 'zod';
import type { Model, ModelCaller } from '../core/model.js';
import type { VirtualModelOptions } from './run.js';

export const DEFAULT_MAX_CALLS = 16;

export const modelName = z.string().min(1);
export const positiveInt = z.number().int().positive();

/** Fields every kind has. */
export const commonFields = {
  description: z.string().optional(),
  /** Most sub-calls one request may make (fan-out ceiling). */
  maxCalls: positiveInt.max(1000).default(DEFAULT_MAX_CALLS),
  /** Most USD one request may spend on sub-calls, judged by each call's worst case before it is made. */
  maxCostUsd: z.number().positive().optional(),
  /** Members that must succeed; the default depends on the kind (see each schema). */
  quorum: positiveInt.optional(),
  /** Longest one intermediate sub-call may take; a member that runs longer counts as failed. */
  timeoutMs: positiveInt.optional(),
};

/** JSON Schema subset zod can compile (zod 4 `z.fromJSONSchema`). */
function compilesJsonSchema(schema: Record<string, unknown>): string | undefined {
  try {
    z.fromJSONSchema(schema as Parameters<typeof z.fromJSONSchema>[0]);
    return undefined;
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
}

function compilesRegex(pattern: string, flags: string | undefined): string | undefined {
  try {
    new RegExp(pattern, flags);
    return undefined;
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
}

export const checkSchema = z.discriminatedUnion('type', [
  z.strictObject({
    type: z.literal('verifier'),
    /** The model that judges each answer. */
    model: modelName,
    /** Replaces the default criteria; the PASS/FAIL verdict format is always appended. */
    prompt: z.string().min(1).optional(),
  }),
  z.strictObject({
    type: z.literal('logprobs'),
    /** Accept when the mean token logprob is at least this (e.g. -0.3; 0 is certainty). */
    minAvgLogprob: z.number().max(0),
    /** What to do when an answer carries no logprobs: escalate (default) or accept. */
    onMissing: z.enum(['escalate', 'accept']).default('escalate'),
  }),
  z
    .strictObject({
      type: z.literal('json_schema'),
      /** The answer must be JSON (whitespace aside) that validates against this JSON Schema. */
      schema: z.record(z.string(), z.unknown()),
    })
    .superRefine((c, ctx) => {
      const problem = compilesJsonSchema(c.schema);
      if (problem) ctx.addIssue({ code: 'custom', path: ['schema'], message: `unsupported JSON Schema: ${problem}` });
    }),
  z
    .strictObject({
      type: z.literal('regex'),
      /** The answer passes when this pattern matches somewhere in its text. */
      pattern: z.string().min(1),
      flags: z.string().regex(/^[dgimsuvy]*$/, 'expected JavaScript regex flags').optional(),
    })
    .superRefine((c, ctx) => {
      const problem = compilesRegex(c.pattern, c.flags);
      if (problem) ctx.addIssue({ code: 'custom', path: ['pattern'], message: problem });
    }),
]);

export const extractSchema = z.union([
  z.enum(['last_number', 'choice_letter', 'normalized_text']),
  z.strictObject({ json_field: z.string().min(1) }),
]);

export type CascadeCheck = z.infer<typeof checkSchema>;
export type VoteExtract = z.infer<typeof extractSchema>;

/**
 * One kind of virtual model: everything the hub needs to know about it. A new kind is a file that
 * exports one of these (see `defineVirtualKind`) and a line in kinds.ts.
 */
export interface VirtualKindDefinition<K extends string = string, S extends z.ZodType<{ kind: K }> = z.ZodType<{ kind: K }>, M extends Model = Model> {
  readonly kind: K;
  /** The config a file may write under `virtualModels.<name>`, with `kind: <kind>`. */
  readonly schema: S;
  /** Every public model name a config of this kind may call (duplicates are dropped by the caller). */
  members(config: z.infer<S>): readonly string[];
  /** The model for a parsed config; every sub-call goes through `caller`. */
  create(config: z.infer<S>, caller: ModelCaller, options: VirtualModelOptions): M;
}

/** Types a kind's definition (kind, schema, members, constructor) without repeating its type parameters. */
export function defineVirtualKind<K extends string, S extends z.ZodType<{ kind: K }>, M extends Model>(d: VirtualKindDefinition<K, S, M>): VirtualKindDefinition<K, S, M> {
  return d;
}

/** Samples a vote takes. */
export function voteSamples(c: { readonly models: readonly string[]; readonly samples?: number | undefined }): number {
  return c.samples ?? Math.max(c.models.length, 3);
}

/** Candidate answers a judge compares. */
export function judgeSamples(c: { readonly candidates: readonly string[]; readonly samples?: number | undefined }): number {
  return c.samples ?? c.candidates.length;
}

/** Most calls a judge makes for n candidates: n answers, then n scores or n − 1 knockout matches. */
export function judgeFanOut(n: number, mode: 'pointwise' | 'pairwise'): number {
  if (n <= 1) return n;
  return n + (mode === 'pointwise' ? n : n - 1);
}

/** Majority of n: the default quorum of vote, moa and judge. */
export function majority(n: number): number {
  return Math.floor(n / 2) + 1;
}

