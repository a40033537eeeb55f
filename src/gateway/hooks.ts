/**
 * Hooks around every model call, applied once whichever path answers it (the same-format relay
 * or the canonical Model stream), registered at assembly (server/start.ts) and run by the
 * gateway and the HTTP lifecycle:
 *
 * - **pre**, in registration order, once the call is admitted and before it is routed: may return
 *   a ready `Answer` (a cache hit: no upstream is called, and the call is still recorded) or throw
 *   a HubError to refuse the call (answered in the client's own error shape, and recorded).
 * - **stream**, per chunk, observers only (they cannot change or drop a chunk):
 *   `event` sees each canonical `ChatEvent` the model produced; `relay` sees each piece of text the
 *   same-format relay writes to the client — the format's observer's output for the event blocks
 *   of one upstream read (the first write may hold the few blocks read before the first was
 *   checked), the bytes exactly as the client gets them. With no stream hook registered nothing is wrapped: no
 *   call and no allocation per chunk.
 * - **sent**: each piece of text the HTTP response sends (headers excluded), whatever produced it
 *   (an answer, an error body, an in-band error); for body capture. Only HTTP calls have it.
 * - **post**, in reverse registration order, when the call has ended and before its record is
 *   journaled (so still before the response's last byte): the outcome (status, error, usage,
 *   first token, the attempt), its cost, timings, the request, and the bodies a hook put on the
 *   record (`end.bodies`).
 *
 * A hook that throws in `stream`, `sent` or `post` is ignored: it can neither break a response
 * already under way nor lose a record.
 */
import type { HubError } from '../core/errors.js';
import type { ChatEvent, Usage } from '../core/types.js';
import type { Sink } from '../core/model.js';
import type { UsageRecord } from '../usage/record.js';
import type { CallContext } from './context.js';
import type { Outcome } from './outcome.js';

/** The call a hook sees. */
export interface CallInfo {
  /** The call's context (principal, request id, parent, cancellation); set once the caller is authenticated. */
  readonly call: CallContext | undefined;
  readonly endpoint: UsageRecord['endpoint'];
  /**
   * The request as its caller sent it: the client's parsed JSON body over HTTP (`undefined` until
   * it is parsed), the canonical `ChatRequest` for `gateway/call.ts`.
   */
  readonly request: unknown;
  /** The body's bytes as received (HTTP only; '' until read). */
  readonly rawBody: string;
  /**
   * Where the call came from: an HTTP route, `gateway/call.ts` (the CLI, an evaluation run), or
   * a virtual model's member call (`call.parent` is the call it was made for).
   */
  readonly via: 'http' | 'call' | 'sub-call';
  readonly out: Outcome;
}

/** A pre-hook's ready answer, given instead of the model's. */
export interface Answer {
  /** HTTP: the response body exactly as the client will get it (a stream's whole SSE text included). */
  readonly text?: string;
  /** HTTP: default `application/json`, or `text/event-stream` for a streaming request. */
  readonly contentType?: string;
  readonly status?: number;
  /** `gateway/call.ts`: the canonical events to yield. */
  readonly events?: readonly ChatEvent[];
  /** What the answer counts as (recorded and charged as usual); none by default. */
  readonly usage?: Usage;
  /** Which hook answered, sent as `x-baimo-hook`. */
  readonly by?: string;
}

/** What a post-hook sees once the call has ended. */
export interface CallEnd {
  readonly info: CallInfo;
  /** Status, error kind, usage, first token, the attempt that answered (none when a pre-hook did). */
  readonly out: Outcome;
  readonly error: HubError | undefined;
  /** USD, from catalog prices; the sub-calls' total for a virtual model. */
  readonly costUsd: number | undefined;
  readonly latencyMs: number;
  readonly ttftMs: number | undefined;
  /** The bodies the record will carry: a capture hook sets them. */
  bodies: UsageRecord['bodies'] | undefined;
}

export interface Hook {
  readonly name: string;
  pre?(c: CallInfo): Answer | undefined | void;
  event?(c: CallInfo, e: ChatEvent): void;
  relay?(c: CallInfo, text: string): void;
  sent?(c: CallInfo, text: string): void;
  post?(end: CallEnd): void;
}

