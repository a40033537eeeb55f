/**
 * A scripted ModelCaller for the virtual-model tests: per public model name, a list of answers
 * (or errors) handed out in call order, with every call recorded (model, request, start and end
 * times) so tests can assert who was called, with what, and what overlapped.
 */
import { HubError } from '../../src/core/errors.js';
import type { EmbedCallResult, ModelCaller, RerankCallResult, RetrievalQuery, SubCallResult } from '../../src/core/model.js';
import type { ChatEvent, ChatRequest, Message, ReasoningPart, RetrievedPassage, ToolCall, Usage } from '../../src/core/types.js';

export interface Scripted {
  readonly text?: string;
  /** How stream() splits the text into events; default: three roughly equal pieces. */
  readonly chunks?: readonly string[];
  readonly error?: Error;
  readonly delayMs?: number;
  readonly usage?: Usage;
  readonly costUsd?: number;
  readonly logprobs?: readonly number[];
  readonly toolCalls?: readonly ToolCall[];
  readonly reasoning?: string;
  /** Whole reasoning parts of a complete() answer (opaque provider data included); wins over `reasoning`. */
  readonly reasoningParts?: readonly ReasoningPart[];
}

export type ScriptItem = string | Error | Scripted;
/** A fixed item, or one computed from the request and the call's number for this model (0-based). */
export type Script = ScriptItem | ((request: ChatRequest, n: number) => ScriptItem);

export interface CallRecord {
  readonly model: string;
  readonly kind: 'complete' | 'stream';
  readonly request: ChatRequest;
  readonly startedAt: number;
  endedAt?: number;
  error?: string;
}

export interface FakeOptions {
  /** Worst-case USD per call by model; absent means unknown price. */
  readonly prices?: Readonly<Record<string, number>>;
  /** Default delay of every call. */
  readonly delayMs?: number;
  /** What retrieve() finds (or the error it fails with); by default it finds nothing. */
  readonly passages?: readonly RetrievedPassage[] | Error;
}

export const DEFAULT_USAGE: Usage = { inputTokens: 10, outputTokens: 5 };

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(new DOMException('aborted', 'AbortError'));
    const t = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(new DOMException('aborted', 'AbortError'));
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

function splitInto3(text: string): string[] {
  if (text.length < 3) return [text];
  const a = Math.floor(text.length / 3);
  return [text.slice(0, a), text.slice(a, 2 * a), text.slice(2 * a)];
}

export class FakeCaller implements ModelCaller {
  readonly calls: CallRecord[] = [];
  private readonly counts = new Map<string, number>();
  private readonly scripts: Map<string, Script | Script[]>;

  /** `scripts[model]`: one Script used for every call, or a list used in order (the last one repeats). */
  constructor(
    scripts: Record<string, Script | Script[]>,
    private readonly options: FakeOptions = {},
  ) {
    this.scripts = new Map(Object.entries(scripts));
  }

  callsTo(model: string): CallRecord[] {
    return this.calls.filter((c) => c.model === model);
  }

  private next(model: string, request: ChatRequest): Scripted {
    const script = this.scripts.get(model);
    if (script === undefined) return { error: new HubError('not_found', `The model '${model}' does not exist.`) };
    const n = this.counts.get(model) ?? 0;
    this.counts.set(model, n + 1);
    const s = Array.isArray(script) ? (script[Math.min(n, script.length - 1)] as Script) : script;
    const item = typeof s === 'function' ? s(request, n) : s;
    if (typeof item === 'string') return { text: item };
    if (item instanceof Error) return { error: item };
    return item;
  }

  worstCaseUsd(model: string, _request: ChatRequest): number | undefined {
    return this.options.prices?.[model];
  }

  /** The retrieve() calls made, in order. */
  readonly retrievals: RetrievalQuery[] = [];

  async retrieve(query: RetrievalQuery, _signal: AbortSignal): Promise<RetrievedPassage[]> {
    this.retrievals.push(query);
    const p = this.options.passages ?? [];
    if (p instanceof Error) throw p;
    return p.slice(0, query.maxResults);
  }

  /** The ensemble kinds make chat calls only: an embeddings or rerank call is a bug in the kind under test. */
  embed(model: string): Promise<EmbedCallResult> {
    return Promise.reject(new HubError('internal', `FakeCaller scripts chat only; '${model}' was asked for embeddings`));
  }

  rerank(model: string): Promise<RerankCallResult> {
    return Promise.reject(new HubError('internal', `FakeCaller scripts chat only; '${model}' was asked to rerank`));
  }

