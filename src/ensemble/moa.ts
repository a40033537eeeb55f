/**
 * moa (Mixture of Agents, Wang et al. 2024): proposers answer the client's conversation in
 * parallel; with layers > 1, each later layer's proposers answer again with the previous layer's
 * answers in the aggregate-and-synthesize system prompt (prompts.ts); the aggregator gets every
 * final-layer answer in the same prompt and its answer, streamed, is the response.
 *
 * Proposers may not call tools (toolChoice 'none'); the aggregator gets the client's tools.
 * Fan-out: proposers × layers + 1, checked (with the estimated worst cost) before any call.
 * Quorum (default: a majority of the proposers) must answer in every layer.
 */
import { z } from 'zod';
import type { Model, ModelCaller } from '../core/model.js';
import type { ChatEvent, ChatRequest } from '../core/types.js';
import { commonFields, defineVirtualKind, majority, modelName, positiveInt } from './config.js';
import { moaMessages } from './prompts.js';
import { Run, assertSingleChoice, memberRequest } from './run.js';
import type { VirtualModelOptions } from './run.js';

export const moaSchema = z
  .strictObject({
    kind: z.literal('moa'),
    ...commonFields,
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

export type MoaConfig = z.infer<typeof moaSchema>;

export class MoaModel implements Model {
  readonly provider = 'virtual:moa';
  readonly name: string;

  constructor(
    readonly config: MoaConfig,
    private readonly caller: ModelCaller,
    options: VirtualModelOptions = {},
  ) {
    this.name = options.name ?? 'moa';
  }

  async *stream(request: ChatRequest, signal: AbortSignal): AsyncIterable<ChatEvent> {
    assertSingleChoice(request, this.name);
    const { config } = this;
    const run = new Run({ name: this.name, kind: 'moa', maxCalls: config.maxCalls, maxCostUsd: config.maxCostUsd, timeoutMs: config.timeoutMs }, this.caller, signal);
    const p = config.proposers.length;
    const quorum = Math.min(config.quorum ?? majority(p), p);

    const planned = [];
    for (let l = 0; l < config.layers; l++) {
      for (const m of config.proposers) planned.push({ model: m, request: memberRequest(request, m, { tools: false }) });
    }
    planned.push({ model: config.aggregator, request: memberRequest(request, config.aggregator, { tools: true }) });
    run.preflight(`moa with ${p} proposers × ${config.layers} layer(s) + aggregator`, planned);

    let previous: string[] = [];
    const answered: number[] = [];
    for (let layer = 1; layer <= config.layers; layer++) {
      const messages = layer === 1 ? request.messages : moaMessages(request.messages, previous);
      const calls = config.proposers.map((m, j) => ({
        model: m,
        request: memberRequest({ ...request, messages }, m, { tools: false }),
        detail: { layer, proposer: j + 1 },
        label: `proposer ${m} (layer ${layer})`,
      }));
      const answers = await run.callGroup('proposer', calls, quorum, { noun: 'proposers', where: `layer ${layer}` });
      const texts = answers.map((a) => a.answer.text);
      previous = texts;
      answered.push(texts.length);
    }

    const aggregate = memberRequest({ ...request, messages: moaMessages(request.messages, previous) }, config.aggregator, { tools: true });
    yield* run.streamFinal('aggregator', 'aggregator', config.aggregator, aggregate, { answers: previous.length });
    yield* run.finish({ layers: config.layers, proposers: p, answeredPerLayer: answered });
  }
}

/** The `moa` kind: its config, the models it calls and its constructor (listed in kinds.ts). */
export const moaKind = defineVirtualKind({
  kind: 'moa',
  schema: moaSchema,
  members: (c) => [...c.proposers, c.aggregator],
  create: (c, caller, options) => new MoaModel(c, caller, options),
});
