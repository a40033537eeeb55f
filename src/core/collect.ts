import type { ChatEvent, FinishReason, ProviderMetadata, ReasoningPart, RetrievedPassage, TokenLogprob, ToolCall, TraceStep, Usage } from './types.js';

export interface CollectedChoice {
  readonly index: number;
  readonly text: string;
  readonly reasoning: readonly ReasoningPart[];
  readonly toolCalls: readonly ToolCall[];
  readonly finishReason: FinishReason | null;
  readonly stopSequence?: string;
  /** Token log-probabilities of the text, when the provider returned them. */
  readonly logprobs?: readonly TokenLogprob[];
}

export interface Collected {
  readonly id: string;
  readonly model: string;
  readonly choices: readonly CollectedChoice[];
  readonly usage: Usage | undefined;
  /** A virtual model's sub-calls, when the answer came from one. */
  readonly trace?: { readonly steps: readonly TraceStep[]; readonly summary?: Readonly<Record<string, unknown>> };
  /** What a knowledge-grounded answer searched for and found. */
  readonly retrieval?: { readonly queries: readonly string[]; readonly results: readonly RetrievedPassage[] };
}

interface MutableChoice {
  text: string;
  reasoning: { text: string; providerMetadata?: ProviderMetadata }[];
  calls: { id: string; name: string; arguments: string }[];
  finishReason: FinishReason | null;
  stopSequence?: string;
  logprobs?: TokenLogprob[];
}

/** Whether opaque data is a whole block of its own (a redacted one) rather than a block's end. */
function isRedacted(meta: ProviderMetadata): boolean {
  for (const family in meta) if (meta[family]?.redacted !== undefined) return true;
  return false;
}

/** Folds a stream of events into whole choices. Tool-call deltas join by their index. */
export class Collector {
  id = '';
  model = '';
  usage: Usage | undefined;
  trace: Collected['trace'];
  retrieval: Collected['retrieval'];
  private readonly choices: MutableChoice[] = [];

  private choice(i: number): MutableChoice {
    let c = this.choices[i];
    if (!c) {
      c = { text: '', reasoning: [], calls: [], finishReason: null };
      this.choices[i] = c;
    }
    return c;
  }

  add(e: ChatEvent): void {
    switch (e.type) {
      case 'start':
        this.id = e.id;
        this.model = e.model;
        return;
      case 'text': {
        const c = this.choice(e.choice);
        c.text += e.text;
        if (e.logprobs) (c.logprobs ??= []).push(...e.logprobs);
        return;
      }
      case 'reasoning': {
        const c = this.choice(e.choice);
        const meta = e.providerMetadata;
        if (meta !== undefined && isRedacted(meta)) {
          c.reasoning.push({ text: '', providerMetadata: meta });
          return;
        }
        // A block ends at its opaque data (its signature).
        let last = c.reasoning[c.reasoning.length - 1];
        if (!last || last.providerMetadata !== undefined) {
          last = { text: '' };
          c.reasoning.push(last);
        }
        last.text += e.text;
        if (meta !== undefined) last.providerMetadata = meta;
        return;
      }
      case 'tool_call': {
        const c = this.choice(e.choice);
        let call = c.calls[e.index];
        if (!call) {
          call = { id: '', name: '', arguments: '' };
          c.calls[e.index] = call;
        }
        if (e.id) call.id = e.id;
        if (e.name) call.name += e.name;
        call.arguments += e.arguments;
        return;
      }
      case 'finish': {
        const c = this.choice(e.choice);
        c.finishReason = e.reason;
        if (e.stopSequence !== undefined) c.stopSequence = e.stopSequence;
        return;
      }
      case 'usage':
        this.usage = e.usage;
        return;
      case 'trace':
        this.trace = { steps: e.steps, ...(e.summary && { summary: e.summary }) };
        return;
      case 'retrieval':
        this.retrieval = { queries: e.queries, results: e.results };
        return;
    }
  }

  result(): Collected {
    const choices: CollectedChoice[] = [];
    for (let i = 0; i < Math.max(this.choices.length, 1); i++) {
      const c = this.choices[i] ?? { text: '', reasoning: [], calls: [], finishReason: null };
      choices.push({
        index: i,
        text: c.text,
        reasoning: c.reasoning.map((r) => ({ type: 'reasoning' as const, ...r })),
        toolCalls: c.calls.filter(Boolean),
        finishReason: c.finishReason,
        ...(c.stopSequence !== undefined && { stopSequence: c.stopSequence }),
        ...(c.logprobs && { logprobs: c.logprobs }),
      });
    }
    return { id: this.id, model: this.model, choices, usage: this.usage, ...(this.trace && { trace: this.trace }), ...(this.retrieval && { retrieval: this.retrieval }) };
  }
}

export async function collect(events: AsyncIterable<ChatEvent>): Promise<Collected> {
  const c = new Collector();
  for await (const e of events) c.add(e);
  return c.result();
}
