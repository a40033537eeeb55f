/**
 * rag: a knowledge-grounded virtual model. It searches its vector stores for the last user
 * message, puts the passages it found in front of the conversation (numbered, with the
 * instruction to cite them as [n]), and streams its member model's answer, announcing what it
 * found first (a `retrieval` event: Responses clients get a file_search_call item and
 * file_citation annotations, chat and Anthropic clients a `baimo_retrieval` field). Chat
 * completions and messages clients get grounded answers without changing a line.
 *
 * The search (and its embedding and rerank calls) goes through the call's caller, so it is
 * admitted and charged to the caller's key like the answer itself. The stores are the admin's
 * choice in the config, so whoever may call the model may read what it cites.
 */
import { z } from 'zod';
import { HubError } from '../core/errors.js';
import type { Model, ModelCaller } from '../core/model.js';
import type { ChatEvent, ChatRequest, RetrievedPassage } from '../core/types.js';
import { commonFields, defineVirtualKind, modelName } from '../ensemble/config.js';
import { assertSingleChoice, memberRequest, Run } from '../ensemble/run.js';
import type { VirtualModelOptions } from '../ensemble/run.js';
import { groundedRequest, lastUserText } from './grounding.js';

export const ragSchema = z.strictObject({
  kind: z.literal('rag'),
  ...commonFields,
  /** The model that answers. */
  model: modelName,
  /** Vector store ids (`vs_…`) searched for every request. */
  vectorStores: z.array(z.string().min(1).max(200)).min(1).max(100),
  /** Passages put in front of the model (1–50, as file_search's max_num_results). */
  maxResults: z.number().int().min(1).max(50).default(8),
  /** 0…1: passages scoring lower are left out. */
  scoreThreshold: z.number().min(0).max(1).optional(),
  /** An attribute filter (OpenAI's comparison or compound filter) applied to every search. */
  filters: z.record(z.string(), z.unknown()).optional(),
  /**
   * The grounding instructions, in a system message before the conversation: `{{sources}}` is
   * replaced by the numbered passages (appended when absent), `{{query}}` by what was searched for.
   */
  template: z.string().min(1).max(20_000).optional(),
});

export type RagConfig = z.infer<typeof ragSchema>;

export class RagModel implements Model {
  readonly provider = 'virtual:rag';
  readonly name: string;

  constructor(
    readonly config: RagConfig,
    private readonly caller: ModelCaller,
    options: VirtualModelOptions = {},
  ) {
    this.name = options.name ?? 'rag';
  }

  /** The passages for `query`; a configured store that is gone is the operator's to fix, not the client's. */
  private async search(query: string, signal: AbortSignal): Promise<RetrievedPassage[]> {
    const c = this.config;
    try {
      return await this.caller.retrieve(
        { vectorStoreIds: c.vectorStores, query, maxResults: c.maxResults, ...(c.scoreThreshold !== undefined && { scoreThreshold: c.scoreThreshold }), ...(c.filters && { filters: c.filters }) },
        signal,
      );
    } catch (err) {
      if (err instanceof HubError && err.kind === 'not_found') {
        throw new HubError('internal', `Virtual model '${this.name}' is configured with a vector store that does not exist (${err.message}) — the hub's operator must fix virtualModels.${this.name}.vectorStores.`);
      }
      throw err;
    }
  }

  async *stream(request: ChatRequest, signal: AbortSignal): AsyncIterable<ChatEvent> {
    assertSingleChoice(request, this.name);
    const c = this.config;
    const run = new Run({ name: this.name, kind: 'rag', maxCalls: c.maxCalls, maxCostUsd: c.maxCostUsd, timeoutMs: c.timeoutMs }, this.caller, signal);
    const query = lastUserText(request);
    const passages: RetrievedPassage[] = query ? await this.search(query, signal) : [];
    const retrieval: ChatEvent = { type: 'retrieval', queries: query ? [query] : [], results: passages };
    const grounded = groundedRequest(memberRequest(request, c.model, { tools: true }), passages, query, c.template);
    let announced = false;
    for await (const e of run.streamFinal('answer', 'model', c.model, grounded, { passages: passages.length })) {
      yield e;
      // Right after the start: an answer that fails before its first token still fails cleanly.
      if (e.type === 'start' && !announced) {
        announced = true;
        yield retrieval;
      }
    }
    yield* run.finish({ query, passages: passages.length, files: [...new Set(passages.map((p) => p.fileId))].length });
  }
}

export const ragKind = defineVirtualKind({
  kind: 'rag',
  schema: ragSchema,
  members: (c) => [c.model],
  create: (c, caller, options) => new RagModel(c, caller, options),
});
