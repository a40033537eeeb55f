/**
 * One request through a virtual model: the ceilings (calls and cost) checked before every
 * sub-call, the trace of every sub-call, the summed usage, and the events the client sees.
 *
 * Event order: nothing until the final stage has produced its first event (so a failure in any
 * earlier stage is an ordinary error response, never a broken stream), then `start`, the final
 * answer's text/reasoning/tool_call/finish events, exactly one `trace`, exactly one `usage`
 * (summed over every sub-call).
 */
import { randomUUID } from 'node:crypto';
import { Collector } from '../core/collect.js';
import type { CollectedChoice } from '../core/collect.js';
import { HubError, toHubError } from '../core/errors.js';
import type { ModelCaller, SubCallResult } from '../core/model.js';
import type { ChatEvent, ChatRequest, TraceStep, Usage } from '../core/types.js';

/** Longest answer text a trace step keeps. */
export const TRACE_TEXT_LIMIT = 2000;

/** Construction options every virtual model takes. */
export interface VirtualModelOptions {
  /** The public name it is served under (messages, the start event). Default: its kind. */
  readonly name?: string;
}

export interface RunSettings {
  /** The virtual model's public name, for messages and the start event. */
  readonly name: string;
  readonly kind: string;
  readonly maxCalls: number;
  readonly maxCostUsd?: number | undefined;
  readonly timeoutMs?: number | undefined;
}

export interface Refusal {
  readonly reason: 'max_calls' | 'max_cost';
  readonly message: string;
}

/** A sub-call admitted under the ceilings and not yet made. */
export interface Ticket {
  readonly model: string;
  readonly request: ChatRequest;
  /** Its worst-case cost in USD (0 when the price is unknown). */
  readonly worstUsd: number;
}

export interface Answer {
  readonly model: string;
  readonly result: SubCallResult;
  /** Choice 0's text. */
  readonly text: string;
  readonly choice: CollectedChoice;
  /** Index of its trace step, for annotate(). */
  readonly step: number;
}

export type CallOutcome =
  | { readonly status: 'ok'; readonly model: string; readonly answer: Answer }
  | { readonly status: 'failed'; readonly model: string; readonly error: HubError; readonly step: number }
  | { readonly status: 'refused'; readonly model: string; readonly refusal: Refusal };

export interface Failure {
  /** e.g. `sample 2 (gpt-4o-mini)`. */
  readonly label: string;
  readonly error: HubError;
}

/** One of several calls that stand or fall together (vote samples, judge candidates, moa proposers). */
export interface GroupCall {
  model: string;
  request: ChatRequest;
  /** The trace step's detail, e.g. `{ sample: 3 }`. */
  detail: Record<string, unknown>;
  /** How a failure names it, e.g. `sample 3 (gpt-4o)`. */
  label: string;
}

/** How a group's errors name it: `samples`, or `proposers` with `layer 2` as where. */
export interface GroupNames {
  noun: string;
  where?: string;
}

interface StepRecord {
  stage: string;
  model: string;
  text: string;
  usage?: Usage;
  costUsd?: number;
  latencyMs: number;
  error?: string;
  detail: Record<string, unknown>;
}

const EMPTY_CHOICE: CollectedChoice = { index: 0, text: '', reasoning: [], toolCalls: [], finishReason: null };

export function truncate(text: string, limit = TRACE_TEXT_LIMIT): string {
  return text.length <= limit ? text : `${text.slice(0, limit)}…`;
}

/** Copies a HubError with a prefix on its message, keeping what a client or router acts on. */
export function wrapError(err: unknown, prefix: string): HubError {
  const h = toHubError(err);
  return new HubError(h.kind, `${prefix}: ${h.message}`, {
    status: h.status,
    ...(h.code !== undefined && { code: h.code }),
    ...(h.retryAfter !== undefined && { retryAfter: h.retryAfter }),
    ...(h.provider !== undefined && { provider: h.provider }),
    cause: h,
  });
}

function canceled(): HubError {
  return new HubError('canceled', 'Request canceled');
}

/** Rejects as soon as `signal` aborts, even if `p` ignores it. */
function raceAbort<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) {
    p.catch(() => {});
    return Promise.reject(signal.reason ?? canceled());
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason ?? canceled());
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}

