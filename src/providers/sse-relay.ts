import { errors as undiciErrors } from 'undici';
import type { Dispatcher } from 'undici';
import { HubError, toHubError } from '../core/errors.js';
import type { Redactor } from '../core/redact.js';
import { dispatchOptions, listen, transportError, upstreamAgent } from './http.js';
import type { PostOptions } from './http.js';
import { SSESplitter } from './sse.js';

/**
 * An event that reports a failure: Anthropic's and the Responses API's `event: error`, the
 * Responses API's `response.failed`, or the same as a JSON `type` without an event line.
 */
const ERROR_EVENT = /^event:[ \t]*(?:error|response\.failed)\b|"type"\s*:\s*"(?:error|response\.failed)"/m;

import type { Sink } from '../core/model.js';
export type { Sink } from '../core/model.js';

export interface SSERelayOptions extends PostOptions {
  /** The provider's own error for a non-2xx answer. */
  readonly fail: (status: number, headers: Record<string, string | string[] | undefined>, text: string) => HubError;
  /** One upstream event block → the text to send on ('' to drop it). Throws on garbage or in-band errors. */
  readonly onBlock: (block: string) => string;
  /**
   * Called once the first event has passed `onBlock`, when the attempt can no longer fail over:
   * the sink to write to from then on, its headers sent. The first bytes then go out from the
   * data callback itself instead of after the promise chain back to the caller.
   */
  readonly open?: () => Sink;
  /**
   * The hub's upstream secrets. An event that reports an error (every format names it `error`)
   * is scrubbed of them before it is passed on, and so is the message of an error `onBlock`
   * throws; other events are passed on unscanned.
   */
  readonly redactor?: Redactor;
}

export interface RelayedStream {
  /**
   * Sends what the first event(s) turned into, then every later event the moment it arrives;
   * resolves when the upstream ends. A slow sink pauses the upstream (backpressure).
   */
  pipe(sink: Sink, timeout: { timedOut(): boolean; timeoutError(): HubError }): Promise<void>;
}

/**
 * The same-format stream relays (OpenAI chat, Anthropic messages, Responses): POSTs, and resolves
 * once the first whole event has been read — so garbage or an in-band error there can still fail
 * over — then pushes each later event through `onBlock` straight to the sink from undici's data
 * callback. No body stream and no async iterator sit between the two sockets: one chunk in is
 * one write out, with nothing queued on the way.
 */
export function openSSERelay(o: SSERelayOptions): Promise<RelayedStream> {
  return new Promise((resolveOpen, rejectOpen) => {
    let controller: Dispatcher.DispatchController | undefined;
    let status = 0;
    let headers: Record<string, string | string[] | undefined> = {};
    let isSSE = false;
    const other: Buffer[] = [];
    const splitter = new SSESplitter(o.provider);
    /** Text produced before a sink was attached. */
    let pending = '';
    let sink: Sink | undefined;
    let opened = false;
    let done = false;
    let failure: HubError | undefined;
    /** Set while the sink is full: the upstream is paused until it drains. */
    let draining = false;
    let piped: { resolve: () => void; reject: (e: HubError) => void; timeout: { timedOut(): boolean; timeoutError(): HubError } } | undefined;
    const off = listen(o.signal, () => controller?.abort(new undiciErrors.RequestAbortedError()));

    const relayed: RelayedStream = {
      pipe(s, timeout) {
        return new Promise((resolve, reject) => {
          sink = s;
          const head = pending;
          pending = '';
          if (head) emit(head);
          if (!draining) controller?.resume();
          if (failure) reject(timeout.timedOut() ? timeout.timeoutError() : failure);
          else if (done) resolve();
          else piped = { resolve, reject, timeout };
        });
      },
    };

    const emit = (text: string) => {
      if (!text) return;
      if (!sink) {
        // Nobody to write to yet: hold a little, then hold the upstream back.
        pending += text;
        if (pending.length > 65_536) controller?.pause();
        return;
      }
      if (!sink.write(text) && controller && !draining) {
        const c = controller;
        draining = true;
        c.pause();
        sink.once('drain', () => {
          draining = false;
          c.resume();
        });
      }
    };

    const fail = (e: HubError) => {
      if (done) return;
      done = true;
      off();
      if (!opened) {
        opened = true;
        return rejectOpen(e);
      }
      failure = e;
      if (piped) piped.reject(piped.timeout.timedOut() ? piped.timeout.timeoutError() : e);
    };

    const finish = () => {
      if (done) return;
      done = true;
      off();
      if (!opened) {
        opened = true;
        resolveOpen(relayed);
      } else piped?.resolve();
    };

    /**
     * Runs blocks through onBlock and sends what they turned into as one write (one chunk in, one
     * write out: a write per event would be a syscall per event); false once one of them failed
     * (what came before it is still sent).
     */
    const feed = (blocks: readonly string[]): boolean => {
      let out = '';
      for (const block of blocks) {
        let text: string;
        try {
          text = o.onBlock(block);
        } catch (err) {
          emit(out);
          controller?.abort(err as Error);
          // onBlock throws HubErrors for what the upstream sent; anything else is the hub's own bug.
          const e = toHubError(err);
          fail(o.redactor ? o.redactor.error(e) : e);
          return false;
        }
        if (o.redactor && text.includes('error') && ERROR_EVENT.test(text)) text = o.redactor.scrub(text);
        out += text;
      }
      emit(out);
      return true;
    };

    upstreamAgent(o.timeouts.connectMs).dispatch(dispatchOptions({ ...o, stream: true }), {
      onRequestStart(c) {
        controller = c;
        if (o.signal.aborted) c.abort(new undiciErrors.RequestAbortedError());
      },
      onResponseStart(_c, statusCode, h) {
        status = statusCode;
        headers = h;
        isSSE = statusCode >= 200 && statusCode < 300 && String(h['content-type'] ?? '').includes('text/event-stream');
      },
      onResponseData(_c, chunk) {
        if (done) return;
        if (!isSSE) {
          other.push(chunk);
          return;
        }
        let blocks: string[];
        try {
          blocks = splitter.push(chunk); // the splitter decodes UTF-8 across chunks itself
        } catch (err) {
          // An event that never ends: stop reading rather than hold it without bound.
          controller?.abort(err as Error);
          fail(toHubError(err));
          return;
        }
        if (!feed(blocks)) return;
        if (blocks.length && !opened) {
          opened = true;
          if (o.open) {
            sink = o.open();
            const head = pending;
            pending = '';
            emit(head);
          }
          resolveOpen(relayed);
        }
      },
      onResponseEnd() {
        if (done) return;
        if (status < 200 || status >= 300) return fail(o.fail(status, headers, Buffer.concat(other).toString('utf8')));
        if (!isSSE) return fail(new HubError('upstream', `Upstream ${o.provider} answered a streaming request without a stream`, { provider: o.provider }));
        const rest = splitter.rest();
        if (rest && !feed([rest])) return;
        finish();
      },
      onResponseError(_c, err) {
        fail(transportError(err, o.provider, status ? 'stream' : 'request'));
      },
    });
  });
}
