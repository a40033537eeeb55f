import type { Passthrough, PassthroughMeter, PassthroughStream } from '../core/model.js';
import type { RelayedStream } from './sse-relay.js';

/**
 * The generic same-format relay a provider's `passthrough(format)` is made of: today's
 * data-callback transport (`postWhole`, `openSSERelay`) with the format's observer reading each
 * event block once on the way. The observers live in `providers/<format>/passthrough.ts`.
 */

/** Reads one format's relayed stream: each upstream SSE block once, as it passes. */
export interface StreamObserver {
  readonly meter: PassthroughMeter;
  /** One upstream event block → the text to send on ('' to drop it). Throws on garbage or an in-band error that may still fail over. */
  readonly onBlock: (block: string) => string;
}

/** Reads one format's whole (non-streaming) answer: the body to send on and its usage. Throws on garbage. */
export type WholeReader = (text: string, provider: string) => { text: string; usage: PassthroughMeter['usage'] };

/**
 * A meter whose output text is worked out only when read (a relay that keeps blocks unparsed
 * until it knows it needs their text): `read` gives it.
 */
export class LazyOutputMeter implements PassthroughMeter {
  usage: PassthroughMeter['usage'] = undefined;
  firstTokenAt: number | undefined = undefined;
  done = false;
  failed = false;

  constructor(private readonly read: () => string) {}

  get output(): string {
    return this.read();
  }
}

export function newMeter(): PassthroughMeter {
  return { usage: undefined, firstTokenAt: undefined, done: false, failed: false, output: '' };
}

/** A whole answer relayed: read once; its first token is the moment the whole body arrived. */
export async function relayWhole(answer: Promise<string>, read: WholeReader, provider: string): ReturnType<Passthrough['whole']> {
  const raw = await answer;
  const meter = newMeter();
  meter.firstTokenAt = performance.now();
  const { text, usage } = read(raw, provider);
  meter.usage = usage;
  meter.done = true;
  return { text, meter };
}

/** A relayed stream with the observer's meter, once its first event has passed the observer. */
export async function relayStream(observer: StreamObserver, opened: Promise<RelayedStream>): Promise<PassthroughStream> {
  const s = await opened;
  return { meter: observer.meter, pipe: (sink, timeout) => s.pipe(sink, timeout) };
}
