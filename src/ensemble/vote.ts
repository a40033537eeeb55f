/**
 * vote (self-consistency): N samples spread round-robin over the models (sample i goes to
 * models[i mod M]), in parallel; each sample's final answer is extracted; the majority wins.
 *
 * Tie-break: among answers with the most votes, the one that first appears earliest in sample
 * order wins, and the response is the full text of that first sample. Samples get the client's
 * whole request (tools included, as a sample is returned as is; tool calls are not voted on);
 * `temperature` in the config overrides the client's, and a client `seed` becomes seed + i so
 * samples differ.
 *
 * Ceilings: all N samples are admitted before any is made; when fewer than the quorum fit, none
 * is made and the request fails with `ceiling_exceeded`; otherwise the vote runs with those that
 * fit. Quorum (default: a majority of N) counts samples that answered.
 */
import { z } from 'zod';
import type { Model, ModelCaller } from '../core/model.js';
import type { ChatEvent, ChatRequest } from '../core/types.js';
import { commonFields, defineVirtualKind, extractSchema, majority, modelName, positiveInt, voteSamples } from './config.js';
import { extractAnswer, tally } from './extract.js';
import { Run, assertSingleChoice, memberRequest } from './run.js';
import type { Answer, VirtualModelOptions } from './run.js';

export const voteSchema = z
  .strictObject({
    kind: z.literal('vote'),
    ...commonFields,
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

export type VoteConfig = z.infer<typeof voteSchema>;

/** Sample i's request: the client's, with the config's temperature and a per-sample seed. */
export function sampleRequest(request: ChatRequest, model: string, i: number, temperature: number | undefined): ChatRequest {
  const r = memberRequest(request, model, { tools: true });
  return {
    ...r,
    ...(temperature !== undefined && { temperature }),
    ...(request.seed !== undefined && { seed: request.seed + i }),
  };
}

export class VoteModel implements Model {
  readonly provider = 'virtual:vote';
  readonly name: string;

  constructor(
    readonly config: VoteConfig,
    private readonly caller: ModelCaller,
    options: VirtualModelOptions = {},
  ) {
    this.name = options.name ?? 'vote';
  }

  async *stream(request: ChatRequest, signal: AbortSignal): AsyncIterable<ChatEvent> {
    assertSingleChoice(request, this.name);
    const { config } = this;
    const run = new Run({ name: this.name, kind: 'vote', maxCalls: config.maxCalls, maxCostUsd: config.maxCostUsd, timeoutMs: config.timeoutMs }, this.caller, signal);
    const n = voteSamples(config);
    const quorum = Math.min(config.quorum ?? majority(n), n);
    if (n > config.maxCalls) throw run.ceilingError({ reason: 'max_calls', message: `a vote of ${n} samples needs ${n} calls but maxCalls is ${config.maxCalls}` });

    const calls = Array.from({ length: n }, (_, i) => {
      const model = config.models[i % config.models.length]!;
      return { model, request: sampleRequest(request, model, i, config.temperature), detail: { sample: i + 1 }, label: `sample ${i + 1} (${model})` };
    });
    const answered = await run.callGroup('sample', calls, quorum, { noun: 'samples' });
    const succeeded = answered.length;
    const answers: (Answer | undefined)[] = new Array<Answer | undefined>(n).fill(undefined);
    for (const { i, answer } of answered) answers[i] = answer;

    const extracted = answers.map((a) => (a === undefined ? undefined : extractAnswer(a.text, config.extract)));
    answers.forEach((a, i) => {
      if (a) run.annotate(a.step, { extracted: extracted[i] ?? null });
    });
    const t = tally(extracted);
    // No sample had a readable answer: fall back to the first sample that answered.
    const winnerIndex = t.winnerIndex ?? answers.findIndex((a) => a !== undefined);
    const winner = answers[winnerIndex]!;
    run.annotate(winner.step, { winner: true });

    yield* run.emitAnswer(winner);
    yield* run.finish({
      extract: config.extract,
      samples: n,
      succeeded,
      winner: t.winner ?? null,
      winnerSample: winnerIndex + 1,
      votes: t.votes,
      valid: t.valid,
      agreement: t.valid === 0 ? 0 : t.votes / t.valid,
      tally: Object.fromEntries(t.counts),
      answers: extracted.map((a) => a ?? null),
      ...(t.winner === undefined && { note: 'no sample had an answer of the expected shape; returning the first sample' }),
    });
  }
}

/** The `vote` kind: its config, the models it calls and its constructor (listed in kinds.ts). */
export const voteKind = defineVirtualKind({
  kind: 'vote',
  schema: voteSchema,
  members: (c) => c.models,
  create: (c, caller, options) => new VoteModel(c, caller, options),
});
