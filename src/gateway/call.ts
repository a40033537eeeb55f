/**
 * The one way into a model call, whoever makes it: an HTTP route, the CLI, a virtual model's
 * member call, an evaluation run. `startCall` admits the call (model access, rpm/tpm, budget),
 * runs the pre-hooks, routes it over its deployments with retries and fallbacks — relaying the
 * caller's own wire format where a deployment speaks it, the canonical request elsewhere — and
 * hands back what started, with the outcome kept current by one meter whichever path answered.
 * The caller renders it; the call is recorded by whoever made it when it ends (the HTTP
 * lifecycle, `call` below, or the virtual model's caller for a sub-call).
 */
import type { Cancel } from '../core/cancel.js';
import { collect } from '../core/collect.js';
import type { Collected } from '../core/collect.js';
import { HubError, toHubError } from '../core/errors.js';
import { storedModelName } from '../core/model-name.js';
import type { Model, PassthroughFormat, PassthroughRequest, PassthroughStream, Sink } from '../core/model.js';
import type { ChatEvent, ChatRequest, Usage } from '../core/types.js';
import type { Deployment } from '../routing/deployment.js';
import type { Target } from '../routing/registry.js';
import type { Attempt } from '../routing/router.js';
import { estimatePromptTokens, promptText, promptTokenBound } from '../usage/estimate.js';
import { admit } from './admission.js';
import type { PromptSize } from './admission.js';
import type { CallContext, Gateway } from './context.js';
import { boundAttempt } from './caller.js';
import { firstEvent, runRoute } from './route.js';
import type { Dispatched } from './route.js';
import { eventTap, hooked, relaySink, relayWhole, runPre, tapEvents } from './hooks.js';
import type { Answer } from './hooks.js';
import { newOutcome, noteEvent } from './outcome.js';
import type { Outcome } from './outcome.js';
import { recordCall } from './record.js';

/** What a caller asks the gateway for. */
export interface CallSpec {
  readonly endpoint: 'chat' | 'embeddings' | 'rerank';
  /** The public model name asked for (admission checks the key may use it). */
  readonly model: string;
  /** The model resolved already (a route that looked at its deployments first); else resolved here. */
  readonly target?: Target;
  readonly stream: boolean;
  /**
   * The canonical request (its `model` is replaced per attempt), for every deployment that does
   * not relay; or, for answers that are not chat (embeddings), what an attempt does instead.
   * Without it, a deployment that cannot relay `relay.format` fails the attempt.
   */
  readonly canonical?: ChatRequest | ((attempt: Attempt, model: Model, cancel: Cancel) => Promise<{ text: string; usage: Usage | undefined }>);
  /** The prompt's size for admission; by default measured on the canonical request. */
  readonly prompt?: PromptSize;
  /** `n`: choices, each of which may spend the output allowance. */
  readonly choices?: number | null | undefined;
  /** The output tokens asked for (`max_tokens`), for rate limits and the budget reservation. */
  readonly maxOutput: number | undefined;
  /** The caller's own wire format, relayed as it is where a deployment speaks it. */
  readonly relay?: {
    readonly format: PassthroughFormat;
    readonly request: Omit<PassthroughRequest, 'model'>;
    /** A streamed relay's client side, opened the moment the first event has been checked (headers sent). */
    readonly open?: (attempt: Attempt) => Sink;
  };
  /** Which of a deployment's models answers (a provider's own Anthropic endpoint for Anthropic clients). */
  readonly pick?: (d: Deployment) => Model;
  /** A virtual model's member call: its members were chosen by the admin, and one client request is one request. */
  readonly subCall?: boolean;
}

/** What started: the caller renders it. The outcome already holds usage, first token and trace where they are known. */
export type Started =
  /** A pre-hook answered: nothing was routed. */
  | { readonly kind: 'answered'; readonly answer: Answer }
  /** A whole body, ready to send as it is (relayed, or rendered by `canonical`). */
  | { readonly kind: 'text'; readonly attempt: Attempt; readonly text: string }
  /** A relayed stream: `pipe` sends it on; it throws if the upstream ended before the stream was complete. */
  | { readonly kind: 'relay'; readonly attempt: Attempt; pipe(sink: Sink): Promise<void> }
  /** A canonical whole answer. */
  | { readonly kind: 'whole'; readonly attempt: Attempt; readonly collected: Collected }
  /** A canonical stream whose first event is in: read it with `each` or `for await`. */
  | { readonly kind: 'events'; readonly attempt: Attempt; readonly events: CallEvents };