class UsageSum {
  input = 0;
  output = 0;
  cached?: number;
  cacheWrite?: number;
  reasoning?: number;

  add(u: Usage | undefined): void {
    if (!u) return;
    this.input += u.inputTokens;
    this.output += u.outputTokens;
    if (u.cachedInputTokens !== undefined) this.cached = (this.cached ?? 0) + u.cachedInputTokens;
    if (u.cacheWriteTokens !== undefined) this.cacheWrite = (this.cacheWrite ?? 0) + u.cacheWriteTokens;
    if (u.reasoningTokens !== undefined) this.reasoning = (this.reasoning ?? 0) + u.reasoningTokens;
  }

  value(): Usage {
    return {
      inputTokens: this.input,
      outputTokens: this.output,
      ...(this.cached !== undefined && { cachedInputTokens: this.cached }),
      ...(this.cacheWrite !== undefined && { cacheWriteTokens: this.cacheWrite }),
      ...(this.reasoning !== undefined && { reasoningTokens: this.reasoning }),
    };
  }
}

/** Text of a choice for traces and prompts: its text, then any tool calls it made. */
export function choiceText(c: CollectedChoice): string {
  const calls = c.toolCalls.map((t) => `[tool_call ${t.name}(${t.arguments})]`);
  return [c.text, ...calls].filter((s) => s !== '').join('\n');
}

function usd(n: number): string {
  return `$${n.toFixed(n < 0.01 ? 6 : 4)}`;
}

export class Run {
  private readonly steps: StepRecord[] = [];
  private readonly usage = new UsageSum();
  private calls = 0;
  /** USD of sub-calls that ended (actual cost, or their worst case when unknown). */
  private spentUsd = 0;
  /** Worst-case USD of sub-calls in flight. */
  private reservedUsd = 0;
  /** Sum of the costs sub-calls reported (what the trace summary shows). */
  private knownCostUsd = 0;
  private readonly refusals: string[] = [];
  private readonly id = `virt_${randomUUID().replace(/-/g, '').slice(0, 24)}`;

  constructor(
    readonly settings: RunSettings,
    private readonly caller: ModelCaller,
    readonly signal: AbortSignal,
  ) {}

  /** `Virtual model 'name'` for messages. */
  get label(): string {
    return `Virtual model '${this.settings.name}'`;
  }

  get callsMade(): number {
    return this.calls;
  }

  checkSignal(): void {
    if (this.signal.aborted) throw canceled();
  }

  worstUsd(model: string, request: ChatRequest): number {
    return this.caller.worstCaseUsd(model, request) ?? 0;
  }

  /**
   * Refuses up front when planned calls exceed maxCalls, or their estimated worst cost exceeds
   * maxCostUsd (estimates use the requests given; later prompts may be larger, which the
   * per-call check still catches).
   */
  preflight(what: string, planned: readonly { model: string; request: ChatRequest }[]): void {
    const { maxCalls, maxCostUsd } = this.settings;
    if (this.calls + planned.length > maxCalls) {
      throw this.ceilingError({
        reason: 'max_calls',
        message: `${what} needs ${this.calls + planned.length} calls but maxCalls is ${maxCalls}`,
      });
    }
    if (maxCostUsd !== undefined) {
      const estimate = planned.reduce((s, p) => s + this.worstUsd(p.model, p.request), 0);
      if (this.spentUsd + this.reservedUsd + estimate > maxCostUsd * (1 + 1e-9)) {
        throw this.ceilingError({
          reason: 'max_cost',
          message: `${what} may cost up to ${usd(this.spentUsd + this.reservedUsd + estimate)} but maxCostUsd is ${usd(maxCostUsd)}`,
        });
      }
    }
  }

