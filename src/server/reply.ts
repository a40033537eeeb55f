import type { ServerResponse } from 'node:http';
import type { Sink } from '../core/model.js';
import { runSent } from '../gateway/hooks.js';
import type { Hooked } from '../gateway/hooks.js';

/**
 * The response of one model request, as its handler writes it: everything the client gets goes
 * through here, so the `sent` hooks (body capture) see each piece without the ServerResponse
 * being patched, and the last byte waits for the call's record (`beforeEnd`), so a client never
 * sees a completed request whose record a crash could lose. It is the sink a relayed stream
 * writes to, from the transport's data callback.
 */
export class Reply implements Sink {
  private ending = false;

  constructor(
    readonly res: ServerResponse,
    /** The call's hooks when one of them has a `sent` stage; else undefined (nothing is tapped). */
    private readonly sent: Hooked | undefined,
    /** Runs `then` once the call is recorded (journaled): the last byte goes out after it. */
    private readonly beforeEnd: (then: () => void) => void,
  ) {}

  get headersSent(): boolean {
    return this.res.headersSent;
  }

  /** Whether the response has ended (or is about to, once its record is journaled). */
  get ended(): boolean {
    return this.ending || this.res.writableEnded;
  }

  head(status: number, headers: Record<string, string>): void {
    this.res.writeHead(status, headers);
  }

  write(text: string): boolean {
    if (this.sent) runSent(this.sent, text);
    return this.res.write(text);
  }

  once(event: 'drain', fn: () => void): unknown {
    return this.res.once(event, fn);
  }

  /**
   * Writes, waiting when the client reads slower than the upstream writes, so a slow client
   * cannot make the hub buffer a whole stream. Resolves early if the client goes away.
   */
  send(text: string): Promise<void> | undefined {
    if (this.write(text)) return undefined;
    const res = this.res;
    return new Promise((resolve) => {
      const done = () => {
        res.off('drain', done);
        res.off('close', done);
        resolve();
      };
      res.on('drain', done);
      res.on('close', done);
    });
  }

  /** Ends the response (once): the last piece goes out when the call's record is journaled. */
  end(text?: string): void {
    if (this.ending) return;
    this.ending = true;
    if (text && this.sent) runSent(this.sent, text);
    this.beforeEnd(() => (text === undefined ? this.res.end() : this.res.end(text)));
  }

  /** A whole body (JSON unless the headers say otherwise), unless something was sent already. */
  raw(status: number, body: string, headers: Record<string, string> = {}): void {
    if (this.res.headersSent) return;
    this.head(status, { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)), ...headers });
    this.end(body);
  }

  json(status: number, body: unknown, headers: Record<string, string> = {}): void {
    this.raw(status, JSON.stringify(body), headers);
  }
}