type Produced =
  | { kind: 'text'; text: string; usage: Usage | undefined; firstTokenAt: number | undefined; relayed: boolean }
  | { kind: 'relay'; stream: PassthroughStream }
  | { kind: 'whole'; collected: Collected; arrivedAt: number }
  | { kind: 'events'; it: AsyncIterator<ChatEvent>; first: IteratorResult<ChatEvent> };

const API_NAMES: Record<PassthroughFormat, string> = {
  'openai-chat': 'the Chat Completions API',
  'anthropic-messages': 'the Messages API',
  'openai-responses': 'the Responses API',
  'openai-embeddings': 'the Embeddings API',
};

export type StartCall = typeof startCall;

/** A virtual model's attempt runs with the model bound to its call: its member calls are sub-calls (gateway/caller.ts). */
const bindToCall = (gw: Gateway, ctx: CallContext, a: Attempt): Attempt => boundAttempt(gw, ctx, a, startCall);

/** Admits, routes and starts one call (see the file's comment); `out` is the call's outcome. */
export async function startCall(gw: Gateway, ctx: CallContext, out: Outcome, spec: CallSpec): Promise<Started> {
  out.stream = spec.stream;
  const target = spec.target ?? gw.registry.resolve(spec.model);
  const canonical = spec.canonical;
  const chat = typeof canonical === 'object' ? canonical : undefined;
  if (chat) out.promptText = () => promptText(chat);
  const prompt = spec.prompt ?? (chat ? { estimate: estimatePromptTokens(chat), bound: () => promptTokenBound(chat), choices: spec.choices } : { estimate: 0, bound: () => 0 });
  out.ticket = await admit(gw, ctx.principal, spec.model, target, prompt, spec.maxOutput, spec.subCall ? { subCall: true } : {});
  if (out.hooked) {
    const answer = runPre(out);
    if (answer) {
      if (answer.usage) out.usage = answer.usage;
      // A ready answer: its first token is the moment it was there, as for any whole answer.
      out.firstTokenAt = performance.now();
      return { kind: 'answered', answer };
    }
  }
  const relay = spec.relay;
  const pick = spec.pick;
  const d = await runRoute(gw, ctx, spec.endpoint, target, out, typeof prompt === 'number' ? prompt : prompt.estimate, async (attempt, cancel): Promise<Produced> => {
    const model = pick ? pick(attempt.deployment) : attempt.deployment.model;
    const passthrough = relay && model.passthrough?.(relay.format);
    if (passthrough) {
      const request = { ...relay.request, model: attempt.deployment.upstreamModel };
      if (!spec.stream) {
        const { text, meter } = await passthrough.whole(request, cancel);
        return { kind: 'text', text, usage: meter.usage, firstTokenAt: meter.firstTokenAt, relayed: true };
      }
      const open = relay.open;
      // The first event goes to the client the moment it has been checked.
      return { kind: 'relay', stream: await passthrough.stream(request, cancel, open && (() => relaySink(out, open(attempt)))) };
    }
    if (typeof canonical === 'function') {
      const r = await canonical(attempt, model, cancel);
      return { kind: 'text', text: r.text, usage: r.usage, firstTokenAt: undefined, relayed: false };
    }
    if (!canonical) throw new HubError('upstream', `Upstream ${model.provider} does not speak ${relay ? API_NAMES[relay.format] : 'this API'}`, { provider: model.provider });
    const request = { ...canonical, model: attempt.deployment.upstreamModel };
    // Not streamed: the first token is the moment the whole answer arrived, as on the relay.
    if (!spec.stream) return { kind: 'whole', collected: await collect(tapEvents(out, model.stream(request, cancel.signal))), arrivedAt: performance.now() };
    return { kind: 'events', ...(await firstEvent(model, request, cancel.signal)) };
  }, bindToCall);
  const attempt = d.attempt;
  const v = d.value;
  switch (v.kind) {
    case 'text':
      out.usage = v.usage;
      if (v.firstTokenAt !== undefined) out.firstTokenAt = v.firstTokenAt;
      if (v.relayed) relayWhole(out, v.text);
      return { kind: 'text', attempt, text: v.text };
    case 'whole':
      out.usage = v.collected.usage;
      out.trace = v.collected.trace;
      out.firstTokenAt = v.arrivedAt;
      return { kind: 'whole', attempt, collected: v.collected };
    case 'relay':
      return { kind: 'relay', attempt, pipe: (sink) => pipeRelay(out, v.stream, sink, d, pick ? pick(attempt.deployment) : attempt.deployment.model) };
    case 'events':
      return { kind: 'events', attempt, events: new CallEvents(out, v.it, v.first, d) };
  }
}