  async complete(model: string, request: ChatRequest, signal: AbortSignal): Promise<SubCallResult> {
    const record: CallRecord = { model, kind: 'complete', request, startedAt: performance.now() };
    this.calls.push(record);
    const s = this.next(model, request);
    try {
      await sleep(s.delayMs ?? this.options.delayMs ?? 0, signal);
      if (s.error) throw s.error;
      const result = {
        id: `fake_${this.calls.length}`,
        model,
        choices: [
          {
            index: 0,
            text: s.text ?? '',
            reasoning: s.reasoningParts ?? (s.reasoning ? [{ type: 'reasoning' as const, text: s.reasoning }] : []),
            toolCalls: s.toolCalls ?? [],
            finishReason: s.toolCalls?.length ? ('tool_calls' as const) : ('stop' as const),
          },
        ],
        usage: s.usage ?? DEFAULT_USAGE,
        costUsd: s.costUsd ?? this.options.prices?.[model],
        latencyMs: s.delayMs ?? 0,
        ...(s.logprobs && { logprobs: s.logprobs }),
      };
      return result;
    } catch (err) {
      record.error = err instanceof Error ? err.message : String(err);
      throw err;
    } finally {
      record.endedAt = performance.now();
    }
  }

  async *stream(model: string, request: ChatRequest, signal: AbortSignal): AsyncIterable<ChatEvent> {
    const record: CallRecord = { model, kind: 'stream', request, startedAt: performance.now() };
    this.calls.push(record);
    const s = this.next(model, request);
    try {
      await sleep(s.delayMs ?? this.options.delayMs ?? 0, signal);
      if (s.error) throw s.error;
      yield { type: 'start', id: `fake_${this.calls.length}`, model };
      if (s.reasoning) yield { type: 'reasoning', choice: 0, text: s.reasoning };
      for (const chunk of s.chunks ?? splitInto3(s.text ?? '')) {
        await sleep(1, signal);
        yield { type: 'text', choice: 0, text: chunk };
      }
      for (const [index, t] of (s.toolCalls ?? []).entries()) {
        yield { type: 'tool_call', choice: 0, index, id: t.id, name: t.name, arguments: t.arguments };
      }
      yield { type: 'finish', choice: 0, reason: s.toolCalls?.length ? 'tool_calls' : 'stop' };
      yield { type: 'usage', usage: s.usage ?? DEFAULT_USAGE };
    } catch (err) {
      record.error = err instanceof Error ? err.message : String(err);
      throw err;
    } finally {
      record.endedAt = performance.now();
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Helpers shared by the tests

export function ask(text: string, extra: Partial<ChatRequest> = {}): ChatRequest {
  return { model: 'virtual', messages: [{ role: 'user', content: [{ type: 'text', text }] }], ...extra };
}

/** Every message of a request as one string, for `toContain` assertions. */
export function allText(messages: readonly Message[]): string {
  return messages
    .map((m) => {
      if (m.role === 'user') return m.content.map((p) => (p.type === 'text' ? p.text : '')).join('');
      return m.content;
    })
    .join('\n');
}

export async function events(model: { stream(r: ChatRequest, s: AbortSignal): AsyncIterable<ChatEvent> }, request: ChatRequest, signal = new AbortController().signal): Promise<ChatEvent[]> {
  const out: ChatEvent[] = [];
  for await (const e of model.stream(request, signal)) out.push(e);
  return out;
}

export async function failure(p: Promise<unknown>): Promise<HubError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof HubError) return err;
    throw err;
  }
  throw new Error('expected a HubError, got success');
}

export function textOf(evs: readonly ChatEvent[]): string {
  return evs.map((e) => (e.type === 'text' ? e.text : '')).join('');
}

export function traceOf(evs: readonly ChatEvent[]): Extract<ChatEvent, { type: 'trace' }> {
  const t = evs.filter((e) => e.type === 'trace');
  if (t.length !== 1) throw new Error(`expected one trace event, got ${t.length}`);
  return t[0] as Extract<ChatEvent, { type: 'trace' }>;
}

export function usageOf(evs: readonly ChatEvent[]): Usage {
  const u = evs.filter((e) => e.type === 'usage');
  if (u.length !== 1) throw new Error(`expected one usage event, got ${u.length}`);
  return (u[0] as Extract<ChatEvent, { type: 'usage' }>).usage;
}

/** start first, then answer events, then exactly one trace, then exactly one usage, last. */
export function expectShape(evs: readonly ChatEvent[]): void {
  const types = evs.map((e) => e.type);
  if (types[0] !== 'start') throw new Error(`first event is ${types[0]}, not start`);
  if (types.at(-1) !== 'usage' || types.at(-2) !== 'trace') throw new Error(`events end ${types.slice(-2).join(',')}, not trace,usage`);
  if (types.filter((t) => t === 'start').length !== 1) throw new Error('more than one start');
  if (types.filter((t) => t === 'finish').length !== 1) throw new Error('expected one finish');
  if (types.indexOf('finish') > types.indexOf('trace')) throw new Error('finish after trace');
}