/** The registered hooks, sorted by stage once at assembly. */
export interface Hooks {
  readonly pre: readonly Hook[];
  /** Already in reverse registration order. */
  readonly post: readonly Hook[];
  readonly event: readonly Hook[];
  readonly relay: readonly Hook[];
  readonly sent: readonly Hook[];
}

/** Sorts hooks by stage; undefined when there are none, so the call path checks one field and moves on. */
export function compileHooks(list: readonly Hook[]): Hooks | undefined {
  if (list.length === 0) return undefined;
  const has = (k: keyof Hook) => list.filter((h) => typeof h[k] === 'function');
  return { pre: has('pre'), post: has('post').reverse(), event: has('event'), relay: has('relay'), sent: has('sent') };
}

/** A call's hooks and what they see of it; on `Outcome.hooked` when the gateway has hooks. */
export interface Hooked {
  readonly hooks: Hooks;
  readonly info: { -readonly [K in keyof CallInfo]: CallInfo[K] };
}

export function hooked(hooks: Hooks | undefined, out: Outcome, info: Omit<CallInfo, 'out'>): Hooked | undefined {
  if (!hooks) return undefined;
  const h: Hooked = { hooks, info: { ...info, out } };
  out.hooked = h;
  return h;
}

/** Runs the pre-hooks in order; the first answer wins (later ones do not run). A refusal throws. */
export function runPre(out: Outcome): Answer | undefined {
  const h = out.hooked;
  if (!h) return undefined;
  for (const hook of h.hooks.pre) {
    const a = hook.pre!(h.info);
    if (a) return a.by === undefined ? { ...a, by: hook.name } : a;
  }
  return undefined;
}

/** Runs the post-hooks in reverse order, each isolated from the others. */
export function runPost(end: CallEnd): void {
  for (const hook of end.info.out.hooked!.hooks.post) {
    try {
      hook.post!(end);
    } catch {
      // A post-hook cannot lose the record.
    }
  }
}

function each(hooks: readonly Hook[], stage: 'event' | 'relay' | 'sent', info: CallInfo, x: never): void {
  for (const hook of hooks) {
    try {
      (hook[stage] as (c: CallInfo, x: unknown) => void)(info, x);
    } catch {
      // Observers: a failing one cannot break the response under way.
    }
  }
}

/** The per-event tap of a canonical stream, or undefined when no stream hook is registered. */
export function eventTap(out: Outcome): ((e: ChatEvent) => void) | undefined {
  const h = out.hooked;
  if (!h || h.hooks.event.length === 0) return undefined;
  const { event } = h.hooks;
  const info = h.info;
  return (e) => each(event, 'event', info, e as never);
}

/** The relay's sink with the relay hooks on each write, or the sink itself when none is registered. */
export function relaySink(out: Outcome, sink: Sink): Sink {
  const h = out.hooked;
  if (!h || h.hooks.relay.length === 0) return sink;
  const { relay } = h.hooks;
  const info = h.info;
  return {
    write(text) {
      each(relay, 'relay', info, text as never);
      return sink.write(text);
    },
    once: (event, fn) => sink.once(event, fn),
  };
}

/** Gives the `sent` hooks one piece of the response (the HTTP lifecycle calls it). */
export function runSent(h: Hooked, text: string): void {
  each(h.hooks.sent, 'sent', h.info, text as never);
}

/** A canonical stream with the event hooks on each event (a whole answer's collected stream), or the stream itself when none is registered. */
export function tapEvents(out: Outcome, events: AsyncIterable<ChatEvent>): AsyncIterable<ChatEvent> {
  const tap = eventTap(out);
  if (!tap) return events;
  return (async function* () {
    for await (const e of events) {
      tap(e);
      yield e;
    }
  })();
}

/** A relayed whole answer, to the relay hooks as one chunk (the body the client gets). */
export function relayWhole(out: Outcome, text: string): void {
  const h = out.hooked;
  if (h && h.hooks.relay.length > 0) each(h.hooks.relay, 'relay', h.info, text as never);
}