/** Sends a relayed stream on, keeping the outcome current from the format's observer. */
async function pipeRelay(out: Outcome, stream: PassthroughStream, sink: Sink, d: Dispatched<unknown>, model: Model): Promise<void> {
  const meter = stream.meter;
  try {
    await stream.pipe(relaySink(out, sink), d);
  } finally {
    out.usage = meter.usage;
    out.firstTokenAt = meter.firstTokenAt;
    out.outputText = meter.output;
  }
  // The upstream's own error event already reached the client as it came.
  if (meter.failed) out.errorKind = 'upstream';
  else if (!meter.done) throw new HubError('upstream', `Upstream ${model.provider} ended the stream before it was complete`, { provider: model.provider });
}

/**
 * A canonical stream under way: every event is noted on the outcome (usage, first token, text
 * for counting, trace) and shown to the event hooks before its reader gets it; the route's total
 * timeout reads as a timeout, not as the cancellation it causes.
 */
export class CallEvents implements AsyncIterable<ChatEvent> {
  private readonly tap: ((e: ChatEvent) => void) | undefined;
  private started = false;

  constructor(
    private readonly out: Outcome,
    private readonly it: AsyncIterator<ChatEvent>,
    private readonly first: IteratorResult<ChatEvent>,
    private readonly d: Dispatched<unknown>,
  ) {
    this.tap = eventTap(out);
  }

  private once(): void {
    if (this.started) throw new Error('A call’s events can be read once');
    this.started = true;
  }

  /**
   * Reads every event into `fn`, waiting when `fn` returns a promise (a slow client). The same
   * as `for await`, without a generator's promise per event on the HTTP path.
   */
  async each(fn: (e: ChatEvent) => Promise<void> | undefined): Promise<void> {
    this.once();
    const { out, it, tap } = this;
    try {
      for (let next = this.first; !next.done; next = await it.next()) {
        noteEvent(out, next.value);
        if (tap) tap(next.value);
        const wait = fn(next.value);
        if (wait) await wait;
      }
    } catch (err) {
      if (this.d.timedOut()) throw this.d.timeoutError();
      throw err;
    }
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<ChatEvent, void, undefined> {
    this.once();
    const { out, it, tap } = this;
    let done = false;
    try {
      for (let next = this.first; !next.done; next = await it.next()) {
        noteEvent(out, next.value);
        if (tap) tap(next.value);
        yield next.value;
      }
      done = true;
    } catch (err) {
      done = true;
      if (this.d.timedOut()) throw this.d.timeoutError();
      throw err;
    } finally {
      // The reader stopped early: the model's stream (and its upstream request) ends here too.
      if (!done) await it.return?.();
    }
  }
}

/**
 * One model call in canonical form, for callers that are not an HTTP route (the CLI, an
 * evaluation run, a test): `startCall`, then its events, and the record with usage and cost when
 * it ends, however it ends (the caller stopping early included). A virtual model's member calls
 * are sub-calls of `ctx`. Errors are thrown as HubErrors; `ctx.cancel` is finished when the call ends.
 */
export async function* call(gw: Gateway, ctx: CallContext, model: string, request: ChatRequest): AsyncGenerator<ChatEvent, void, undefined> {
  const t0 = performance.now();
  const ts = Date.now();
  const out = newOutcome();
  out.model = storedModelName(model);
  hooked(gw.hooks, out, { call: ctx, endpoint: 'chat', request, rawBody: '', via: 'call' });
  try {
    const s = await startCall(gw, ctx, out, { endpoint: 'chat', model, stream: true, canonical: request, maxOutput: request.maxTokens });
    if (s.kind === 'answered') {
      for (const e of s.answer.events ?? []) {
        noteEvent(out, e);
        yield e;
      }
      if (s.answer.usage) out.usage = s.answer.usage;
      return;
    }
    if (s.kind !== 'events') throw new HubError('internal', `A canonical call started as '${s.kind}'`);
    yield* s.events;
  } catch (err) {
    const e = ctx.cancel.aborted ? new HubError('canceled', 'The caller canceled the call') : gw.registry.redactor.error(toHubError(err));
    out.errorKind = e.kind;
    out.error = e;
    out.status = e.status;
    throw e;
  } finally {
    ctx.cancel.finish();
    recordCall(gw, ctx, out, { t0, ts, endpoint: 'chat', caller: ctx.principal });
  }
}