  /** Admits one sub-call under the ceilings, counting it as made and its worst case as spent until it ends. */
  reserve(model: string, request: ChatRequest): Ticket | Refusal {
    const { maxCalls, maxCostUsd } = this.settings;
    if (this.calls + 1 > maxCalls) {
      return { reason: 'max_calls', message: `a call to '${model}' would be call ${this.calls + 1} but maxCalls is ${maxCalls}` };
    }
    const worstUsd = this.worstUsd(model, request);
    const committed = this.spentUsd + this.reservedUsd;
    if (maxCostUsd !== undefined && committed + worstUsd > maxCostUsd * (1 + 1e-9)) {
      return {
        reason: 'max_cost',
        message: `${usd(committed)} is spent or committed and a call to '${model}' may cost up to ${usd(worstUsd)}, over maxCostUsd ${usd(maxCostUsd)}`,
      };
    }
    this.calls++;
    this.reservedUsd += worstUsd;
    return { model, request, worstUsd };
  }

  /** Gives back a ticket that will not be used. */
  release(t: Ticket): void {
    this.calls--;
    this.reservedUsd -= t.worstUsd;
  }

  noteRefusal(r: Refusal): void {
    this.refusals.push(r.message);
  }

  ceilingError(r: Refusal): HubError {
    const which = r.reason === 'max_calls' ? 'call ceiling' : 'cost ceiling';
    return new HubError('bad_request', `${this.label} would exceed its ${which}: ${r.message}.`, { code: 'ceiling_exceeded', status: 400 });
  }

  /** One error for a quorum that did not hold; it keeps the failures' kind when they all share one. */
  quorumError(what: string, failures: readonly Failure[], refused: readonly Refusal[] = []): HubError {
    const parts = failures.map((f) => `${f.label}: ${f.error.message}`);
    if (refused.length > 0) parts.push(`${refused.length} not made (${refused[0]!.message})`);
    const message = `${this.label}: ${what}.${parts.length > 0 ? ` ${parts.join('; ')}` : ''}`;
    if (failures.length === 0 && refused.length > 0) {
      return new HubError('bad_request', message, { code: 'ceiling_exceeded', status: 400 });
    }
    const kinds = new Set(failures.map((f) => f.error.kind));
    const first = failures[0]?.error;
    if (first && kinds.size === 1 && refused.length === 0) {
      return new HubError(first.kind, message, { status: first.status, code: first.code ?? 'quorum_not_met', cause: first });
    }
    return new HubError('upstream', message, { code: 'quorum_not_met' });
  }

  private openStep(stage: string, model: string, detail: Record<string, unknown>): number {
    this.steps.push({ stage, model, text: '', latencyMs: 0, detail: { ...detail } });
    return this.steps.length - 1;
  }

  /** Adds kind-specific facts to a step (an extracted answer, a score, a check's verdict). */
  annotate(step: number, detail: Record<string, unknown>): void {
    const s = this.steps[step];
    if (s) Object.assign(s.detail, detail);
  }

  /** Makes an admitted sub-call through caller.complete; failures are returned, cancellation thrown. */
  async call(ticket: Ticket, stage: string, detail: Record<string, unknown> = {}): Promise<CallOutcome> {
    this.checkSignal();
    const { model, request } = ticket;
    const step = this.openStep(stage, model, detail);
    const record = this.steps[step]!;
    const timeoutMs = this.settings.timeoutMs;
    const timer = timeoutMs === undefined ? undefined : AbortSignal.timeout(timeoutMs);
    const signal = timer ? AbortSignal.any([this.signal, timer]) : this.signal;
    const started = performance.now();
    try {
      const result = await raceAbort(this.caller.complete(model, request, signal), signal);
      record.latencyMs = Math.round(performance.now() - started);
      const choice = result.choices[0] ?? EMPTY_CHOICE;
      const text = choiceText(choice);
      record.text = truncate(text);
      if (result.usage) record.usage = result.usage;
      if (result.costUsd !== undefined) record.costUsd = result.costUsd;
      if (result.trace) record.detail.trace = { steps: result.trace.steps.length, ...(result.trace.summary && { summary: result.trace.summary }) };
      this.usage.add(result.usage);
      this.settle(ticket, result.costUsd);
      return { status: 'ok', model, answer: { model, result, text: choice.text, choice, step } };
    } catch (err) {
      record.latencyMs = Math.round(performance.now() - started);
      this.settle(ticket, undefined);
      if (this.signal.aborted) {
        record.error = 'canceled';
        throw canceled();
      }
      const error =
        timer?.aborted === true ? new HubError('timeout', `timed out after ${timeoutMs} ms`) : toHubError(err);
      record.error = error.message;
      return { status: 'failed', model, error, step };
    }
  }

