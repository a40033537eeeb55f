/**
 * Config of the "integrated AI" virtual models: one entry per kind, a discriminated union on
 * `kind`. Member names are public model names (anything a client could call, other virtual models
 * included). Fan-out that is known from the config alone is checked against `maxCalls` here, so a
 * config that could never run is rejected when it loads.
 */
import { z } from 'zod';

export const VIRTUAL_KINDS = ['cascade', 'vote', 'moa', 'judge', 'decompose'] as const;
export type VirtualKind = (typeof VIRTUAL_KINDS)[number];

export const DEFAULT_MAX_CALLS = 16;

const modelName = z.string().min(1);
const positiveInt = z.number().int().positive();

/** Fields every kind has. */
const common = {
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

const checkSchema = z.discriminatedUnion('type', [
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

const extractSchema = z.union([
  z.enum(['last_number', 'choice_letter', 'normalized_text']),
  z.strictObject({ json_field: z.string().min(1) }),
]);

const cascadeSchema = z.strictObject({
  kind: z.literal('cascade'),
  ...common,
  /** Cheapest first; the next is tried only when the previous answer fails the check (or the call fails). */
  models: z.array(modelName).min(1),
  check: checkSchema,
});

const voteSchema = z
  .strictObject({
    kind: z.literal('vote'),
    ...common,
    /** Samples are spread round-robin over these. */
    models: z.array(modelName).min(1),
    /** Number of samples N. Default: the number of models, at least 3. */
    samples: positiveInt.max(1000).optional(),
    /** How to read each sample's final answer. Default: normalized_text. */
    extract: extractSchema.default('normalized_text'),
    /** Overrides the client's temperature for samples (self-consistency wants some randomness). */
    temperature: z.number().min(0).max(2).optional(),
  })
  .superRefine((c, ctx) => {
    const n = voteSamples(c);
    if (n > c.maxCalls) ctx.addIssue({ code: 'custom', path: ['samples'], message: `${n} samples exceed maxCalls (${c.maxCalls})` });
    if (c.quorum !== undefined && c.quorum > n) ctx.addIssue({ code: 'custom', path: ['quorum'], message: `quorum ${c.quorum} exceeds the ${n} samples` });
  });

const moaSchema = z
  .strictObject({
    kind: z.literal('moa'),
    ...common,
    proposers: z.array(modelName).min(1),
    aggregator: modelName,
    /** Proposer layers; each layer after the first sees the previous layer's answers. */
    layers: positiveInt.max(10).default(1),
  })
  .superRefine((c, ctx) => {
    const n = c.proposers.length * c.layers + 1;
    if (n > c.maxCalls) ctx.addIssue({ code: 'custom', path: ['maxCalls'], message: `moa needs ${n} calls (proposers × layers + 1) but maxCalls is ${c.maxCalls}` });
    if (c.quorum !== undefined && c.quorum > c.proposers.length) ctx.addIssue({ code: 'custom', path: ['quorum'], message: `quorum ${c.quorum} exceeds the ${c.proposers.length} proposers` });
  });

const judgeSchema = z
  .strictObject({
    kind: z.literal('judge'),
    ...common,
    /** Candidate models; samples are spread round-robin over them (one model + samples: best of N). */
    candidates: z.array(modelName).min(1),
    /** Number of candidate answers. Default: one per candidate model. */
    samples: positiveInt.max(1000).optional(),
    judge: modelName,
    mode: z.enum(['pointwise', 'pairwise']).default('pointwise'),
    /** What the judge looks for; a general helpfulness/correctness rubric by default. */
    rubric: z.string().min(1).optional(),
    /** Overrides the client's temperature for candidates. */
    temperature: z.number().min(0).max(2).optional(),
  })
  .superRefine((c, ctx) => {
    const n = judgeSamples(c);
    const calls = judgeFanOut(n, c.mode);
    if (calls > c.maxCalls) ctx.addIssue({ code: 'custom', path: ['maxCalls'], message: `judge needs ${calls} calls for ${n} candidates (${c.mode}) but maxCalls is ${c.maxCalls}` });
    if (c.quorum !== undefined && c.quorum > n) ctx.addIssue({ code: 'custom', path: ['quorum'], message: `quorum ${c.quorum} exceeds the ${n} candidates` });
  });

const workerSchema = z.strictObject({
  model: modelName,
  /** Skills the planner may assign to this worker, e.g. [code, math]. */
  skills: z.array(z.string().min(1)).default([]),
});

const decomposeSchema = z
  .strictObject({
    kind: z.literal('decompose'),
    ...common,
    planner: modelName,
    workers: z.array(workerSchema).min(1),
    synthesizer: modelName,
  })
  .superRefine((c, ctx) => {
    if (c.maxCalls < 3) ctx.addIssue({ code: 'custom', path: ['maxCalls'], message: 'decompose needs at least 3 calls (plan, one task, synthesis)' });
  });

export const virtualModelSchema = z.discriminatedUnion('kind', [cascadeSchema, voteSchema, moaSchema, judgeSchema, decomposeSchema]);

export type VirtualModelConfig = z.infer<typeof virtualModelSchema>;
/** What a config file may say (defaults not yet applied). */
export type VirtualModelInput = z.input<typeof virtualModelSchema>;
export type CascadeConfig = z.infer<typeof cascadeSchema>;
export type CascadeCheck = CascadeConfig['check'];
export type VoteConfig = z.infer<typeof voteSchema>;
export type VoteExtract = VoteConfig['extract'];
export type MoaConfig = z.infer<typeof moaSchema>;
export type JudgeConfig = z.infer<typeof judgeSchema>;
export type DecomposeConfig = z.infer<typeof decomposeSchema>;

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

/** Every public model name a virtual model may call, in config order, without duplicates. */
export function virtualModelMembers(c: VirtualModelConfig): string[] {
  const names: string[] = [];
  switch (c.kind) {
    case 'cascade':
      names.push(...c.models);
      if (c.check.type === 'verifier') names.push(c.check.model);
      break;
    case 'vote':
      names.push(...c.models);
      break;
    case 'moa':
      names.push(...c.proposers, c.aggregator);
      break;
    case 'judge':
      names.push(...c.candidates, c.judge);
      break;
    case 'decompose':
      names.push(c.planner, ...c.workers.map((w) => w.model), c.synthesizer);
      break;
  }
  return [...new Set(names)];
}