  /** reserve() then call(); a refusal is returned (and noted in the summary), not thrown. */
  async tryCall(stage: string, model: string, request: ChatRequest, detail: Record<string, unknown> = {}): Promise<CallOutcome> {
    this.checkSignal();
    const t = this.reserve(model, request);
    if ('reason' in t) {
      this.noteRefusal(t);
      return { status: 'refused', model, refusal: t };
    }
    return this.call(t, stage, detail);
  }

  /**
   * Makes a group of calls that stand or fall together. Every call is admitted before any is
   * made, and none is made when fewer than the quorum fit (a ceiling error); the admitted ones
   * run in parallel, and fewer than the quorum answering is a quorum error. Returns the answers
   * with their index in `calls`, in that order.
   */
  async callGroup(stage: string, calls: readonly GroupCall[], quorum: number, names: GroupNames): Promise<{ i: number; answer: Answer }[]> {
    const n = calls.length;
    const { noun, where } = names;
    const admitted: { i: number; ticket: Ticket }[] = [];
    const refused: Refusal[] = [];
    calls.forEach((c, i) => {
      const t = this.reserve(c.model, c.request);
      if ('reason' in t) {
        refused.push(t);
        this.noteRefusal(t);
      } else admitted.push({ i, ticket: t });
    });
    if (admitted.length < quorum) {
      for (const a of admitted) this.release(a.ticket);
      throw this.ceilingError({
        reason: refused[0]!.reason,
        message: `only ${admitted.length} of ${n} ${noun}${where ? ` of ${where}` : ''} fit, fewer than the quorum of ${quorum} (${refused[0]!.message})`,
      });
    }
    const outcomes = await Promise.all(admitted.map((a) => this.call(a.ticket, stage, calls[a.i]!.detail)));
    const answers: { i: number; answer: Answer }[] = [];
    const failures: Failure[] = [];
    outcomes.forEach((o, k) => {
      const i = admitted[k]!.i;
      if (o.status === 'ok') answers.push({ i, answer: o.answer });
      else if (o.status === 'failed') failures.push({ label: calls[i]!.label, error: o.error });
    });
    if (answers.length < quorum) {
      throw this.quorumError(`only ${answers.length} of ${n} ${noun} answered${where ? ` in ${where}` : ''}; the quorum is ${quorum}`, failures, refused);
    }
    return answers;
  }

  /** A call the request cannot do without: a refusal or failure is thrown as one clear error. */
  async mustCall(stage: string, role: string, model: string, request: ChatRequest, detail: Record<string, unknown> = {}): Promise<Answer> {
    const o = await this.tryCall(stage, model, request, detail);
    if (o.status === 'ok') return o.answer;
    if (o.status === 'refused') throw this.ceilingError(o.refusal);
    throw wrapError(o.error, `${this.label}: ${role} '${model}' failed`);
  }

  private settle(t: Ticket, costUsd: number | undefined): void {
    this.reservedUsd -= t.worstUsd;
    this.spentUsd += costUsd ?? t.worstUsd;
    if (costUsd !== undefined) this.knownCostUsd += costUsd;
  }

  private startEvent(): ChatEvent {
    return { type: 'start', id: this.id, model: this.settings.name };
  }

  /** Emits an answer that is already complete (cascade, vote, judge) as the final answer's events. */
  *emitAnswer(answer: Answer): Generator<ChatEvent> {
    yield this.startEvent();
    const c = answer.choice;
    for (const r of c.reasoning) {
      yield {
        type: 'reasoning',
        choice: 0,
        text: r.text,
        ...(r.providerMetadata !== undefined && { providerMetadata: r.providerMetadata }),
      };
    }
    if (c.text !== '') yield { type: 'text', choice: 0, text: c.text };
    for (const [index, t] of c.toolCalls.entries()) {
      yield { type: 'tool_call', choice: 0, index, id: t.id, name: t.name, arguments: t.arguments };
    }
    yield {
      type: 'finish',
      choice: 0,
      reason: c.finishReason ?? 'stop',
      ...(c.stopSequence !== undefined && { stopSequence: c.stopSequence }),
    };
  }

  /**
   * Streams the final stage through caller.stream, passing its text/reasoning/tool_call/finish
   * events on as they arrive. `start` is sent with the stage's first event, so a stage that fails
   * before any output fails the request cleanly.
   */
  async *streamFinal(stage: string, role: string, model: string, request: ChatRequest, detail: Record<string, unknown> = {}): AsyncGenerator<ChatEvent> {
    this.checkSignal();
    const t = this.reserve(model, request);
    if ('reason' in t) throw this.ceilingError(t);
    const step = this.openStep(stage, model, detail);
    const record = this.steps[step]!;
    const collector = new Collector();
    const started = performance.now();
    let usage: Usage | undefined;
    let cost: number | undefined;
    let sentStart = false;
    try {
      for await (const e of this.caller.stream(model, request, this.signal)) {
        switch (e.type) {
          case 'start':
            continue;
          case 'usage':
            usage = e.usage;
            cost = e.costUsd;
            continue;
          case 'trace':
            record.detail.trace = { steps: e.steps.length, ...(e.summary && { summary: e.summary }) };
            continue;
          default:
            if (!sentStart) {
              sentStart = true;
              yield this.startEvent();
            }
            collector.add(e);
            yield e;
        }
      }
    } catch (err) {
      record.latencyMs = Math.round(performance.now() - started);
      this.settle(t, undefined);
      if (this.signal.aborted) {
        record.error = 'canceled';
        throw canceled();
      }
      record.error = toHubError(err).message;
      throw wrapError(err, `${this.label}: ${role} '${model}' failed`);
    }
    if (!sentStart) yield this.startEvent();
    record.latencyMs = Math.round(performance.now() - started);
    record.text = truncate(choiceText(collector.result().choices[0] ?? EMPTY_CHOICE));
    if (usage) record.usage = usage;
    if (cost !== undefined) record.costUsd = cost;
    this.usage.add(usage);
    this.settle(t, cost);
  }

  /** The closing events: one trace (every sub-call plus the summary), then one summed usage. */
  *finish(summary: Record<string, unknown>): Generator<ChatEvent> {
    const steps: TraceStep[] = this.steps.map((s) => ({
      stage: s.stage,
      model: s.model,
      text: s.text,
      ...(s.usage && { usage: s.usage }),
      ...(s.costUsd !== undefined && { costUsd: s.costUsd }),
      latencyMs: s.latencyMs,
      ...(s.error !== undefined && { error: s.error }),
      ...(Object.keys(s.detail).length > 0 && { detail: s.detail }),
    }));
    yield {
      type: 'trace',
      steps,
      summary: {
        kind: this.settings.kind,
        ...summary,
        calls: this.calls,
        costUsd: this.knownCostUsd,
        ...(this.refusals.length > 0 && { notMade: [...this.refusals] }),
      },
    };
    yield { type: 'usage', usage: this.usage.value() };
  }
}

/**
 * The client's request as a member sees it, with one choice. Without `tools`, a member may not
 * call tools: the tool definitions stay (a conversation with tool history is invalid without them
 * on some providers) but toolChoice becomes 'none'.
 */
export function memberRequest(request: ChatRequest, model: string, options: { tools: boolean }): ChatRequest {
  const { n: _n, ...rest } = request;
  if (options.tools) return { ...rest, model };
  const { toolChoice: _c, parallelToolCalls: _p, ...noChoice } = rest;
  if (!rest.tools?.length) {
    const { tools: _t, ...bare } = noChoice;
    return { ...bare, model };
  }
  return { ...noChoice, model, toolChoice: 'none' };
}

/** A request carrying one of our own prompts (verifier, judge, planner, worker): only the messages and the end user. */
export function promptRequest(request: ChatRequest, model: string, messages: ChatRequest['messages']): ChatRequest {
  return { model, messages, ...(request.user !== undefined && { user: request.user }) };
}

/** Virtual models answer with one choice. */
export function assertSingleChoice(request: ChatRequest, name: string): void {
  if (request.n !== undefined && request.n > 1) {
    throw new HubError('bad_request', `Virtual model '${name}' returns one choice; n must be 1.`, { param: 'n' });
  }
}
